"""The skorch net of triplet learning: auxiliary classification plus the triplet loss (Kuroyanagi et al.).

Its parts (the triplet loss, the positives, the pitch-shifted negatives, the
other-machine partners) are in :mod:`skasd.embedding._triplet`.
"""

import numpy as np
import torch

from ._training import AuxiliaryClassifierNet
from ._triplet import PitchShifter, TripletLoss, draw_other_machine, make_positives

__all__ = ["TripletAuxiliaryNet"]


class TripletAuxiliaryNet(AuxiliaryClassifierNet):
    """Auxiliary classification plus triplet learning: ``L_mlt = L_ss + L_trp``.

    Eq. (12) of Kuroyanagi et al. Each training step computes the auxiliary
    classification loss (the criterion, e.g. the subspace loss) on the batch
    mixed up with probability ``mixup_probability`` (mixup acts on this term
    only), and the triplet loss on the unmixed batch: each clip is the
    anchor; its positive is the anchor plus a clip of another machine type
    from the whole training set at an SNR uniform in ``snr_range`` (eq. 8);
    its negative is the anchor pitch-shifted by a ``beta`` drawn from
    ``pitch_shifter.semitones`` (eq. 9). Anchors, positives and negatives go
    through the module as one batch. Every draw comes from torch's global
    generator, which skasd's estimators fork and seed around ``fit``
    (:func:`seeded_torch`). The two terms are recorded per batch in the
    history as ``ss_loss`` and ``triplet_loss``.

    Parameters
    ----------
    module, criterion, n_classes, mixup_probability, **kwargs
        As :class:`AuxiliaryClassifierNet`.
    class_machine : array-like of shape (n_classes,), integer
        Machine-type code of each class index.
    background : ndarray of shape (n_pool, n_samples), float32
        Clips the positives' backgrounds are drawn from: the training clips.
    background_machine : array-like of shape (n_pool,), integer
        Machine-type code of each background clip.
    sample_rate : int, default=16000
        Sample rate of the clips, for the pitch shifter.
    triplet_temperature, triplet_margin : float, default=0.2, 0.5
        ``tau`` and ``gamma`` of the triplet loss (eqs. 10-11).
    semitones : sequence of float or None, default=None
        The negatives' shifts ``beta``; None: +-6 to +-12 semitones, the paper's.
    snr_range : tuple of float, default=(-5.0, 20.0)
        Range of the positives' SNR alpha in dB.

    Attributes
    ----------
    triplet_loss_ : TripletLoss
    pitch_shifter_ : PitchShifter
        Built by :meth:`initialize_module`.
    """

    def __init__(
        self,
        module,
        criterion,
        *args,
        n_classes,
        class_machine,
        background,
        background_machine,
        sample_rate=16000,
        triplet_temperature=0.2,
        triplet_margin=0.5,
        semitones=None,
        snr_range=(-5.0, 20.0),
        mixup_probability=0.0,
        **kwargs,
    ):
        super().__init__(module, criterion, *args, n_classes=n_classes, mixup_probability=mixup_probability, **kwargs)
        self.class_machine = class_machine
        self.background = background
        self.background_machine = background_machine
        self.sample_rate = sample_rate
        self.triplet_temperature = triplet_temperature
        self.triplet_margin = triplet_margin
        self.semitones = semitones
        self.snr_range = snr_range

    def initialize_module(self):
        """Build the module, then the triplet loss and the pitch shifter (no parameters)."""
        super().initialize_module()
        self.triplet_loss_ = TripletLoss(temperature=self.triplet_temperature, margin=self.triplet_margin)
        shifter_kwargs = {} if self.semitones is None else {"semitones": self.semitones}
        self.pitch_shifter_ = PitchShifter(self.sample_rate, **shifter_kwargs)
        return self

    def triplets(self, Xi, yi):
        """Positives and negatives for the anchors ``Xi`` of classes ``yi``."""
        class_machine = torch.as_tensor(np.asarray(self.class_machine), dtype=torch.long)
        pool_machine = torch.as_tensor(np.asarray(self.background_machine), dtype=torch.long)
        anchor_machine = class_machine[yi.long().cpu()]
        partners = draw_other_machine(anchor_machine, pool_machine, torch.rand(len(anchor_machine)))
        backgrounds = torch.as_tensor(self.background[partners.numpy()]).to(device=Xi.device, dtype=Xi.dtype)
        low, high = self.snr_range
        snr_db = low + (high - low) * torch.rand(len(anchor_machine), dtype=torch.float64)
        positives = make_positives(Xi, backgrounds, snr_db.to(Xi.device))
        # The shifter takes a seed; drawing it from torch's (forked, seeded) generator keeps fits reproducible.
        seed = int(torch.randint(np.iinfo(np.int32).max, ()).item())
        negatives, _ = self.pitch_shifter_.negatives(Xi, seed)
        return positives, negatives.to(Xi.dtype)

    def training_batch(self, Xi, yi):
        """The mixed batch, then the unmixed anchors, their positives and negatives, as one batch.

        The targets are the mixed batch's soft targets; :meth:`get_loss`
        tells the four parts apart by their number of rows.
        """
        mixed, targets = self.mix(Xi, yi)
        positives, negatives = self.triplets(Xi, yi)
        return torch.cat([mixed, Xi, positives, negatives]), targets

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """``L_ss`` on the mixed part plus ``L_trp`` on the triplets when training; ``L_ss`` alone else."""
        if not training:
            return super().get_loss(y_pred, y_true, X=X, training=training)
        n_clips = y_true.shape[0]
        ss_loss = super().get_loss(y_pred[:n_clips], y_true, X=X[:n_clips], training=training)
        anchor, positive, negative = y_pred[n_clips:].split(n_clips)
        triplet_loss = self.triplet_loss_(anchor, positive, negative)
        self.history.record_batch("ss_loss", ss_loss.item())
        self.history.record_batch("triplet_loss", triplet_loss.item())
        return ss_loss + triplet_loss
