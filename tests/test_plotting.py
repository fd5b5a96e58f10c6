"""skasd.plotting: figures built without a display (Agg, no pyplot), their data checked."""

import re
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score, roc_curve

from skasd import (
    ACPEnsemble,
    ConfidentPairSCAN,
    KNNScorer,
    MahalanobisScorer,
    WardPseudoAttributes,
)
from skasd.metrics import partial_auc
from skasd.plotting import (
    plot_acp_history,
    plot_dendrogram,
    plot_embedding_2d,
    plot_roc,
    plot_scan_exclusion,
    plot_score_histograms,
    save_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _saved(fig, tmp_path, name):
    """The figure is a pyplot-free Figure and saves as a non-empty PNG."""
    assert isinstance(fig, Figure)
    assert fig.canvas.manager is None  # not registered with pyplot: no display involved
    path = save_figure(fig, tmp_path / "figures" / f"{name}.png")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    return path


def _lines(ax, prefix):
    gids = [(line.get_gid(), line) for line in ax.get_lines()]
    return {gid[len(prefix):]: line for gid, line in gids if gid is not None and gid.startswith(prefix)}


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60), np.ones(40)].astype(int)
    domain = np.r_[np.repeat(["source", "target"], [45, 15]), np.tile(["source", "target"], 20)]
    score = rng.normal(size=100) + 1.5 * y + 0.7 * ((domain == "target") & (y == 0))
    return y, score, domain


@pytest.fixture(scope="module")
def ward():
    rng = np.random.default_rng(0)
    X = np.repeat([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], 8, axis=0) + rng.normal(scale=0.5, size=(24, 2))
    return WardPseudoAttributes().fit(X, machine=["fan"] * 24), X


@pytest.fixture(scope="module")
def acp():
    rng = np.random.default_rng(0)
    X_dev = np.vstack([rng.normal(size=(30, 3)), rng.normal(1.5, 1, size=(15, 3))])
    y_dev = np.r_[np.zeros(30), np.ones(15)].astype(int)
    members = [("knn", KNNScorer()), ("gauss", MahalanobisScorer()), ("knn5", KNNScorer(n_neighbors=5))]
    ensemble = ACPEnsemble(members, scoring="auc", n_iter=40, random_state=0).fit(rng.normal(size=(60, 3)))
    return ensemble.search_weights(X_dev, y_dev)


@pytest.fixture(scope="module")
def scan():
    X = np.random.default_rng(0).normal(size=(40, 48)).astype("float32")
    X[:5] *= 6.0  # a few loud clips, the ones SCAN should exclude
    return ConfidentPairSCAN(
        n_fft=16, hop_length=1, n_mels=4, widths=(2,), blocks=(1,), projection_dims=(4,), batch_size=32,
        drop_last=False, max_epochs=2, balance_start="shift", random_state=0, verbose=0,
    ).fit(X)


# -- ROC ---------------------------------------------------------------------


def test_roc_curves_and_legend_match_sklearn(scores, tmp_path):
    y, score, domain = scores
    fig = plot_roc(y, score, domain, title="fan, section 00")
    _saved(fig, tmp_path, "roc")
    ax = fig.axes[0]
    curves = _lines(ax, "roc:")
    assert list(curves) == ["source", "target", "all clips"]
    masks = {"source": (domain == "source") | (y == 1), "target": (domain == "target") | (y == 1),
             "all clips": np.ones(len(y), bool)}
    legend = {text.get_text().split(" (")[0]: text.get_text() for text in ax.get_legend().get_texts()}
    for name, line in curves.items():
        fpr, tpr, _ = roc_curve(y[masks[name]], score[masks[name]])
        np.testing.assert_allclose(line.get_xdata(), fpr)
        np.testing.assert_allclose(line.get_ydata(), tpr)
        auc, pauc = map(float, re.findall(r"AUC ([0-9.]+)", legend[name]))
        assert auc == round(roc_auc_score(y[masks[name]], score[masks[name]]), 3)
        assert pauc == round(partial_auc(y[masks[name]], score[masks[name]], max_fpr=0.1), 3)
    # The FPR <= max_fpr band is shaded.
    (band,) = [p for p in ax.patches if p.get_label().startswith("FPR")]
    assert (band.get_x(), band.get_width()) == (0, 0.1)
    assert fig._suptitle.get_text() == "fan, section 00"


