"""Named pipelines (presets), fitting with the data set's metadata, one model per machine type and section.

The command line's ``--pipeline NAME`` and the Python API build the same
objects::

    from skasd.pipelines import make_preset
    model = make_preset("logmel-density", sample_rate=16000)   # a sklearn Pipeline

Every preset is a configuration (:mod:`skasd._config`): ``skasd pipelines
--show NAME`` prints it as TOML, a starting point for a configuration file
of one's own. Methods that learn from labels or metadata (the auxiliary
label ``machine|attributes``, the domain, the machine type) get them from
the data set's metadata frame through scikit-learn's metadata routing:
:func:`fit_pipeline` requests, on every step whose ``fit`` takes one of
:data:`METADATA`, that column, and passes it.
"""

import inspect
import time
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from ._config import ConfigError, build_pipeline, check_config
from .utils._rows import take_rows

__all__ = [
    "METADATA",
    "PRESETS",
    "fit_models",
    "fit_pipeline",
    "make_preset",
    "preset_config",
    "request_metadata",
    "score_models",
]

#: Columns of a metadata frame that :func:`fit_pipeline` passes to the
#: steps whose ``fit`` takes them.
METADATA = ("domain", "aux_label", "machine", "section", "attributes")

# -- the presets ----------------------------------------------------------------


def _step(estimator, **params):
    return {"estimator": estimator, "params": params} if params else {"estimator": estimator}


_SOUNDNET = _step("SoundNetEmbedder", layer="conv6")
_MULTIBRANCH = dict(
    branches=["stft_64ms", "stft_8ms", "spectrum"], embedding_dim=32, channels=[8, 16, 32], n_subclusters=4,
    batch_size=64, lr=2e-3, max_epochs=20,
)

#: ``{name: configuration}``; every configuration has a one-line ``description``.
PRESETS = {
    "logmel-knn": {
        "description": "log-mel statistics (mean and std of 128 bands) + cosine 1-NN distance: the plain baseline",
        "steps": [_step("LogMelStatistics"), _step("KNNScorer")],
    },
    "logmel-density": {
        "description": "log-mel statistics + local-density k-NN (distance over the neighbour's own density)",
        "steps": [_step("LogMelStatistics"), _step("LocalDensityKNNScorer")],
    },
    "logmel-max-density": {
        "description": "log-mel mean, std and max over time + local-density k-NN: for faults made of short events "
                       "(valves)",
        "steps": [_step("LogMelStatistics", statistics=["mean", "std", "max"]), _step("LocalDensityKNNScorer")],
    },
    "logmel-mahalanobis": {
        "description": "log-mel statistics + Mahalanobis distance (geometric median, Ledoit-Wolf covariance)",
        "steps": [_step("LogMelStatistics"), _step("MahalanobisScorer")],
    },
    "logmel-dads": {
        "description": "log-mel statistics + DADS-KNN (synthetic target references, domain from the metadata)",
        "steps": [_step("LogMelStatistics"), _step("DADSKNNScorer")],
    },
    "soundnet-density": {
        "description": "pretrained SoundNet conv6 features (no training) + local-density k-NN",
        "steps": [_SOUNDNET, _step("LocalDensityKNNScorer")],
    },
    "multibranch-kmeans": {
        "description": "MultiBranchEmbedder trained on machine|attributes (all types) + k-means cosine per section",
        "shared_embedding": "all",
        "steps": [_step("MultiBranchEmbedder", **_MULTIBRANCH), _step("KMeansCosineScorer", n_clusters=16)],
    },
    "scan": {
        "description": "ConfidentPairSCAN: contrastive learning on confident pairs, its own Mahalanobis score",
        "steps": [_step(
            "ConfidentPairSCAN", widths=[16, 32, 64], blocks=[1, 1, 1], projection_dims=[64, 32], batch_size=32,
            lr=3e-3, lr_cycle_epochs="None", max_epochs=30,
        )],
    },
    "dcase-ae": {
        "description": "the DCASE 2023-2025 baseline: dense autoencoder on 5 stacked log-mel frames, scored by its "
                       "reconstruction error (MSE)",
        "steps": [_step("DenseAutoencoderScorer")],
    },
    "dcase-ae-mahalanobis": {
        "description": "the DCASE baseline's autoencoder scored by selective Mahalanobis (the nearer of the source "
                       "and target error covariances; domain from the metadata)",
        "steps": [_step("DenseAutoencoderScorer", mode="selective_mahalanobis")],
    },
    "pseudo-label-iterator": {
        "description": "MultiBranchEmbedder retrained in 3 stages on k-means pseudo-labels (all types) + k-means",
        "y": "machine",
        "shared_embedding": "all",
        "steps": [
            {"estimator": "PseudoLabelIterator", "params": {
                "embedder": _step("MultiBranchEmbedder", **_MULTIBRANCH),
                "n_stages": 3, "n_clusters_source": 6, "n_clusters_target": 2,
            }},
            _step("KMeansCosineScorer", n_clusters=16),
        ],
    },
    "ward-dap": {
        "description": "ViT pre-trained (DAP), Ward pseudo-attributes, ArcFace fine-tuning (all types) + cosine 1-NN",
        "shared_embedding": "all",
        "steps": [
            {"estimator": "WardDAPEmbedder", "params": {
                "pretrainer": _step(
                    "MaskedTeacherStudentPretrainer", n_mels=64, patch_size=[8, 16], embed_dim=64, depth=3,
                    n_heads=4, batch_size=32, decoder_depth=2, block_size=2, ema_decay=0.99, ema_end_decay=0.999,
                    max_epochs=20, warmup_steps=10,
                ),
                "fine_tuner": _step(
                    "ViTArcFaceEmbedder", n_mels=64, patch_size=[8, 16], embed_dim=64, depth=3, n_heads=4,
                    batch_size=32, lr=1e-3, max_epochs=20, warmup_steps=10,
                ),
            }},
            _step("KNNScorer"),
        ],
    },
    "mean-ensemble": {
        "description": "mean of 3 standardised scores (ACPEnsemble, uniform weights): log-mel density, log-mel "
                       "Mahalanobis, SoundNet density",
        "steps": [{"estimator": "ACPEnsemble", "params": {
            "estimators": [
                {"name": "logmel_density", "steps": [_step("LogMelStatistics"), _step("LocalDensityKNNScorer")]},
                {"name": "logmel_mahalanobis", "steps": [_step("LogMelStatistics"), _step("MahalanobisScorer")]},
                {"name": "soundnet_density", "steps": [_SOUNDNET, _step("LocalDensityKNNScorer")]},
            ],
            "weighting": "uniform", "standardize": "fit", "cv": 5,
        }}],
    },
}


