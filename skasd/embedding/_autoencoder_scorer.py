"""DenseAutoencoderScorer: the DCASE 2023-2025 Task 2 autoencoder baseline as a scorer of clips."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ..features import LogMelSpectrogram
from ..scoring._base import BaseScorer
from ..scoring._domain import check_domain
from ..scoring._threshold import THRESHOLDS
from ..utils._torch import resolve_device, transform_with_trained_module
from ..utils._waveforms import pcm_as_float
from ._dense_autoencoder import DenseAutoencoder, ReconstructionNet
from ._training import TrainedEmbedderMixin

__all__ = [
    "DenseAutoencoderScorer",
    "selective_mahalanobis",
    "stack_frames",
]

MODES = ("mse", "selective_mahalanobis")

# Clips whose windows are reconstructed together in score_samples and fit's statistics pass.
_CLIPS_PER_PASS = 64


def stack_frames(log_mel, n_frames):
    """Windows of ``n_frames`` consecutive log-mel frames, each flattened frame by frame.

    Parameters
    ----------
    log_mel : ndarray of shape (n_clips, n_mels, n_time)
    n_frames : int

    Returns
    -------
    windows : ndarray of shape (n_clips, n_time - n_frames + 1, n_frames * n_mels)
        ``windows[c, w, t * n_mels + m] = log_mel[c, m, w + t]``: window
        ``w`` holds frames ``w`` to ``w + n_frames - 1`` (a hop of one
        frame), the mel bands of its first frame first.
    """
    n_clips, n_mels, _ = log_mel.shape
    views = np.lib.stride_tricks.sliding_window_view(log_mel, n_frames, axis=2)  # (clips, mels, windows, frames)
    return np.ascontiguousarray(views.transpose(0, 2, 3, 1)).reshape(n_clips, -1, n_frames * n_mels)


def selective_mahalanobis(mean_errors, source_precision, target_precision):
    """The smaller of each clip's two squared Mahalanobis norms: under the source and the target precision.

    Parameters
    ----------
    mean_errors : ndarray of shape (n_clips, n_mels)
        Each clip's mean reconstruction-error vector.
    source_precision, target_precision : ndarray of shape (n_mels, n_mels)
        Inverse covariances of the source and the target domain's errors.

    Returns
    -------
    distances : ndarray of shape (n_clips,), float64
        ``min(e S_s e^T, e S_t e^T)`` for each clip's ``e``.
    """
    e = np.asarray(mean_errors, dtype=np.float64)
    under = [np.einsum("ij,jk,ik->i", e, np.asarray(p, dtype=np.float64), e) for p in (source_precision, target_precision)]
    return np.minimum(*under)


class DenseAutoencoderScorer(TrainedEmbedderMixin, BaseScorer):
    """The DCASE 2023-2025 Task 2 autoencoder baseline: reconstruction error of stacked log-mel frames.

    One estimator from waveforms to anomaly scores, as the baseline is one
    system: its network is trained on, and scores, windows of log-mel
    frames that no other skasd step produces, and both its scores (the
    reconstruction error and the selective Mahalanobis distance) are
    statistics of the reconstruction errors of a clip's windows, not of one
    embedding per clip. So it is a scorer (``score_samples``,
    ``anomaly_score``, ``predict`` with scikit-learn's outlier signs) that
    trains its network through skorch as the embedders do, rather than an
    embedder followed by a scorer.

    1. **Front end.** Each clip's log-mel spectrogram
       (:class:`~skasd.LogMelSpectrogram`: ``n_fft``, ``hop_length``,
       ``n_mels``, power 2, ``10 log10`` of the mel power) is cut into
       windows of ``n_frames`` consecutive frames with a hop of one frame,
       each flattened to ``n_frames * n_mels`` values
       (:func:`stack_frames`): 309 windows of 640 values for a 10 s clip at
       16 kHz with the defaults.
    2. **Training.** A :class:`DenseAutoencoder` (linear, batch norm and
       ReLU layers ``640 -> 128 x 4 -> 8 -> 128 x 4 -> 640``) learns to
       reconstruct the windows of all training clips, shuffled, in batches
       of ``batch_size`` windows, minimising the mean squared error with
       Adam (``lr``; AdamW with ``weight_decay=0`` is Adam) for
       ``max_epochs`` epochs.
    3. **Scores.** A clip's window errors ``x - x_hat`` are split into
       their ``n_frames`` frames, giving ``n_windows * n_frames`` error
       vectors of ``n_mels`` values.

       - ``mode="mse"`` (the baseline's "simple autoencoder" mode): the
         mean of the squared errors over all of them, i.e. the mean over
         the clip's windows of each window's mean squared error.
       - ``mode="selective_mahalanobis"`` (its "selective Mahalanobis"
         mode): after training, the covariance of the training clips'
         error vectors is computed per domain (source and target, each
         centred on its own mean); a clip's score is ``min(e S_s e^T, e
         S_t e^T)``, where ``e`` is the mean of the clip's error vectors
         and ``S_s``, ``S_t`` the inverse covariances
         (:func:`selective_mahalanobis`). With target clips it is near to
         whichever domain's errors it resembles, without being told its
         domain at test time.

    ``score_samples`` is minus that score (higher is more normal).
    ``offset_`` comes from the training clips' scores (``contamination``,
    ``threshold``; ``threshold="gamma"`` with ``contamination=0.1`` is the
    baseline's decision threshold, the 0.9 quantile of a gamma distribution
    fitted to them).

    What follows the baseline's code and what does not (its repository,
    nttcslab/dcase2023_task2_baseline_ae; docs/autoencoder.md gives each
    setting's file):

    - The selective Mahalanobis score is computed as the baseline computes
      it: its ``mahalanobis`` function takes the ``(n, n)`` matrix ``D P
      D^T`` of a clip's ``n`` error vectors (the rows of ``D``) and
      averages all its entries, which is ``e P e^T`` with ``e`` the mean
      error vector: the squared Mahalanobis norm of the clip's mean error,
      not centred on the training errors' mean.
    - Its covariances are summed over training batches, each centred on the
      batch's mean, and divided by the number of windows less one (a
      fifth of the number of error vectors with the defaults); here each
      is the covariance of all the domain's error vectors (``numpy.cov``).
      Both scale every distance by about the same factor, which changes no
      ranking. A singular covariance (fewer target error vectors than
      ``n_mels``) is pseudo-inverted where the baseline's inverse fails.
    - Without target clips the baseline uses the source covariance for
      both; so does this estimator. Without ``domain`` every clip is a
      source clip (with a ``UserWarning`` when ``mode`` needs the domain):
      the selective Mahalanobis distance is then a single one.
    - The baseline holds out 10 % of the windows, at random, to print a
      validation loss and to fit its threshold; nothing stops early on it.
      Here every window trains the network.

    Parameters
    ----------
    mode : {"mse", "selective_mahalanobis"}, default="mse"
        The anomaly score, as the baseline's two testing modes (see above).
        Both come from the same trained network; the covariances are
        estimated in ``fit`` either way.
    sample_rate : int, default=16000
        Sample rate of the waveforms in Hz.
    n_fft : int, default=1024
        FFT size and Hann window of the log-mel front end.
    hop_length : int, default=512
        Hop of the front end in samples.
    n_mels : int, default=128
        Mel bands.
    n_frames : int, default=5
        Consecutive log-mel frames per window: the network's input has
        ``n_frames * n_mels`` values.
    hidden_units : tuple of int, default=(128, 128, 128, 128)
        Widths of the encoder's hidden layers; the decoder mirrors them.
    bottleneck : int, default=8
        Width of the code.
    contamination : float in (0, 0.5], default=0.1
        Fraction of the training clips ``predict`` calls anomalous.
    threshold : {"percentile", "gamma"}, default="percentile"
        How ``offset_`` comes from the training clips' scores: their
        empirical ``1 - contamination`` quantile, or that quantile of a
        gamma distribution fitted to them (the baseline's decision).
    lr : float, default=1e-3
        Learning rate of Adam.
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW); 0 is the baseline's plain Adam.
    batch_size : int, default=256
        Windows per training batch, at least 2 (batch norm); reduced to the
        number of windows when there are fewer. A last batch of a single
        window is dropped. Also the windows per batch of inference.
    max_epochs : int, default=100
        Training epochs.
    device : str, default="auto"
        Torch device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
    n_jobs : int or None, default=None
        joblib threads over batches of the front end and of inference on CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the order of the windows.
    verbose : int, default=0
        0: silent; 1: one line per epoch; 2: also a progress bar per epoch.

    Attributes
    ----------
    net_ : ReconstructionNet
        The fitted skorch net; ``net_.module_`` is the
        :class:`DenseAutoencoder`, ``net_.history`` the training history.
    n_windows_ : int
        Windows per clip of ``n_features_in_`` samples.
    source_covariance_ : ndarray of shape (n_mels, n_mels)
        Covariance of the source training clips' error vectors.
    target_covariance_ : ndarray of shape (n_mels, n_mels)
        That of the target training clips (the source one when ``fit`` had
        no target clip).
    source_precision_, target_precision_ : ndarray of shape (n_mels, n_mels)
        Their pseudo-inverses, computed once in ``fit``.
    n_target_ : int
        Target clips in ``fit``.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        Clip length in samples seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    LogMelSpectrogram : The front end.
    MahalanobisScorer : A Mahalanobis distance of embeddings to their centre.

    Notes
    -----
    ``domain`` reaches ``fit`` through scikit-learn's metadata routing: in a
    pipeline, ``scorer.set_fit_request(domain=True)`` and
    ``pipeline.fit(X, domain=domain)`` under
    ``sklearn.set_config(enable_metadata_routing=True)``
    (:func:`skasd.pipelines.fit_pipeline` does it). Scoring needs no domain.

    Training holds every window of the training clips in memory: 309
    windows of 640 float32 values (0.8 MB) per 10 s clip.

    References
    ----------
    .. [1] N. Harada, D. Niizumi, Y. Ohishi, D. Takeuchi and M. Yasuda,
       "First-shot anomaly sound detection for machine condition monitoring:
       A domain generalization baseline," in Proc. EUSIPCO, 2023.
    .. [2] K. Dohi, K. Imoto, N. Harada, D. Niizumi, Y. Koizumi, T. Nishida,
       H. Purohit, R. Tanabe, T. Endo and Y. Kawaguchi, "Description and
       discussion on DCASE 2023 Challenge Task 2: First-shot unsupervised
       anomalous sound detection for machine condition monitoring," in Proc.
       DCASE Workshop, 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from skasd import DenseAutoencoderScorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(12, 4000)).astype("float32")
    >>> domain = np.array(["source"] * 9 + ["target"] * 3)
    >>> ae = DenseAutoencoderScorer(
    ...     mode="selective_mahalanobis", n_fft=256, hop_length=128, n_mels=16, hidden_units=(32,),
    ...     bottleneck=4, max_epochs=2, random_state=0,
    ... ).fit(X, domain=domain)
    >>> ae.n_windows_, ae.source_covariance_.shape
    (28, (16, 16))
    >>> ae.anomaly_score(X).shape
    (12,)
    """

    _parameter_constraints: dict = {
        **BaseScorer._parameter_constraints,
        "mode": [StrOptions(set(MODES))],
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 1, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "n_frames": [Interval(Integral, 1, None, closed="left")],
        "hidden_units": [tuple, list],
        "bottleneck": [Interval(Integral, 1, None, closed="left")],
        "threshold": [StrOptions(set(THRESHOLDS))],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        mode="mse",
        sample_rate=16000,
        n_fft=1024,
        hop_length=512,
        n_mels=128,
        n_frames=5,
        hidden_units=(128, 128, 128, 128),
        bottleneck=8,
        contamination=0.1,
        threshold="percentile",
        lr=1e-3,
        weight_decay=0.0,
        batch_size=256,
        max_epochs=100,
        device="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.mode = mode
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.n_frames = n_frames
        self.hidden_units = hidden_units
        self.bottleneck = bottleneck
        self.contamination = contamination
        self.threshold = threshold
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -- the front end ------------------------------------------------------

    def _front_end(self):
        return LogMelSpectrogram(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels,
            device=self.device, n_jobs=self.n_jobs,
        )

    def _check_clip_length(self, n_samples):
        n_time = 1 + n_samples // self.hop_length
        if n_time < self.n_frames:
            raise ValueError(
                f"Clips of {n_samples} samples (n_features = {n_samples}) give {n_time} log-mel frame(s) "
                f"(hop_length={self.hop_length}), fewer than n_frames={self.n_frames} frames per window: they "
                f"need at least {(self.n_frames - 1) * self.hop_length} samples. Use longer clips, a shorter "
                "hop_length or a smaller n_frames."
            )
        return n_time - self.n_frames + 1

    def _windows(self, X):
        """(n_clips, n_windows, n_frames * n_mels) float32 windows of waveforms ``X``."""
        return stack_frames(self._front_end().fit_transform(X), self.n_frames)

    def _window_errors(self, windows):
        """Error vectors ``x - x_hat`` of each clip's windows: (n_clips, n_windows * n_frames, n_mels), float32."""
        n_clips, n_windows, n_input = windows.shape
        flat = windows.reshape(-1, n_input)
        reconstruction = transform_with_trained_module(
            self.net_.module_, flat, batch_size=self.batch_size, n_jobs=self.n_jobs, verbose=self.verbose > 1,
            desc=type(self).__name__,
        )
        return (flat - reconstruction).reshape(n_clips, n_windows * self.n_frames, self.n_mels)

    def _error_passes(self, X):
        """Per pass over at most ``_CLIPS_PER_PASS`` clips: their rows of X and their error vectors."""
        for start in range(0, len(X), _CLIPS_PER_PASS):
            rows = slice(start, start + _CLIPS_PER_PASS)
            yield rows, self._window_errors(self._windows(X[rows]))

    # -- fitting ------------------------------------------------------------

    def _check_params(self):
        units = tuple(self.hidden_units)
        if not all(isinstance(u, Integral) and not isinstance(u, bool) and u >= 1 for u in units):
            raise ValueError(f"hidden_units must be a sequence of positive ints; got {self.hidden_units!r}.")

    def _net_spec(self, X, y, *, seed, device, batch_size, drop_last):
        """The net: a :class:`DenseAutoencoder` trained on the windows ``X`` to reconstruct them."""
        return dict(
            net_class=ReconstructionNet,
            module=DenseAutoencoder,
            criterion=torch.nn.MSELoss,
            batch_size=batch_size,
            drop_last=drop_last,
            module__n_input=X.shape[1],
            module__hidden_units=tuple(self.hidden_units),
            module__bottleneck=self.bottleneck,
            device=str(device),
        )

    def _is_target(self, domain, n_clips):
        if domain is None:
            if self.mode == "selective_mahalanobis":
                warnings.warn(
                    f"No domain was given to {type(self).__name__}.fit: all clips are taken as one domain "
                    "(source), so the selective Mahalanobis distance is a single Mahalanobis distance, under "
                    "the source covariance. Pass each clip's domain ('source' or 'target') as fit(X, "
                    "domain=domain), or through metadata routing with set_fit_request(domain=True).",
                    UserWarning,
                    stacklevel=3,
                )
            return np.zeros(n_clips, dtype=bool)
        domain = check_domain(domain, n_clips)
        unknown = sorted({str(value) for value in domain if value not in ("source", "target")})
        if unknown:
            raise ValueError(f"domain must hold 'source' or 'target' for each clip; found {unknown}.")
        return domain == "target"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, domain=None):
        """Train the autoencoder on the windows of normal clips, then estimate the error covariances.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, finite, at least 2 clips of at
            least ``(n_frames - 1) * hop_length`` samples; presumed normal.
        y : None
            Ignored: training is unsupervised.
        domain : array-like of shape (n_clips,), default=None
            ``"source"`` or ``"target"`` per clip: the domain whose
            covariance each clip's errors enter. None: all source.

        Returns
        -------
        self : DenseAutoencoderScorer
            The fitted estimator.
        """
        X = validate_data(self, pcm_as_float(X), dtype=np.float32, ensure_min_samples=2)
        self._check_params()
        self.n_windows_ = self._check_clip_length(X.shape[1])
        is_target = self._is_target(domain, len(X))
        windows = self._windows(X).reshape(-1, self.n_frames * self.n_mels)
        n_windows = len(windows)
        batch_size = min(self.batch_size, n_windows)
        # Batch norm cannot train on a batch of one window: the baseline skips such a batch.
        drop_last = n_windows % batch_size == 1
        self._fit_net(windows, None, device=resolve_device(self.device), batch_size=batch_size, drop_last=drop_last)
        del windows

        scatter = {False: [], True: []}
        mse, mean_errors = self._error_statistics(X, scatter_into=(scatter, is_target))
        self.n_target_ = int(is_target.sum())
        self.source_covariance_ = np.cov(np.concatenate(scatter[False]), rowvar=False)
        self.target_covariance_ = (
            np.cov(np.concatenate(scatter[True]), rowvar=False) if self.n_target_ else self.source_covariance_.copy()
        )
        self.source_precision_, self.target_precision_ = (
            np.linalg.pinv(c, hermitian=True) for c in (self.source_covariance_, self.target_covariance_)
        )
        self._set_offset(self._anomaly_scores(mse, mean_errors))
        return self

    def _error_statistics(self, X, scatter_into=None):
        """Each clip's mean squared error and mean error vector; optionally collect the error vectors per domain."""
        mse = np.empty(len(X))
        mean_errors = np.empty((len(X), self.n_mels))
        for rows, errors in self._error_passes(X):
            errors64 = errors.astype(np.float64)
            mse[rows] = np.square(errors64).mean(axis=(1, 2))
            mean_errors[rows] = errors64.mean(axis=1)
            if scatter_into is not None:
                scatter, is_target = scatter_into
                for target, clip_errors in zip(is_target[rows], errors):
                    scatter[bool(target)].append(clip_errors)
        return mse, mean_errors

    def _anomaly_scores(self, mse, mean_errors):
        if self.mode == "mse":
            return mse
        return selective_mahalanobis(mean_errors, self.source_precision_, self.target_precision_)

    # -- scoring ------------------------------------------------------------

    def score_samples(self, X):
        """Opposite of the anomaly score of each clip: minus its mean squared error or selective Mahalanobis distance.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms at ``sample_rate``, as long as those of ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_clips,), float64
            Higher is more normal.
        """
        check_is_fitted(self)
        X = validate_data(self, pcm_as_float(X), dtype=np.float32, reset=False)
        return -self._anomaly_scores(*self._error_statistics(X))

    def _no_embedding(self):
        raise AttributeError(
            f"{type(self).__name__} has no transform: its network outputs a reconstruction of each window, not "
            "an embedding of each clip; use score_samples or anomaly_score."
        )

    # The shared trainer's mixin embeds clips; this estimator only scores them.
    transform = available_if(_no_embedding)(TrainedEmbedderMixin.transform)

    def __sklearn_tags__(self):
        return BaseScorer.__sklearn_tags__(self)