def test_roc_max_fpr_and_missing_domains(scores, tmp_path):
    y, score, domain = scores
    fig = plot_roc(y, score, domain, max_fpr=0.2)
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert legend[0].startswith("FPR \u2264 0.2")
    expected = round(partial_auc(y, score, max_fpr=0.2), 3)
    assert f"pAUC {expected:.3f}" in legend[-1]
    # No domain: one curve; a domain without normal clips: no curve for it.
    assert list(_lines(plot_roc(y, score, None).axes[0], "roc:")) == ["all clips"]
    only_source_normals = np.where(y == 0, "source", domain)
    assert list(_lines(plot_roc(y, score, only_source_normals).axes[0], "roc:")) == ["source", "all clips"]


def test_roc_errors(scores):
    y, score, domain = scores
    with pytest.raises(ValueError, match="Only one class"):
        plot_roc(np.zeros(100, int), score, domain)
    with pytest.raises(ValueError, match="y_true has 99 values but anomaly_score has 100"):
        plot_roc(y[:-1], score, domain)
    with pytest.raises(ValueError, match="domain has 99 values"):
        plot_roc(y, score, domain[:-1])
    with pytest.raises(ValueError, match="max_fpr"):
        plot_roc(y, score, domain, max_fpr=0)
    with pytest.raises(ValueError, match=r"1 \(anomalous\) and 0 \(normal\)"):
        plot_roc(y * 2, score, domain)
    with pytest.raises(ValueError, match="NaN"):
        plot_roc(y, np.where(y, np.nan, score), domain)


# -- histograms --------------------------------------------------------------


def test_histogram_counts_equal_numpy(scores, tmp_path):
    y, score, domain = scores
    fig = plot_score_histograms(y, score, domain, bins=12, threshold=1.25, title="scores")
    _saved(fig, tmp_path, "histograms")
    assert [ax.get_title() for ax in fig.axes] == ["source", "target"]
    edges = np.histogram_bin_edges(score, bins=12)
    for ax in fig.axes:
        in_domain = domain == ax.get_title()
        bars = {container[0].get_label().split(" (")[0]: container for container in ax.containers}
        assert list(bars) == ["normal", "anomalous"]
        for name, label in (("normal", 0), ("anomalous", 1)):
            expected, _ = np.histogram(score[in_domain & (y == label)], bins=edges)
            np.testing.assert_array_equal([bar.get_height() for bar in bars[name]], expected)
            np.testing.assert_allclose([bar.get_x() for bar in bars[name]], edges[:-1])
        threshold = [line for line in ax.get_lines() if line.get_label().startswith("threshold")]
        assert len(threshold) == 1 and np.allclose(threshold[0].get_xdata(), 1.25)


def test_histograms_without_labels_or_domain(scores, tmp_path):
    y, score, domain = scores
    fig = plot_score_histograms(None, score, domain)
    _saved(fig, tmp_path, "unlabelled")
    edges = np.histogram_bin_edges(score, bins=30)
    for ax in fig.axes:
        (container,) = ax.containers
        selected = score[domain == ax.get_title()]
        assert container[0].get_label() == f"all ({len(selected)})"
        np.testing.assert_array_equal([bar.get_height() for bar in container], np.histogram(selected, edges)[0])
    fig = plot_score_histograms(y.astype(bool), score, None)
    assert [ax.get_title() for ax in fig.axes] == ["all clips"]
    # One class only (e.g. the normal clips of a development split) is fine here.
    assert len(plot_score_histograms(np.zeros(100, int), score, domain).axes[0].containers) == 1


def test_histogram_errors(scores):
    y, score, domain = scores
    with pytest.raises(ValueError, match="y_true=None for clips without labels"):
        plot_score_histograms(np.where(y == 1, -1, 0), score, domain)
    with pytest.raises(ValueError, match="y_true has 99 values but anomaly_score has 100"):
        plot_score_histograms(y[:-1], score, domain)
    with pytest.raises(ValueError, match="domain has 3 values"):
        plot_score_histograms(y, score, domain[:3])
    with pytest.raises(ValueError, match="NaN or infinite"):
        plot_score_histograms(y, np.where(y, np.inf, score), domain)
    with pytest.raises(ValueError, match="threshold"):
        plot_score_histograms(y, score, domain, threshold=float("nan"))
    with pytest.raises(ValueError, match="bins"):
        plot_score_histograms(y, score, domain, bins=0)


# -- embeddings ----------------------------------------------------------------