#: Former preset names, kept for one release: ``{old name: new name}``.
RENAMED_PRESETS = {
    # The preset averages its members: ACP's weight search needs anomalous clips, which fitting lacks.
    "acp-ensemble": "mean-ensemble",
}


def resolve_preset_name(name):
    """The current name of a preset, with a FutureWarning for a former one."""
    if name in RENAMED_PRESETS:
        new = RENAMED_PRESETS[name]
        warnings.warn(
            f"The pipeline {name!r} is now called {new!r} (its members' scores are averaged with uniform weights); "
            f"the name {name!r} will be removed in the next release.", FutureWarning, stacklevel=3,
        )
        return new
    return name


def preset_config(name):
    """The configuration (a dict) of a preset; a ValueError lists the valid names."""
    name = resolve_preset_name(name)
    if name not in PRESETS:
        raise ConfigError(f"unknown pipeline {name!r}; valid names: {', '.join(PRESETS)} (or a .toml/.yaml file).")
    return check_config(PRESETS[name], f"preset {name!r}")


def make_preset(name, *, sample_rate=16000, n_jobs=None, random_state=None, device=None, verbose=None):
    """A fresh, unfitted :class:`~sklearn.pipeline.Pipeline` of a preset.

    ``sample_rate``, ``n_jobs`` and ``random_state`` (and ``device`` and
    ``verbose`` when given) are set on every step that has the parameter.

    Examples
    --------
    >>> from skasd.pipelines import make_preset
    >>> [type(step).__name__ for step in make_preset("logmel-density")]
    ['LogMelStatistics', 'LocalDensityKNNScorer']
    """
    name = resolve_preset_name(name)
    return build_pipeline(
        preset_config(name), where=f"preset {name!r}",
        context=_context(sample_rate, n_jobs, random_state, device, verbose),
    )


def _context(sample_rate, n_jobs, random_state, device, verbose):
    context = {"sample_rate": sample_rate, "n_jobs": n_jobs, "random_state": random_state}
    if device is not None:
        context["device"] = device
    if verbose is not None:
        context["verbose"] = verbose
    return {key: value for key, value in context.items() if value is not None}


