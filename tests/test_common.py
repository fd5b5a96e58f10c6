"""scikit-learn's estimator checks on every public skasd estimator."""

import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

import skasd
from skasd.utils.discovery import all_estimators


def _fixed_linear_frames():
    """A module of fixed weights for TorchModuleEmbedder: (batch, n) -> (batch, n, 4) frames."""
    linear = torch.nn.Linear(1, 4)
    with torch.no_grad():
        linear.weight.copy_(torch.linspace(-1.0, 1.0, 4)[:, None])
        linear.bias.fill_(0.1)
    return torch.nn.Sequential(torch.nn.Unflatten(1, (-1, 1)), linear)


# Further settings checked beside each estimator's defaults: the Euclidean
# metrics of the neighbour scorers accept every input the checks draw.
EXTRA_INSTANCES = [
    skasd.KNNScorer(metric="sqeuclidean"),
    skasd.LocalDensityKNNScorer(metric="mse", normalization="difference", density="gwrp", density_decay=0.5),
    # The checks draw clips of 1 to 20 samples, shorter than the default
    # branches' STFT windows: a spectrum-only network that takes any length.
    skasd.MultiBranchEmbedder(
        branches=("spectrum",), embedding_dim=4, channels=(2,), n_subclusters=2, batch_size=8, max_epochs=2,
        random_state=0, verbose=0,
    ),
    # conv1 takes clips of any length; the default layer (pool5) needs 3319 samples.
    skasd.SoundNetEmbedder(layer="conv1"),
    skasd.TorchModuleEmbedder(module_factory=_fixed_linear_frames),
    # 400 Hz (4-sample hops) and one-frame patches: trains on the checks' 1-20 sample clips.
    skasd.MaskedTeacherStudentPretrainer(
        sample_rate=400, n_mels=4, patch_size=(2, 1), embed_dim=8, depth=1, n_heads=2, decoder_depth=1,
        mask_ratio=0.5, n_masks=1, batch_size=8, max_epochs=2, warmup_steps=1, random_state=0, verbose=0,
    ),
    skasd.ViTArcFaceEmbedder(
        sample_rate=400, n_mels=4, patch_size=(2, 1), embed_dim=8, depth=1, n_heads=2, lr=1e-3, batch_size=8,
        max_epochs=2, warmup_steps=1, random_state=0, verbose=0,
    ),
    # One-sample hops and a two-channel encoder: trains on the checks' 1-20 sample clips.
    skasd.ConfidentPairSCAN(
        n_fft=16, hop_length=1, n_mels=4, widths=(2,), blocks=(1,), projection_dims=(4,), batch_size=32,
        drop_last=False, max_epochs=2, random_state=0, verbose=0,
    ),
    # WardDAPEmbedder with the one-frame-patch ViTs above as its stages.
    skasd.WardDAPEmbedder(
        pretrainer=skasd.MaskedTeacherStudentPretrainer(
            sample_rate=400, n_mels=4, patch_size=(2, 1), embed_dim=8, depth=1, n_heads=2, decoder_depth=1,
            mask_ratio=0.5, n_masks=1, batch_size=8, max_epochs=2, warmup_steps=1, random_state=0, verbose=0,
        ),
        fine_tuner=skasd.ViTArcFaceEmbedder(
            sample_rate=400, n_mels=4, patch_size=(2, 1), embed_dim=8, depth=1, n_heads=2, lr=1e-3, batch_size=8,
            max_epochs=2, warmup_steps=1, random_state=0, verbose=0,
        ),
        random_state=0, verbose=0,
    ),
    # ACPEnsemble has no default members: two cheap scorers that take the checks' features.
    skasd.ACPEnsemble(
        [("knn", skasd.KNNScorer(metric="sqeuclidean")), ("gauss", skasd.MahalanobisScorer())], n_iter=5,
    ),
]

_NOVELTY_DETECTOR = (
    "a novelty detector: predict on its own training clips finds each at distance 0 among the "
    "references, so all are inliers (as LocalOutlierFactor(novelty=True)); fit_predict gives "
    "leave-one-out labels instead, so it differs from fit(X).predict(X) on purpose (tested in "
    "tests/scoring/test_neighbors.py)"
)
_COSINE_ZERO_ROWS = (
    "the check draws integer rows, some all zero, for which the cosine distance is undefined "
    "(a clear ValueError, tested); the Euclidean metrics pass it"
)