def test_pca_projection_matches_sklearn(scores, tmp_path):
    y, _, domain = scores
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(100, 6)) @ np.diag([3, 2, 1, 1, 0.5, 0.1]) + y[:, None]
    attribute = np.array(["a", "b", None, "c"] * 25, dtype=object)
    fig = plot_embedding_2d(Z, domain=domain, attribute=attribute, label=y, title="embeddings")
    _saved(fig, tmp_path, "pca")
    assert [ax.get_title() for ax in fig.axes] == ["domain", "attribute", "label"]
    expected = PCA(n_components=2, random_state=0).fit_transform(Z)
    for ax in fig.axes:
        points = ax.collections[0].get_offsets()
        for j in range(2):  # equal up to the sign of each component
            sign = np.sign(points[:, j] @ expected[:, j])
            np.testing.assert_allclose(points[:, j], sign * expected[:, j], atol=1e-10)
    # Points of one category share one colour, and the legend counts them.
    colors = fig.axes[2].collections[0].get_facecolors()
    assert len(np.unique(colors[y == 1], axis=0)) == 1
    assert not np.allclose(colors[y == 1][0], colors[y == 0][0])
    legend = [text.get_text() for text in fig.axes[2].get_legend().get_texts()]
    assert legend == ["normal (60)", "anomalous (40)"]
    legend = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert legend == ["a (25)", "b (25)", "c (25)", "unknown (25)"]


def test_tsne_and_plain_projection(tmp_path):
    Z = np.random.default_rng(0).normal(size=(12, 5))
    fig = plot_embedding_2d(Z, label=[0] * 10 + [1] * 2, method="tsne")  # perplexity capped below 12
    _saved(fig, tmp_path, "tsne")
    assert fig.axes[0].collections[0].get_offsets().shape == (12, 2)
    assert fig.axes[0].get_xlabel() == "t-SNE 1"
    fig = plot_embedding_2d(Z)
    assert [ax.get_title() for ax in fig.axes] == ["embeddings"]


def test_embedding_errors():
    Z = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="method must be 'pca' or 'tsne'"):
        plot_embedding_2d(Z, method="umap")
    with pytest.raises(ValueError, match="domain has 9 values but embeddings has 10"):
        plot_embedding_2d(Z, domain=["source"] * 9)
    with pytest.raises(ValueError, match=r"embeddings needs at least 2 features.*\(10, 1\)"):
        plot_embedding_2d(Z[:, :1])
    with pytest.raises(ValueError, match="NaN"):
        plot_embedding_2d(np.where(Z > 1, np.nan, Z))


# -- fitted estimators ---------------------------------------------------------


def test_dendrogram_cut_between_merges(ward, tmp_path):
    ward, X = ward
    fig = plot_dendrogram(ward, "fan")
    _saved(fig, tmp_path, "dendrogram")
    k = ward.n_clusters_["fan"]
    assert k == 3
    heights = np.sort(ward.linkage_matrix("fan")[:, 2])
    n = len(heights) + 1
    (cut,) = _lines(fig.axes[0], "cut").values()
    height = cut.get_ydata()[0]
    assert heights[n - k - 1] < height < heights[n - k]
    assert cut.get_label() == "cut: 3 clusters"
    assert fig._suptitle.get_text() == "Ward dendrogram: fan"
    # A fixed number of clusters, a distance threshold, a truncated tree.
    four = WardPseudoAttributes(n_clusters=4).fit(X)
    height = _lines(plot_dendrogram(four).axes[0], "cut")[""].get_ydata()[0]
    assert heights[n - 5] < height < heights[n - 4]
    by_distance = WardPseudoAttributes(n_clusters=None, distance_threshold=5.0).fit(X)
    fig = plot_dendrogram(by_distance, truncate_level=2, title="cut at 5")
    assert _lines(fig.axes[0], "cut")[""].get_ydata()[0] == 5.0
    _saved(fig, tmp_path, "dendrogram_truncated")


def test_dendrogram_errors(ward):
    ward, X = ward
    with pytest.raises(NotFittedError):
        plot_dendrogram(WardPseudoAttributes())
    with pytest.raises(TypeError, match="expects a fitted WardPseudoAttributes"):
        plot_dendrogram(PCA())
    with pytest.raises(ValueError, match="'pump' has no dendrogram"):
        plot_dendrogram(ward, "pump")
    two = WardPseudoAttributes(n_clusters=2).fit(np.vstack([X, X]), machine=["fan"] * 24 + ["pump"] * 24)
    with pytest.raises(ValueError, match="machine is required"):
        plot_dendrogram(two)
    with pytest.raises(ValueError, match="truncate_level"):
        plot_dendrogram(ward, truncate_level=0)