# -- fitting with metadata ------------------------------------------------------


def _children(estimator):
    """The estimators a composite routes fit metadata to (pipeline steps, ensemble members)."""
    if isinstance(estimator, Pipeline):
        return [step for _, step in estimator.steps if step not in (None, "passthrough")]
    for attribute in ("estimators", "transformer_list"):
        value = getattr(estimator, attribute, None)
        if isinstance(value, list) and value and all(isinstance(item, tuple) and len(item) >= 2 for item in value):
            return [item[1] for item in value if item[1] not in (None, "drop", "passthrough")]
    return []


def request_metadata(estimator, names=METADATA):
    """Request, on every step whose ``fit`` takes it, each of ``names`` (the columns of :data:`METADATA`); call under routing.

    Requests already set (True, False or an alias) are kept. Returns the
    set of names some step requests.
    """
    children = _children(estimator)
    if children:
        return set().union(*(request_metadata(child, names) for child in children))
    accepted = [name for name in names if name in inspect.signature(estimator.fit).parameters]
    if not accepted:
        return set()
    routing = estimator.get_metadata_routing()
    if not hasattr(routing, "fit"):
        # A meta-estimator that also consumes metadata itself
        # (DomainStandardizedScorer): its router says what it consumes.
        unset = [name for name in accepted if name not in routing.consumes("fit", accepted)]
        if unset:
            estimator.set_fit_request(**dict.fromkeys(unset, True))
        return set(estimator.get_metadata_routing().consumes("fit", accepted))
    requests = routing.fit.requests
    unset = {name: True for name in accepted if requests.get(name) is None}
    if unset:
        estimator.set_fit_request(**unset)
    requests = estimator.get_metadata_routing().fit.requests
    return {name for name in accepted if requests.get(name) is True}


def fit_pipeline(pipeline, X, frame, *, y=None, fit_params=None):
    """Fit a pipeline on clips, passing each step the metadata columns its ``fit`` takes.

    Parameters
    ----------
    pipeline : estimator
        A pipeline (or any estimator); fitted in place.
    X : array-like of shape (n_clips, ...)
        The clips (rows of ``frame``, in its order).
    frame : pandas.DataFrame
        Their metadata (``load_dcase(...).frame``): the columns of
        :data:`METADATA` that some step's ``fit`` takes are routed to it.
    y : str, default=None
        A column of ``frame`` given to ``fit`` as ``y`` (e.g. ``"machine"``
        for :class:`~skasd.PseudoLabelIterator`); None gives ``y=None``.
    fit_params : dict, default=None
        Further fit parameters that are no column of the clips (e.g. the
        external pool of :class:`~skasd.PseudoLabelIterator`, ``X_external``
        and ``external_class``), routed to every step whose ``fit`` takes
        them; one that no step takes is an error.

    Returns
    -------
    pipeline : estimator
        The fitted pipeline.
    """
    if len(frame) != len(X):
        raise ValueError(f"frame has {len(frame)} rows but X has {len(X)} clips.")
    fit_params = dict(fit_params or {})
    with sklearn.config_context(enable_metadata_routing=True):
        names = request_metadata(pipeline, METADATA + tuple(fit_params))
        unused = sorted(set(fit_params) - names)
        if unused:
            raise ValueError(f"fit_params {unused}: no step of the pipeline takes them in fit.")
        # A DCASE 2020 frame has no domains (all None): passed as not given,
        # the domain-aware steps take every clip as one domain, and say so.
        params = {
            name: frame[name].to_numpy() for name in sorted(names - set(fit_params))
            if not (name == "domain" and frame[name].isna().all())
        }
        params.update(fit_params)
        target = None if y is None else frame[y].to_numpy()
        return pipeline.fit(X, target, **params)


def _groups(frame):
    """The (machine, section) pairs of a frame, sorted."""
    return sorted(set(zip(frame["machine"].astype(str), frame["section"].astype(str))))


def _rows(frame, machine=None, section=None):
    rows = np.ones(len(frame), dtype=bool)
    if machine is not None:
        rows &= (frame["machine"].astype(str) == machine).to_numpy()
    if section is not None:
        rows &= (frame["section"].astype(str) == section).to_numpy()
    return rows


