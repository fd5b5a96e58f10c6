"""PseudoLabelIterator: retrain an embedder over stages with pseudo-labels and external clips."""

import inspect
import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils import Bunch, check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._external import check_external_pool, select_external
from ._kmeans import kmeans_pseudo_labels
from ._labels import is_absent


def _default_embedder():
    from ..embedding import MultiBranchEmbedder

    return MultiBranchEmbedder(triplet=True)


class PseudoLabelIterator(TransformerMixin, BaseEstimator):
    """Train an embedder over stages, relabelling the clips with k-means pseudo-labels and adding external clips.

    Kuroyanagi et al., Section 4.3. Stage 1 trains ``embedder`` on the
    original clips, labelled with their machine type (and attribute, where
    one is known). Each later stage uses the previous stage's model to

    - assign pseudo-labels (``pseudo_labels=True``): k-means on the
      embeddings per machine type and domain
      (:func:`~skasd.pseudo_labels.kmeans_pseudo_labels`; without
      ``domain``, every clip is a source clip), and
    - select pseudo-anomalous external clips (``external=True`` and an
      external pool given to ``fit``): each machine type's model is a
      :class:`~skasd.KMeansCosineScorer` on its training embeddings; external
      clips scoring below the highest training score are candidates, the
      ``n_max`` lowest are added under the label ``<machine>_<external class>``
      (:func:`~skasd.pseudo_labels.select_external`),

    then retrains a fresh clone of ``embedder`` from scratch on the result.
    ``transform`` gives the last stage's embeddings; score them with any
    skasd scorer fitted on the *original* training clips' embeddings (one per
    machine type, e.g. ``KMeansCosineScorer``, the paper's inference), never
    on external clips.

    Parameters
    ----------
    embedder : estimator, default=None
        The embedder trained at every stage (cloned each time); its ``fit``
        takes the labels as ``y`` and, if it accepts it, ``machine``. None:
        ``MultiBranchEmbedder(triplet=True)``, the paper's ``L_mlt``
        training.
    n_stages : int, default=3
        Number of training stages, at least 1.
    pseudo_labels : bool, default=True
        Relabel the clips with k-means pseudo-labels from stage 2 on.
    external : bool, default=True
        Add selected external clips from stage 2 on (when ``fit`` gets a pool).
    n_clusters_source, n_clusters_target : int, default=16, 4
        k-means clusters per machine type in the source and target domain.
    n_max : int, default=1000
        Most external clips added per machine type and stage.
    random_state : int, RandomState instance or None, default=None
        Seeds the embedder of each stage (when it has ``random_state``) and k-means.
    verbose : int, default=0
        Prints one line per stage when > 0 (the embedder has its own ``verbose``).

    Attributes
    ----------
    stages_ : list of Bunch
        One per stage: ``stage``, ``labels`` (of the original clips),
        ``external`` (DataFrame of the selected external clips: index,
        machine, score, threshold, label; empty at stage 1), ``embedder`` (the
        fitted embedder) and ``history`` (its skorch history, if any).
    embedder_ : estimator
        The last stage's fitted embedder.
    n_features_in_ : int
        Clip length seen in ``fit``.

    References
    ----------
    Kuroyanagi et al., "Pseudo-anomalous set selection and pseudo-label
    utilization under unlabeled conditions", Section 4
    (``../shared/papers/001_345199ea813b8be2.txt``).
    """

    _parameter_constraints: dict = {
        "embedder": [HasMethods(["fit", "transform"]), None],
        "n_stages": [Interval(Integral, 1, None, closed="left")],
        "pseudo_labels": ["boolean"],
        "external": ["boolean"],
        "n_clusters_source": [Interval(Integral, 1, None, closed="left")],
        "n_clusters_target": [Interval(Integral, 1, None, closed="left")],
        "n_max": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        embedder=None,
        *,
        n_stages=3,
        pseudo_labels=True,
        external=True,
        n_clusters_source=16,
        n_clusters_target=4,
        n_max=1000,
        random_state=None,
        verbose=0,
    ):
        self.embedder = embedder
        self.n_stages = n_stages
        self.pseudo_labels = pseudo_labels
        self.external = external
        self.n_clusters_source = n_clusters_source
        self.n_clusters_target = n_clusters_target
        self.n_max = n_max
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(
        self, X, y=None, *, domain=None, attributes=None, X_external=None, external_class=None, external_sample_rate=None,
        noise=None,
    ):
        """Train the stages.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Normal training waveforms.
        y : array-like of shape (n_clips,)
            Machine type of each clip; required, as a classifier's ``y``:
            the embedder learns to tell the machine types apart.
        domain : array-like of shape (n_clips,), default=None
            ``"source"`` or ``"target"`` per clip (k-means runs per machine
            type and domain). None: every clip is a source clip, so k-means
            finds ``n_clusters_source`` clusters among all clips of each
            machine type and ``n_clusters_target`` is unused (a
            ``UserWarning`` says so when it was set to another value than
            its default and k-means runs).
        attributes : array-like of shape (n_clips,), default=None
            Known attribute of each clip, empty or None where unknown.
        X_external : array-like of shape (n_external, n_samples), default=None
            The external pool, at the same sample rate and clip length as ``X``.
        external_class : array-like of shape (n_external,), default=None
            Class of each external clip (e.g. its machine type), for the labels.
        external_sample_rate : int, default=None
            Sample rate of the external pool; None means the embedder's
            ``sample_rate``. A different rate is refused: resample first.
        noise : array-like of shape (n_noise, n_samples), default=None
            Recordings of background noise alone (e.g. the DCASE 2025
            supplemental clips of kind ``"noise"``), given to every stage's
            embedder ``fit`` (``noise=``, :class:`~skasd.MultiBranchEmbedder`
            mixes them into its training batches); an embedder whose ``fit``
            takes no ``noise`` is refused.

        Returns
        -------
        self : PseudoLabelIterator
        """
        X = validate_data(self, X, dtype=np.float32)
        if y is None:
            raise ValueError(
                "PseudoLabelIterator requires y to be passed, but the target y is None: fit needs the "
                "machine type of each clip."
            )
        if domain is None:
            self._warn_without_domain()
            domain = np.full(len(X), "source")
        machine = np.asarray(y).astype(str)
        domain = np.asarray(domain)
        if machine.shape != (len(X),) or domain.shape != (len(X),):
            raise ValueError(f"y and domain must hold one value per clip ({len(X)}).")
        embedder = _default_embedder() if self.embedder is None else self.embedder
        if noise is not None and "noise" not in inspect.signature(embedder.fit).parameters:
            raise ValueError(
                f"noise was given, but the embedder {type(embedder).__name__} takes no noise clips in fit."
            )
        if X_external is not None:
            sample_rate = embedder.get_params().get("sample_rate", 16000)
            X_external = check_external_pool(
                X_external,
                external_sample_rate=sample_rate if external_sample_rate is None else external_sample_rate,
                sample_rate=sample_rate,
                n_samples=X.shape[1],
            ).astype(np.float32, copy=False)
        base_labels = machine.astype(object)
        if attributes is not None:
            attributes = np.asarray(attributes, dtype=object)
            known = np.array([not is_absent(value) for value in attributes])
            base_labels[known] = [f"{m}_{str(a).strip()}" for m, a in zip(machine[known], attributes[known], strict=True)]
        base_labels = base_labels.astype(str)
        rng = check_random_state(self.random_state)
        self.stages_ = []
        previous, labels = None, base_labels
        for stage in range(1, self.n_stages + 1):
            selected = _no_external()
            if previous is not None:
                embeddings = previous.transform(X)
                if self.pseudo_labels:
                    labels = kmeans_pseudo_labels(
                        embeddings, machine, domain, attributes=attributes,
                        n_clusters_source=self.n_clusters_source, n_clusters_target=self.n_clusters_target,
                        random_state=rng.randint(np.iinfo(np.int32).max),
                    ).astype(str)
                if self.external and X_external is not None:
                    selected = self._select(embeddings, machine, domain, previous.transform(X_external), external_class)
            X_stage = np.concatenate([X, X_external[selected["external_index"].to_numpy()]]) if len(selected) else X
            y_stage = np.concatenate([labels, selected["label"].to_numpy(dtype=str)])
            machine_stage = np.concatenate([machine, selected["machine"].to_numpy(dtype=str)])
            model = clone(embedder)
            if "random_state" in model.get_params():
                model.set_params(random_state=rng.randint(np.iinfo(np.int32).max))
            fit_params = {"machine": machine_stage} if "machine" in inspect.signature(model.fit).parameters else {}
            if noise is not None:
                fit_params["noise"] = noise
            model.fit(X_stage, y_stage, **fit_params)
            net = getattr(model, "net_", None)
            self.stages_.append(
                Bunch(stage=stage, labels=labels, external=selected, embedder=model,
                      history=getattr(net, "history", None))
            )
            if self.verbose:
                print(
                    f"[PseudoLabelIterator] stage {stage}/{self.n_stages}: {len(np.unique(y_stage))} classes, "
                    f"{len(selected)} external clips",
                    flush=True,
                )
            previous = model
        self.embedder_ = previous
        return self

    def _warn_without_domain(self):
        """Warn when, with every clip a source clip, a setting of the user's has no effect."""
        default = inspect.signature(type(self).__init__).parameters["n_clusters_target"].default
        if self.pseudo_labels and self.n_stages > 1 and self.n_clusters_target != default:
            warnings.warn(
                f"No domain was given to {type(self).__name__}.fit: all clips are taken as one "
                "domain (source), so the k-means pseudo-labels are n_clusters_source="
                f"{self.n_clusters_source} clusters per machine type and n_clusters_target="
                f"{self.n_clusters_target} has no effect. Pass domain=... ('source' or 'target' "
                "per clip) to cluster the target clips apart.",
                UserWarning,
                stacklevel=4,
            )

    def _select(self, embeddings, machine, domain, external_embeddings, external_class):
        """Score the pool with one KMeansCosineScorer per machine type and select (Section 4.1)."""
        from ..scoring import KMeansCosineScorer

        train_scores = np.empty(len(embeddings))
        external_scores = {}
        for machine_type in np.unique(machine):
            rows = machine == machine_type
            scorer = KMeansCosineScorer(n_clusters=self.n_clusters_source, random_state=0)
            scorer.fit(embeddings[rows], domain=domain[rows])
            train_scores[rows] = scorer.anomaly_score(embeddings[rows])
            external_scores[machine_type] = scorer.anomaly_score(external_embeddings)
        return select_external(
            train_scores, machine, external_scores, external_class=external_class, n_max=self.n_max
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # transform gives the embedder's embeddings, in the embedder's dtype (float32 for skasd's).
        embedder = _default_embedder() if self.embedder is None else self.embedder
        inner = get_tags(embedder).transformer_tags
        if inner is not None:
            tags.transformer_tags.preserves_dtype = list(inner.preserves_dtype)
        return tags

    def transform(self, X):
        """Embed clips with the last stage's embedder.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_embedding)
        """
        check_is_fitted(self)
        validate_data(self, X, dtype=np.float32, reset=False)
        return self.embedder_.transform(X)

    @available_if(lambda self: hasattr(self.embedder_, "_inference_module"))
    def _inference_module(self, n_samples=None):
        """The last stage's embedder as one torch module: waveforms to embeddings (for export)."""
        return self.embedder_._inference_module(n_samples)


def _no_external():
    return pd.DataFrame(
        {"external_index": np.zeros(0, dtype=np.int64), "machine": np.zeros(0, dtype=str),
         "score": np.zeros(0), "threshold": np.zeros(0), "label": np.zeros(0, dtype=str)}
    )