# Checks an estimator is known to fail, with the reason, as imbalanced-learn
# lists them: {estimator class name: {check name: reason}}.
_NOVELTY_DETECTOR_CHECKS = {"check_outliers_train": _NOVELTY_DETECTOR, "check_outliers_fit_predict": _NOVELTY_DETECTOR}
# SMOTEKNNScorer and DADSKNNScorer: every check that fits, since the checks
# pass no domain. tests/scoring/test_synthesis.py runs these checks with
# domain supplied (test_estimator_checks_with_domain).
_NEEDS_DOMAIN_IN_FIT = dict.fromkeys(
    [
        "check_classifier_data_not_an_array",
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_dtype_object",
        "check_estimators_fit_returns_self",
        "check_estimators_nan_inf",
        "check_estimators_overwrite_params",
        "check_estimators_pickle",
        "check_estimators_pickle(readonly_memmap=True)",
        "check_f_contiguous_array_estimator",
        "check_fit2d_1feature",
        "check_fit2d_1sample",
        "check_fit2d_predict1d",
        "check_fit_check_is_fitted",
        "check_fit_idempotent",
        "check_fit_score_takes_y",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_outliers_fit_predict",
        "check_outliers_train",
        "check_outliers_train(readonly_memmap=True)",
        "check_pipeline_consistency",
        "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input",
    ],
    "fit needs the domain metadata ('source'/'target' per clip, to know which references to "
    "oversample): a clear ValueError without it, by design; the checks fit without it. The same "
    "checks run with domain supplied in tests/scoring/test_synthesis.py",
)
EXPECTED_FAILED_CHECKS = {
    "KNNScorer": _NOVELTY_DETECTOR_CHECKS,
    "LocalDensityKNNScorer": _NOVELTY_DETECTOR_CHECKS,
    "KMeansCosineScorer": {"check_estimators_dtypes": _COSINE_ZERO_ROWS},
    # These checks call predict / decision_function / score_samples with X
    # only. DomainStandardizedScorer standardises scores with the statistics
    # of the scored clips of each domain, so those methods need `domain` and
    # raise a ValueError naming it when it is missing: on purpose, so that a
    # caller that cannot pass it (a scikit-learn scorer) fails loudly rather
    # than silently getting unstandardised rankings. tests/scoring/test_baselines.py
    # runs these checks with domain supplied
    # (test_domain_standardized_estimator_checks_with_domain).
    "DomainStandardizedScorer": {
        **dict.fromkeys(
            [
                "check_estimators_dtypes",
                "check_dtype_object",
                "check_estimators_pickle",
                "check_estimators_pickle(readonly_memmap=True)",
                "check_f_contiguous_array_estimator",
                "check_outliers_fit_predict",
                "check_outliers_train",
                "check_outliers_train(readonly_memmap=True)",
                "check_classifier_data_not_an_array",
                "check_methods_sample_order_invariance",
                "check_dict_unchanged",
                "check_fit_idempotent",
            ],
            "scoring needs `domain` (the scores are standardised per domain with the scored clips' "
            "statistics); the check passes none",
        ),
        "check_methods_subset_invariance": (
            "a clip's score depends on the other clips of its domain scored with it (the method "
            "standardises with the test clips' statistics): not independent by design"
        ),
    },
    "SMOTEKNNScorer": _NEEDS_DOMAIN_IN_FIT,
    "DADSKNNScorer": _NEEDS_DOMAIN_IN_FIT,
}
_COSINE_ONLY_FAILED_CHECKS = {"check_estimators_dtypes": _COSINE_ZERO_ROWS}
# Every check that fits draws clips of 1 to 20 samples, shorter than the
# default branches' STFT windows (4096 samples for 256 ms at 16 kHz): a clear
# ValueError naming the clip length, by design (tested in
# tests/embedding/test_multibranch.py). The spectrum-only instance in EXTRA_INSTANCES
# accepts any length and passes every check.
_SHORT_CLIPS_FOR_VIT = (
    "the check's clips (1 to 20 samples) are shorter than one patch of the default ViT (16 frames of "
    "10 ms: 2400 samples at 16 kHz): a clear ValueError naming the minimum, by design (tested in "
    "tests/embedding/test_vit.py); the one-frame-patch instances in EXTRA_INSTANCES pass every check"
)
_CHECKS_THAT_FIT = (
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_dtype_object",
        "check_estimators_dtypes",
        "check_estimators_fit_returns_self",
        "check_estimators_nan_inf",
        "check_estimators_overwrite_params",
        "check_estimators_pickle",
        "check_estimators_pickle(readonly_memmap=True)",
        "check_f_contiguous_array_estimator",
        "check_fit2d_predict1d",
        "check_fit_check_is_fitted",
        "check_fit_idempotent",
        "check_fit_score_takes_y",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_pipeline_consistency",
        "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_general(readonly_memmap=True)",
        "check_transformer_preserve_dtypes",
)
_SHORT_CLIPS_FOR_STFT_BRANCHES = dict.fromkeys(
    _CHECKS_THAT_FIT,
    "the check's clips (1 to 20 samples) are shorter than the STFT windows of the default branches: "
    "a clear ValueError by design",
)
_FIT_WITHOUT_A_MODEL = (
    "TorchModuleEmbedder() has no model to run (module, module_factory or checkpoint): fit raises "
    "a ValueError saying so, by design (tested in tests/embedding/test_pretrained.py); the instance with a "
    "module_factory in EXTRA_INSTANCES passes every check"
)
_SHORT_CLIPS_FOR_SOUNDNET = (
    "the check's clips (1 to 20 samples) are shorter than the default layer pool5 needs (3319 "
    "samples at 16 kHz): a clear ValueError naming the minimum, by design; layer='conv1' in "
    "EXTRA_INSTANCES passes every check"
)
_FIT2D = ("check_fit2d_1sample", "check_fit2d_1feature")
# PseudoLabelIterator: fit needs `domain` (k-means runs per machine type and
# domain); tests/pseudo_labels/test_iterator.py tests fit, the stages and the
# errors with real clips and domains.
_ITERATOR_NEEDS_DOMAIN = (
    "fit needs the domain metadata (k-means pseudo-labels run per machine type and domain): a "
    "clear ValueError without it, by design; the checks pass none"
)
_SHORT_CLIPS_FOR_SCAN = (
    "the check's clips (1 to 20 samples) are shorter than one hop of the default log-mel "
    "(hop_length=1024): a clear ValueError naming the length, by design; the instance with "
    "hop_length=1 in EXTRA_INSTANCES passes every check"
)
_SCAN_OUTLIER_CHECKS = (
    "check_outliers_fit_predict",
    "check_outliers_train",
    "check_outliers_train(readonly_memmap=True)",
    "check_classifier_data_not_an_array",
)


