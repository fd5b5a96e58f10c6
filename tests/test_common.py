"""scikit-learn's estimator checks on every public skasd estimator."""

import importlib.util
import inspect
import re

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import _num_samples

import skasd
from skasd.utils.discovery import all_estimators

# faiss-cpu (the ann and test extras) adds the HNSW settings of the neighbour scorers.
HAVE_FAISS = importlib.util.find_spec("faiss") is not None


def _fixed_linear_frames():
    """A module of fixed weights for TorchModuleEmbedder: (batch, n) -> (batch, n, 4) frames."""
    linear = torch.nn.Linear(1, 4)
    with torch.no_grad():
        linear.weight.copy_(torch.linspace(-1.0, 1.0, 4)[:, None])
        linear.bias.fill_(0.1)
    return torch.nn.Sequential(torch.nn.Unflatten(1, (-1, 1)), linear)


def _small_vit(cls, **params):
    """A ViT of one-frame patches at 400 Hz (4-sample hops): trains on the checks' 1-20 sample clips."""
    return cls(
        sample_rate=400, n_mels=4, patch_size=(2, 1), embed_dim=8, depth=1, n_heads=2, batch_size=8,
        max_epochs=2, warmup_steps=1, random_state=0, verbose=0, **params,
    )


def _spectrum_embedder(**params):
    """A spectrum-only MultiBranchEmbedder: takes clips of any length (the default STFT branches need 4096 samples)."""
    return skasd.MultiBranchEmbedder(
        branches=("spectrum",), embedding_dim=4, channels=(2,), n_subclusters=2, batch_size=8, max_epochs=2,
        random_state=0, verbose=0, **params,
    )


def _target_every_fifth(n_clips):
    """A domain for the checks' clips: every fifth clip (and the last) is a target clip."""
    index = np.arange(n_clips)
    return np.where((index % 5 == 4) | (index == n_clips - 1), "target", "source")


class _SMOTEWithDomain(skasd.SMOTEKNNScorer):
    """Supplies a domain where the checks pass none, so that they run the synthesis."""

    def fit(self, X, y=None, domain=None):
        return super().fit(X, y, domain=_target_every_fifth(_num_samples(X)) if domain is None else domain)


class _DADSWithDomain(skasd.DADSKNNScorer):
    """Supplies a domain where the checks pass none, so that they run the synthesis."""

    def fit(self, X, y=None, domain=None):
        return super().fit(X, y, domain=_target_every_fifth(_num_samples(X)) if domain is None else domain)


# The checks draw clips of 1 to 20 samples. Where an estimator's defaults
# cannot take them (each such refusal is a clear error, tested below in
# test_defaults_refuse_clips_too_short_for_them), the checks run on
# instances built for them instead, as imbalanced-learn's instance generator
# does: {class name: instances}.
CHECKED_INSTANCES = {
    # A spectrum-only network takes any length; the default STFT branches need 4096 samples.
    "MultiBranchEmbedder": [_spectrum_embedder()],
    # The spectrum-only embedder above, trained in two stages.
    "PseudoLabelIterator": [
        skasd.PseudoLabelIterator(_spectrum_embedder(), n_stages=2, n_clusters_source=1, random_state=0),
    ],
    # conv1 takes clips of any length; the default layer (pool5) needs 3319 samples.
    "SoundNetEmbedder": [skasd.SoundNetEmbedder(layer="conv1")],
    # The default has no model to run.
    "TorchModuleEmbedder": [skasd.TorchModuleEmbedder(module_factory=_fixed_linear_frames)],
    "MaskedTeacherStudentPretrainer": [
        _small_vit(skasd.MaskedTeacherStudentPretrainer, decoder_depth=1, mask_ratio=0.5, n_masks=1),
    ],
    "ViTArcFaceEmbedder": [_small_vit(skasd.ViTArcFaceEmbedder, lr=1e-3)],
    # One-sample hops and a two-channel encoder; the default hop is 1024 samples.
    "ConfidentPairSCAN": [
        skasd.ConfidentPairSCAN(
            n_fft=16, hop_length=1, n_mels=4, widths=(2,), blocks=(1,), projection_dims=(4,), batch_size=32,
            drop_last=False, max_epochs=2, random_state=0, verbose=0,
        ),
    ],
    # One-sample hops and two frames per window; the default needs 2048 samples (5 frames of 512-sample hops).
    "DenseAutoencoderScorer": [
        skasd.DenseAutoencoderScorer(
            n_fft=16, hop_length=1, n_mels=4, n_frames=2, hidden_units=(4,), bottleneck=2, batch_size=32,
            max_epochs=2, random_state=0,
        ),
    ],
    # The one-frame-patch ViTs above as its stages.
    "WardDAPEmbedder": [
        skasd.WardDAPEmbedder(
            pretrainer=_small_vit(skasd.MaskedTeacherStudentPretrainer, decoder_depth=1, mask_ratio=0.5, n_masks=1),
            fine_tuner=_small_vit(skasd.ViTArcFaceEmbedder, lr=1e-3),
            random_state=0, verbose=0,
        ),
    ],
    # ACPEnsemble has no default members: two cheap scorers that take the checks' features.
    "ACPEnsemble": [
        skasd.ACPEnsemble(
            [("knn", skasd.KNNScorer(metric="sqeuclidean")), ("gauss", skasd.MahalanobisScorer())], n_iter=5,
        ),
        skasd.ACPEnsemble(
            [
                ("knn", skasd.KNNScorer(metric="sqeuclidean", n_neighbors=2)),
                ("density", skasd.LocalDensityKNNScorer(metric="mse", n_neighbors=2)),
            ],
            standardize="fit", cv=2,
        ),
        skasd.ACPEnsemble(
            [("knn", skasd.KNNScorer(metric="sqeuclidean")), ("density", skasd.LocalDensityKNNScorer(metric="mse"))],
            standardize="fit", cv=2, novelty=False,
        ),
    ],
}

