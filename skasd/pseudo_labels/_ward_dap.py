"""Fang et al.'s embedder as one step: domain-adaptive pre-training, Ward pseudo-attributes, ArcFace fine-tuning."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ..embedding import MaskedTeacherStudentPretrainer, ViTArcFaceEmbedder
from ._ward import WardPseudoAttributes

__all__ = ["WardDAPEmbedder"]


def _vit_defaults(sample_rate, device):
    """A ViT small enough to train on a CPU (the sizes of benchmarks/bench_ward_dap.py)."""
    return {
        "n_mels": 64, "patch_size": (8, 16), "embed_dim": 64, "depth": 3, "n_heads": 4, "batch_size": 32,
        "sample_rate": sample_rate, "device": device,
    }


class WardDAPEmbedder(TransformerMixin, BaseEstimator):
    """Domain-adaptive pre-training, Ward pseudo-attributes, ArcFace fine-tuning: Fang et al.'s embedder as one step.

    ``fit`` runs the method's three stages on the same normal clips:

    1. ``pretrainer`` (a :class:`~skasd.MaskedTeacherStudentPretrainer`)
       is fitted, self-supervised;
    2. its embeddings (L2-normalised with ``normalize=True``) are clustered
       by ``ward`` (a :class:`~skasd.WardPseudoAttributes`) per machine
       type: machine types whose clips carry attributes keep them
       (``machine|attributes``), the others get pseudo-attributes;
    3. ``fine_tuner`` (a :class:`~skasd.ViTArcFaceEmbedder`) starts from the
       pre-trained encoder and learns to classify those labels.

    ``transform`` gives the fine-tuned embeddings, for any skasd scorer
    (the paper: k-NN, :class:`~skasd.KNNScorer`).

    Parameters
    ----------
    pretrainer : MaskedTeacherStudentPretrainer, default=None
        None: a CPU-sized one (64 mel bands, 8 x 16 patches, width 64,
        3 blocks, 20 epochs).
    fine_tuner : ViTArcFaceEmbedder, default=None
        Its ``weights`` are replaced by the fitted pre-trainer. None: a
        CPU-sized one (20 epochs, lr 1e-3).
    ward : WardPseudoAttributes, default=None
        None: ``WardPseudoAttributes()`` (number of clusters chosen by
        silhouette per machine type).
    normalize : bool, default=True
        Cluster the directions of the embeddings (what the cosine k-NN
        back-end compares).
    use_attributes : bool, default=True
        False: ignore the given attributes, so that every machine type gets
        pseudo-attributes.
    sample_rate : int, default=16000
        Of the default pre-trainer and fine-tuner.
    device : str, default="auto"
        Of the default pre-trainer and fine-tuner.
    random_state : int, RandomState instance or None, default=None
        Seeds the pre-trainer and the fine-tuner whose ``random_state`` is None.
    verbose : int, default=0
        Of the default pre-trainer and fine-tuner; >0 also prints the
        pseudo-attributes found.

    Attributes
    ----------
    pretrainer_, ward_, fine_tuner_ : estimators
        The fitted stages.
    labels_ : ndarray of shape (n_clips,)
        The labels the fine-tuner learned.
    n_features_in_ : int
        Clip length in samples seen in ``fit``.

    References
    ----------
    X. Fang et al., "Improving anomalous sound detection with
    attribute-aware representation from domain-adaptive pre-training",
    Sections 2.3-2.5.
    """

    _parameter_constraints: dict = {
        "pretrainer": [HasMethods(["fit", "transform"]), None],
        "fine_tuner": [HasMethods(["fit", "transform", "set_params"]), None],
        "ward": [HasMethods(["fit_predict"]), None],
        "normalize": ["boolean"],
        "use_attributes": ["boolean"],
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        pretrainer=None,
        fine_tuner=None,
        ward=None,
        normalize=True,
        use_attributes=True,
        sample_rate=16000,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.pretrainer = pretrainer
        self.fine_tuner = fine_tuner
        self.ward = ward
        self.normalize = normalize
        self.use_attributes = use_attributes
        self.sample_rate = sample_rate
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _stage(self, estimator, default, rng):
        estimator = default() if estimator is None else clone(estimator)
        if estimator.get_params().get("random_state", 0) is None:
            estimator.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
        return estimator

    # The stages are validated by their own fit.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, *, machine=None, attributes=None):
        """Pre-train, cluster, fine-tune.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Normal training waveforms.
        y : None
            Ignored: the labels come from ``attributes`` and the clustering.
        machine : array-like of shape (n_clips,), default=None
            Machine type of each clip (None: all one machine type).
        attributes : array-like of shape (n_clips,), default=None
            Attribute string of each clip, empty or None where unknown.

        Returns
        -------
        self : WardDAPEmbedder
        """
        X = validate_data(self, X, dtype=np.float32)
        rng = check_random_state(self.random_state)
        vit = _vit_defaults(self.sample_rate, self.device)
        pretrainer = self._stage(self.pretrainer, lambda: MaskedTeacherStudentPretrainer(
            **vit, decoder_depth=2, block_size=2, ema_decay=0.99, ema_end_decay=0.999, max_epochs=20,
            warmup_steps=10, verbose=self.verbose,
        ), rng)
        fine_tuner = self._stage(self.fine_tuner, lambda: ViTArcFaceEmbedder(
            **vit, lr=1e-3, max_epochs=20, warmup_steps=10, verbose=self.verbose,
        ), rng)
        self.pretrainer_ = pretrainer.fit(X)
        embeddings = self.pretrainer_.transform(X)
        if self.normalize:
            embeddings = normalize(embeddings)
        self.ward_ = WardPseudoAttributes() if self.ward is None else clone(self.ward)
        self.labels_ = np.asarray(self.ward_.fit_predict(
            embeddings, machine=machine, attributes=attributes if self.use_attributes else None,
        ), dtype=object)
        if self.verbose and self.ward_.n_clusters_:
            found = ", ".join(f"{m}: {k}" for m, k in self.ward_.n_clusters_.items())
            print(f"[WardDAPEmbedder] pseudo-attributes per machine type: {found}", flush=True)
        starting_weights = {"weights": self.pretrainer_}
        if "encoder" in fine_tuner.get_params(deep=False):  # the former name, replaced too (until 0.2)
            starting_weights["encoder"] = "deprecated"
        self.fine_tuner_ = fine_tuner.set_params(**starting_weights).fit(X, self.labels_)
        return self

    def transform(self, X):
        """Fine-tuned embeddings of clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_embedding)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self.fine_tuner_.transform(X)

    def _inference_module(self, n_samples=None):
        """The fine-tuned ViT as one torch module: waveforms to embeddings (for export)."""
        check_is_fitted(self)
        return self.fine_tuner_._inference_module(n_samples)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # the fine-tuned ViT's embeddings
        return tags