# Estimators that cannot be built without arguments (ACPEnsemble needs its
# members) are checked through their EXTRA_INSTANCES only.
# WardDAPEmbedder's default stages are the CPU-sized ViTs whose patches need
# 2400 samples (see _SHORT_CLIPS_FOR_VIT): checked through its instance of
# one-frame-patch stages only, as imbalanced-learn checks instances built
# for the checks.
_NEEDS_ARGUMENTS = ("ACPEnsemble", "WardDAPEmbedder")


def _instances():
    return [cls() for name, cls in all_estimators() if name not in _NEEDS_ARGUMENTS] + EXTRA_INSTANCES


def _expected_failed_checks(estimator):
    failed = dict(EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {}))
    if getattr(estimator, "metric", None) == "cosine":
        failed.update(_COSINE_ONLY_FAILED_CHECKS)
    if any(str(branch).startswith("stft") for branch in getattr(estimator, "branches", ())):
        failed.update(_SHORT_CLIPS_FOR_STFT_BRANCHES)
    if isinstance(estimator, skasd.SoundNetEmbedder) and estimator.layer != "conv1":
        failed.update(dict.fromkeys(_CHECKS_THAT_FIT + _FIT2D, _SHORT_CLIPS_FOR_SOUNDNET))
    if isinstance(estimator, skasd.ConfidentPairSCAN) and estimator.hop_length > 1:
        failed.update(dict.fromkeys(_CHECKS_THAT_FIT + _SCAN_OUTLIER_CHECKS, _SHORT_CLIPS_FOR_SCAN))
    if isinstance(estimator, skasd.PseudoLabelIterator):
        failed.update(dict.fromkeys(_CHECKS_THAT_FIT + _FIT2D, _ITERATOR_NEEDS_DOMAIN))
    if isinstance(estimator, skasd.TorchModuleEmbedder) and estimator.module_factory is None:
        failed.update(dict.fromkeys(_CHECKS_THAT_FIT + _FIT2D, _FIT_WITHOUT_A_MODEL))
    if isinstance(estimator, (skasd.MaskedTeacherStudentPretrainer, skasd.ViTArcFaceEmbedder)) and (
        estimator.patch_size[1] > 1
    ):
        # ViTArcFaceEmbedder refuses the one-clip y first ("y holds 1 class"), which the check accepts.
        fit2d = ("check_fit2d_1sample",) if isinstance(estimator, skasd.MaskedTeacherStudentPretrainer) else ()
        failed.update(dict.fromkeys(_CHECKS_THAT_FIT + fit2d, _SHORT_CLIPS_FOR_VIT))
    return failed


@parametrize_with_checks(_instances(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_public_estimator_is_exported_at_top_level():
    names = {name for name, _ in all_estimators()}
    assert names, "no public estimator found"
    assert names <= set(skasd.__all__)