# Further settings checked beside each estimator's defaults.
EXTRA_INSTANCES = [
    # The Euclidean metrics of the neighbour scorers accept every input the
    # checks draw; with two neighbours, predict finds outliers among the
    # training clips (see _OWN_NEAREST_REFERENCE).
    skasd.KNNScorer(metric="sqeuclidean", n_neighbors=2),
    skasd.LocalDensityKNNScorer(metric="mse", normalization="difference", density="gwrp", density_decay=0.5),
    # novelty=False: fit_predict's leave-one-out labels, checked by check_outliers_fit_predict.
    skasd.KNNScorer(metric="sqeuclidean", novelty=False),
    skasd.LocalDensityKNNScorer(metric="sqeuclidean", novelty=False),
    skasd.KMeansCosineScorer(novelty=False),
    skasd.SMOTEKNNScorer(metric="sqeuclidean", novelty=False),
    skasd.DADSKNNScorer(metric="mse", novelty=False),
    # With target clips, the synthesis runs under the checks too.
    _SMOTEWithDomain(metric="sqeuclidean", n_neighbors=2),
    _DADSWithDomain(metric="mse", n_neighbors=2),
    _SMOTEWithDomain(),
    _DADSWithDomain(),
    skasd.WardPseudoAttributes(n_clusters=3),
    skasd.WardPseudoAttributes(selection="gap"),
]
if HAVE_FAISS:
    EXTRA_INSTANCES += [
        skasd.KNNScorer(algorithm="hnsw", n_neighbors=2, n_jobs=1),
        skasd.LocalDensityKNNScorer(metric="sqeuclidean", algorithm="hnsw", n_jobs=1),
    ]

_OWN_NEAREST_REFERENCE = (
    "with novelty=True and n_neighbors=1, every training clip is its own nearest reference, at distance "
    "0 (a normalised distance of 0 too, with the density ratio), so predict calls all of them inliers, "
    "while the check wants some outliers among them (as "
    "LocalOutlierFactor(novelty=True), a novelty detector scores new clips); novelty=False labels the "
    "training clips each without itself (check_outliers_fit_predict passes), and with n_neighbors=2 the "
    "check passes"
)
_COSINE_ZERO_ROWS = (
    "the check draws integer rows, some all zero, for which the cosine distance is undefined "
    "(a clear ValueError, tested in tests/scoring); the Euclidean metrics pass it"
)


# Every check an instance is known to fail, with the reason: the one list of
# expected failures of the project (pyproject's xfail_strict makes a stale
# entry fail). {class name: {check name: reason}}, plus the metric-dependent
# entry of _expected_failed_checks.
EXPECTED_FAILED_CHECKS = {
    "DomainStandardizedScorer": {
        "check_methods_subset_invariance": (
            "a clip's score depends on the other clips of its domain scored with it (the method "
            "standardises with the test clips' statistics): not independent by design"
        ),
    },
}


def _instances():
    defaults = [cls() for name, cls in all_estimators() if name not in CHECKED_INSTANCES]
    return defaults + [instance for instances in CHECKED_INSTANCES.values() for instance in instances] + EXTRA_INSTANCES