def test_acp_history_lines_equal_history(acp, tmp_path):
    fig = plot_acp_history(acp, title="ACP")
    _saved(fig, tmp_path, "acp")
    left, right = fig.axes
    lines = _lines(left, "weight:")
    assert list(lines) == ["knn", "gauss", "knn5"]
    for m, line in enumerate(lines.values()):
        np.testing.assert_array_equal(line.get_xdata(), acp.history_["iteration"])
        np.testing.assert_allclose(line.get_ydata(), acp.history_["weights"][:, m])
    np.testing.assert_allclose(_lines(right, "best")[""].get_ydata(), acp.history_["score"])
    rejected, accepted = right.collections
    assert len(accepted.get_offsets()) == acp.history_["accepted"].sum()
    assert len(rejected.get_offsets()) == (~acp.history_["accepted"]).sum()
    assert right.get_ylabel() == "development score (auc)"


def test_acp_history_errors():
    members = [("knn", KNNScorer()), ("gauss", MahalanobisScorer())]
    with pytest.raises(NotFittedError):
        plot_acp_history(ACPEnsemble(members))
    fitted = ACPEnsemble(members).fit(np.random.default_rng(0).normal(size=(20, 2)))
    with pytest.raises(NotFittedError, match="search_weights"):
        plot_acp_history(fitted)
    with pytest.raises(TypeError, match="expects a fitted ACPEnsemble"):
        plot_acp_history(KNNScorer())


def test_scan_exclusion_fractions(scan, tmp_path):
    history = scan.confident_history_
    assert history.shape == (2, 40)
    anomalous = np.arange(40) < 5
    fig = plot_scan_exclusion(scan, anomalous=anomalous, title="SCAN")
    _saved(fig, tmp_path, "scan")
    lines = _lines(fig.axes[0], "")
    np.testing.assert_array_equal(lines["excluded"].get_xdata(), [1, 2])
    expected = [np.mean(row[row >= 0] == 0) for row in history]
    np.testing.assert_allclose(lines["excluded"].get_ydata(), expected)
    for epoch, row in enumerate(history):
        excluded = row == 0
        hits = np.count_nonzero(excluded & anomalous)
        if excluded.any():
            assert lines["precision"].get_ydata()[epoch] == pytest.approx(hits / excluded.sum())
        assert lines["recall"].get_ydata()[epoch] == pytest.approx(hits / np.count_nonzero(anomalous & (row >= 0)))


def test_scan_exclusion_unseen_clips_and_errors(scan):
    hand = np.array([[1, 0, -1, 1, 0], [-1, -1, -1, -1, -1], [0, 0, 1, 1, -1]], dtype=np.int8)
    crafted = ConfidentPairSCAN()
    crafted.confident_history_ = hand  # an epoch that saw no clip plots as a gap (NaN)
    line = _lines(plot_scan_exclusion(crafted).axes[0], "")["excluded"]
    np.testing.assert_allclose(line.get_ydata(), [2 / 4, np.nan, 2 / 4])
    with pytest.raises(ValueError, match="anomalous has 3 values"):
        plot_scan_exclusion(scan, anomalous=[True, False, True])
    with pytest.raises(ValueError, match="anomalous must hold"):
        plot_scan_exclusion(scan, anomalous=np.full(40, 2))
    with pytest.raises(NotFittedError):
        plot_scan_exclusion(ConfidentPairSCAN())
    with pytest.raises(TypeError, match="expects a fitted ConfidentPairSCAN"):
        plot_scan_exclusion(KNNScorer())


# -- headless, saving, missing matplotlib ----------------------------------------


def test_no_pyplot_needed(monkeypatch, scores, ward, acp, scan, tmp_path):
    """Every figure is built and saved with pyplot unimportable: no display, no global state."""
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    y, score, domain = scores
    figures = [
        plot_roc(y, score, domain),
        plot_score_histograms(y, score, domain),
        plot_embedding_2d(np.c_[score, y], domain=domain),
        plot_dendrogram(ward[0]),
        plot_acp_history(acp),
        plot_scan_exclusion(scan),
    ]
    for i, fig in enumerate(figures):
        _saved(fig, tmp_path, f"headless_{i}")


def test_save_figure_creates_folders_and_closes_pyplot_figures(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "a" / "b" / "line")  # no suffix: PNG
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(TypeError, match="matplotlib Figure"):
        save_figure("not a figure", tmp_path / "x.png")


def test_missing_matplotlib_is_a_clear_import_error(monkeypatch, scores):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    y, score, domain = scores
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_roc(y, score, domain)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_embedding_2d(np.c_[score, y])