def fit_models(make_pipeline, X, frame, *, shared_embedding="none", y=None, fit_params=None, extra_classes=None,
               log=None):
    """One fitted pipeline per machine type and section of the training clips.

    Parameters
    ----------
    make_pipeline : callable
        Returns a fresh, unfitted pipeline (e.g. ``lambda: make_preset(name)``).
    X : array-like of shape (n_clips, n_samples)
        Training clips.
    frame : pandas.DataFrame
        Their metadata (``machine``, ``section`` and what the steps take).
    shared_embedding : {"none", "machine", "all"}, default="none"
        "none": the whole pipeline is fitted per machine type and section.
        "machine" or "all": the steps before the last (the embedding) are
        fitted once per machine type, or once on all clips; the last step
        (the scorer) per machine type and section, on that section's
        embeddings. Each model is then a pipeline of the shared, fitted
        embedding steps and its own scorer.
    y : str, default=None
        Frame column given to ``fit`` as ``y`` (see :func:`fit_pipeline`).
    fit_params : dict, default=None
        Further fit parameters of the pipeline (or, with a shared
        embedding, of its embedding steps), as :func:`fit_pipeline` takes
        them, given to every fit of it.
    extra_classes : tuple (X_extra, frame_extra), default=None
        Clips of further machine types that join every fit of the shared
        embedding steps, as further classes, and nothing else: no scorer is
        fitted on them and no model is returned for them (e.g.
        :func:`skasd.datasets.make_extra_classes`, at the length of ``X``).
        Their ``machine`` names must differ from those of ``frame``. Needs
        ``shared_embedding`` "machine" or "all". The embedding's fit then
        takes a copy of its training clips and these in memory, not views
        of ``X``.
    log : callable, default=None
        Called with a progress message (e.g. ``print``).

    Returns
    -------
    models : dict
        ``{(machine, section): fitted pipeline}``.
    """
    log = log or (lambda message: None)
    frame = frame.reset_index(drop=True)
    models = {}
    if extra_classes is not None:
        extra_classes = _check_extra_classes(extra_classes, X, frame, shared_embedding)
    if shared_embedding == "none":
        for machine, section in _groups(frame):
            rows = _rows(frame, machine, section)
            started = time.perf_counter()
            models[machine, section] = fit_pipeline(
                make_pipeline(), take_rows(X, rows), frame[rows], y=y, fit_params=fit_params
            )
            log(f"  {machine} section {section}: fitted on {rows.sum()} clips ({time.perf_counter() - started:.1f} s)")
        return models
    if shared_embedding not in ("machine", "all"):
        raise ValueError(f"shared_embedding must be 'none', 'machine' or 'all'; got {shared_embedding!r}.")
    embedding_groups = [None] if shared_embedding == "all" else sorted(set(frame["machine"].astype(str)))
    for group in embedding_groups:
        rows = _rows(frame, machine=group)
        template = make_pipeline()
        if not isinstance(template, Pipeline) or len(template.steps) < 2:
            raise ValueError(
                "shared_embedding needs a pipeline of at least two steps (embedding steps, then a scorer)."
            )
        started = time.perf_counter()
        X_group, frame_group = take_rows(X, rows), frame[rows]
        if extra_classes is not None:
            X_group = np.concatenate([X_group, extra_classes[0]])
            frame_group = pd.concat([frame_group, extra_classes[1]], ignore_index=True)
        embedder = fit_pipeline(template[:-1], X_group, frame_group, y=y, fit_params=fit_params)
        what = "all machine types" if group is None else group
        extra = "" if extra_classes is None else f" and {len(extra_classes[1])} clips of further classes"
        log(f"  embedding steps of {what}: fitted on {rows.sum()} clips{extra} "
            f"({time.perf_counter() - started:.1f} s)")
        scorer_name, scorer = template.steps[-1]
        for machine, section in _groups(frame[rows]):
            section_rows = _rows(frame, machine, section)
            started = time.perf_counter()
            embeddings = embedder.transform(take_rows(X, section_rows))
            fitted = fit_pipeline(clone(scorer), embeddings, frame[section_rows], y=y)
            models[machine, section] = Pipeline([*embedder.steps, (scorer_name, fitted)])
            log(f"  {machine} section {section}: scorer fitted on {section_rows.sum()} clips "
                f"({time.perf_counter() - started:.1f} s)")
    return models