def _expected_failed_checks(estimator):
    failed = dict(EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {}))
    if getattr(estimator, "metric", None) == "cosine" or isinstance(estimator, skasd.KMeansCosineScorer):
        failed["check_estimators_dtypes"] = _COSINE_ZERO_ROWS
    if (
        isinstance(
            estimator, (skasd.KNNScorer, skasd.LocalDensityKNNScorer, skasd.SMOTEKNNScorer, skasd.DADSKNNScorer)
        )
        and estimator.novelty
        and estimator.n_neighbors == 1
        and getattr(estimator, "algorithm", "exact") == "exact"
        and getattr(estimator, "normalization", "ratio") == "ratio"
    ):
        failed.update(dict.fromkeys(["check_outliers_train", "check_outliers_train(readonly_memmap=True)"],
                                    _OWN_NEAREST_REFERENCE))
    return failed


# The checks pass no domain and draw few clips: the warnings that say so are expected.
@pytest.mark.filterwarnings("ignore:No domain was given to:UserWarning")
@pytest.mark.filterwarnings("ignore:.*fewer than synthesis_neighbors=:UserWarning")
@pytest.mark.filterwarnings("ignore:KMeansCosineScorer.*each is kept as its own centre:UserWarning")
@parametrize_with_checks(_instances(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_estimator_checked_through_its_own_instances_is_public():
    assert set(CHECKED_INSTANCES) <= {name for name, _ in all_estimators()}
    for name, instances in CHECKED_INSTANCES.items():
        assert {type(instance).__name__ for instance in instances} == {name}


_CLIPS_OF_20_SAMPLES = np.random.default_rng(0).normal(size=(8, 20)).astype(np.float32)


@pytest.mark.parametrize(
    "estimator, message",
    [
        *[
            (
                estimator,
                "Clips of 20 samples (n_features = 20) are too short for the branches ('stft_256ms', 'stft_8ms', "
                "'spectrum'): they need at least 4096 samples (the longest STFT window at sample_rate=16000); use "
                "longer clips or shorter windows.",
            )
            # PseudoLabelIterator's default embedder is MultiBranchEmbedder(triplet=True).
            for estimator in (skasd.MultiBranchEmbedder(), skasd.PseudoLabelIterator())
        ],
        (
            skasd.SoundNetEmbedder(),
            "X has clips of 20 samples, too short for SoundNet's layer='pool5': it needs clips of at least 3319 "
            "samples (0.2074 s at sample_rate=16000) to output one frame.",
        ),
        *[
            (
                cls(),
                "Clips of 20 samples (n_features = 20) give 1 log-mel frame(s) (10 ms hop at sample_rate=16000), "
                "fewer than one patch of patch_size[1]=16 frames: they need at least 2400 samples. Use longer "
                "clips or a smaller patch_size.",
            )
            for cls in (skasd.MaskedTeacherStudentPretrainer, skasd.ViTArcFaceEmbedder, skasd.WardDAPEmbedder)
        ],
        (
            skasd.ConfidentPairSCAN(),
            "Clips of 20 samples (n_features = 20) are too short for hop_length=1024: the log-mel needs at least "
            "two frames (n_samples >= hop_length), else it has no time axis to shift, mask or learn from; use "
            "longer clips or a shorter hop_length.",
        ),
        (
            skasd.DenseAutoencoderScorer(),
            "Clips of 20 samples (n_features = 20) give 1 log-mel frame(s) (hop_length=512), fewer than n_frames=5 "
            "frames per window: they need at least 2048 samples. Use longer clips, a shorter hop_length or a "
            "smaller n_frames.",
        ),
        (
            skasd.TorchModuleEmbedder(),
            "TorchModuleEmbedder needs a model: pass module (a torch.nn.Module), module_factory (a callable "
            "returning one) or weights (a TorchScript file).",
        ),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else "",
)
def test_defaults_refuse_clips_too_short_for_them(estimator, message):
    """The defaults that the checks cannot use refuse the checks' clips with a clear message, before training."""
    y = np.arange(len(_CLIPS_OF_20_SAMPLES)) % 2
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        estimator.fit(_CLIPS_OF_20_SAMPLES, y)

def test_every_public_estimator_is_exported_at_top_level():
    names = {name for name, _ in all_estimators()}
    assert names, "no public estimator found"
    assert names <= set(skasd.__all__)


# Former names of shared parameters, kept for one release with a FutureWarning.
_RENAMED_PARAMETERS = {"checkpoint": "weights", "checkpoint_key": "weights_key", "encoder": "weights",
                       "k_neighbors": "synthesis_neighbors"}


def test_shared_parameters_have_one_name_and_one_default():
    """verbose=0 (silent unless asked, as scikit-learn), device="auto", starting weights called weights."""
    for name, cls in all_estimators():
        parameters = inspect.signature(cls).parameters
        if "verbose" in parameters:
            assert parameters["verbose"].default == 0, name
        if "device" in parameters:
            assert parameters["device"].default == "auto", name
        for old, new in _RENAMED_PARAMETERS.items():
            if old in parameters:
                assert new in parameters, name
                assert parameters[old].default == "deprecated", name