def trains_a_classifier(estimator):
    """Whether an estimator, or one inside it, learns its embedding by telling auxiliary classes apart.

    True for :class:`~skasd.MultiBranchEmbedder`,
    :class:`~skasd.ViTArcFaceEmbedder` and the methods that train one
    (:class:`~skasd.PseudoLabelIterator`,
    :class:`~skasd.pseudo_labels.WardDAPEmbedder`), the estimator itself or
    any estimator among its parameters (``get_params(deep=True)``: a
    pipeline's steps, a method's embedder): those whose training gains from
    further classes (``fit_models(..., extra_classes=...)``).
    """
    from .embedding import MultiBranchEmbedder, ViTArcFaceEmbedder
    from .pseudo_labels import PseudoLabelIterator, WardDAPEmbedder

    classifiers = (MultiBranchEmbedder, ViTArcFaceEmbedder, PseudoLabelIterator, WardDAPEmbedder)
    if isinstance(estimator, classifiers):
        return True
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    return any(isinstance(value, classifiers) for value in params.values())


def _check_extra_classes(extra_classes, X, frame, shared_embedding):
    """``(X_extra, frame_extra)`` checked against the training clips, with the frame's index reset."""
    if shared_embedding not in ("machine", "all"):
        raise ValueError(
            "extra_classes join the training of a shared embedding: they need shared_embedding 'machine' or "
            f"'all'; got {shared_embedding!r}."
        )
    X_extra, frame_extra = extra_classes
    if len(X_extra) != len(frame_extra):
        raise ValueError(f"extra_classes holds {len(X_extra)} clips but {len(frame_extra)} frame rows.")
    if np.shape(X_extra)[1:] != np.shape(X)[1:]:
        raise ValueError(
            f"extra_classes' clips have {np.shape(X_extra)[1:]} samples, the training clips {np.shape(X)[1:]}: "
            "generate them at the training clips' length."
        )
    shared = sorted(set(frame["machine"].astype(str)) & set(frame_extra["machine"].astype(str)))
    if shared:
        raise ValueError(f"extra_classes' machine types must differ from the training clips'; both hold {shared}.")
    return X_extra, frame_extra.reset_index(drop=True)


def threshold(model):
    """The anomaly score above which ``model.predict`` calls a clip anomalous (``-offset_`` of its scorer)."""
    last = model[-1] if isinstance(model, Pipeline) else model
    offset = getattr(last, "offset_", None)
    return None if offset is None else -float(offset)


def score_models(models, X, frame, *, log=None, embeddings=False):
    """Anomaly scores and decisions of clips, each by the model of its machine type and section.

    Parameters
    ----------
    models : dict
        ``{(machine, section): fitted pipeline}`` (:func:`fit_models`).
    X : array-like of shape (n_clips, n_samples)
    frame : pandas.DataFrame
        ``machine`` and ``section`` of each clip.
    log : callable, default=None
        Called with a progress message.
    embeddings : bool, default=False
        Also return, per group, the output of the steps before the scorer
        (computed anyway; None for single-step models).

    Returns
    -------
    anomaly_score : ndarray of shape (n_clips,)
        Higher is more anomalous: ``-model.score_samples``.
    decision : ndarray of shape (n_clips,), dtype int
        1 where ``model.predict`` gives -1 (anomalous), else 0.
    group_embeddings : dict
        Only with ``embeddings=True``: ``{(machine, section): array or None}``.
    """
    log = log or (lambda message: None)
    frame = frame.reset_index(drop=True)
    anomaly_score = np.full(len(frame), np.nan)
    decision = np.zeros(len(frame), dtype=int)
    found = {}
    for machine, section in _groups(frame):
        rows = _rows(frame, machine, section)
        if (machine, section) not in models:
            known = ", ".join(f"{m} section {s}" for m, s in sorted(models))
            raise ValueError(
                f"no model for {machine} section {section} (no training clips of it); models: {known}."
            )
        model = models[machine, section]
        started = time.perf_counter()
        if isinstance(model, Pipeline) and len(model.steps) > 1:
            Z = model[:-1].transform(take_rows(X, rows))
            normality = model[-1].score_samples(Z)
            offset = model[-1].offset_
        else:
            Z = None
            normality = model.score_samples(take_rows(X, rows))
            offset = (model[-1] if isinstance(model, Pipeline) else model).offset_
        anomaly_score[rows] = -normality
        decision[rows] = (normality - offset < 0).astype(int)
        found[machine, section] = Z
        log(f"  {machine} section {section}: scored {rows.sum()} clips ({time.perf_counter() - started:.1f} s)")
    if embeddings:
        return anomaly_score, decision, found
    return anomaly_score, decision

