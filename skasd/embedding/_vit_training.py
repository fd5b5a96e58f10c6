"""Training machinery of the spectrogram ViT: masks, the UFO loss, the EMA teacher, schedules, nets.

The pieces of masked teacher-student pre-training (EAT; Fang et al., eqs.
4-6), each usable and tested on its own:

- :func:`inverse_block_mask`: which patches the student sees (blocks of
  patches kept, the rest masked, an exact count per clip);
- :func:`teacher_targets`: the teacher's layer-averaged, normalised patch
  outputs (frame targets) and their average over the patches (utterance
  target);
- :func:`ufo_loss` and :class:`UFOLoss`: ``L_UFO = L_f + L_u``;
- :func:`ema_update` and :class:`EMATeacher`: ``teacher <- m teacher +
  (1 - m) student`` after every optimisation step, with ``m`` ramped
  linearly from ``ema_decay`` to ``ema_end_decay``;
- :class:`WarmupCosine`: the learning-rate factor of a linear warm-up and a
  cosine decay, for :class:`torch.optim.lr_scheduler.LambdaLR` inside
  skorch's ``LRScheduler``;
- :class:`MaskedTeacherStudentNet`: the skorch net whose ``infer`` runs
  the teacher and the masked student and whose ``get_loss`` is the UFO loss.
"""

import math

import torch
from skorch.callbacks import Callback, PassthroughScoring
from torch import nn

from ._training import TrainingHooksNet

__all__ = [
    "EMATeacher",
    "MaskedTeacherStudentNet",
    "UFOLoss",
    "WarmupCosine",
    "ema_update",
    "inverse_block_mask",
    "n_kept_patches",
    "teacher_targets",
    "ufo_loss",
]


# ---------------------------------------------------------------------------
# Masking


def n_kept_patches(mask_ratio, n_patches):
    """Patches the student sees per clip: ``round((1 - mask_ratio) * n_patches)``.

    Raises
    ------
    ValueError
        If that is 0 (nothing to encode) or ``n_patches`` (nothing to
        predict).
    """
    n_keep = round((1.0 - mask_ratio) * n_patches)
    if not 0 < n_keep < n_patches:
        raise ValueError(
            f"mask_ratio={mask_ratio} keeps round((1 - mask_ratio) * {n_patches}) = {n_keep} of the "
            f"{n_patches} patches of a clip; the student needs at least one patch to see and one to "
            "predict. Use a mask_ratio nearer 0.5, longer clips or smaller patches."
        )
    return n_keep


def inverse_block_mask(grid_shape, n_keep, n_masks, *, block_size=5, device=None):
    """Inverse block masks: blocks of patches are kept, everything else is masked.

    For each of the ``n_masks`` masks, square blocks of ``block_size x
    block_size`` patches (clipped to the grid) centred on uniformly drawn
    patches are kept until ``n_keep`` patches are kept: the patches of the
    last block are added in raster order and only as many as needed, so
    that every mask keeps exactly ``n_keep`` patches (the masking ratio is
    exact and the student's sequences have one length). Keeping blocks,
    rather than masking them, is EAT's inverse block masking: the masked
    regions are large and connected, so that the student cannot fill them
    in from the neighbouring patches. The masks are drawn together, on
    ``device``, from torch's global generator of that device (which
    skasd's estimators fork and seed around ``fit``).

    Parameters
    ----------
    grid_shape : tuple of int
        ``(n_frequency_patches, n_time_patches)``; patches are numbered in
        raster order, frequency-major: patch ``f * n_time_patches + t``.
    n_keep : int
        Patches kept per mask, in ``[1, n_patches]``.
    n_masks : int
        Masks to draw.
    block_size : int, default=5
        Side of the kept blocks, in patches.
    device : torch.device or None, default=None
        Where the masks are drawn and live; None: the CPU.

    Returns
    -------
    keep : bool Tensor of shape (n_masks, n_patches)
        True for the patches the student sees.

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding._vit_training import inverse_block_mask
    >>> _ = torch.manual_seed(0)
    >>> keep = inverse_block_mask((4, 10), n_keep=8, n_masks=3, block_size=3)
    >>> keep.shape, keep.sum(dim=1).tolist()
    (torch.Size([3, 40]), [8, 8, 8])
    """
    n_freq, n_time = (int(n) for n in grid_shape)
    n_patches = n_freq * n_time
    if not 1 <= n_keep <= n_patches:
        raise ValueError(f"n_keep must be in [1, {n_patches}] for a grid of {n_patches} patches; got {n_keep}.")
    # block_of[c, p]: patch p is in the block centred on patch c.
    patch = torch.arange(n_patches, device=device)
    f, t = patch // n_time, patch % n_time
    start_f, start_t = f - block_size // 2, t - block_size // 2
    in_f = (f[None, :] >= start_f[:, None]) & (f[None, :] < start_f[:, None] + block_size)
    in_t = (t[None, :] >= start_t[:, None]) & (t[None, :] < start_t[:, None] + block_size)
    block_of = in_f & in_t
    keep = torch.zeros((n_masks, n_patches), dtype=torch.bool, device=device)
    todo = torch.arange(n_masks, device=device)
    # About twice the blocks a mask needs when they do not overlap; more rounds when they do.
    n_candidates = max(4, 2 * math.ceil(n_keep / block_size**2) + 2)
    # Rounds of candidate blocks for the masks still short of n_keep, vectorised over masks and blocks.
    while todo.numel():
        blocks = block_of[torch.randint(n_patches, (todo.numel(), n_candidates), device=device)]
        # union[:, k]: what is kept after the first k + 1 candidate blocks.
        union = blocks.to(torch.uint8).cummax(dim=1).values.bool() | keep[todo, None, :]
        reached = union.sum(dim=-1) >= n_keep
        done = reached.any(dim=1)
        rows = torch.arange(todo.numel(), device=device)
        last = reached.to(torch.uint8).argmax(dim=1)  # the first block that reaches n_keep
        before = torch.where((last > 0)[:, None], union[rows, (last - 1).clamp_min(0)], keep[todo])
        new = union[rows, last] & ~before
        # The last block: its first new patches in raster order, only as many as needed.
        needed = n_keep - before.sum(dim=-1, keepdim=True)
        final = before | (new & (new.cumsum(dim=-1) <= needed))
        keep[todo[done]] = final[done]
        keep[todo[~done]] = union[~done, -1]
        todo = todo[~done]
    return keep


# ---------------------------------------------------------------------------
# Targets and loss


def teacher_targets(layer_outputs):
    """The teacher's frame targets ``Y`` and utterance target ``y`` from its block outputs.

    - Frame targets (data2vec 2.0 and EAT): each block's patch outputs are
      instance-normalised (each channel standardised over the patches of
      the clip, no affine parameters), then averaged over the blocks.
    - Utterance target: the average over the blocks and the patches of the
      teacher's outputs (eq. 5 of Fang et al.). Averaged over the patches,
      instance-normalised outputs are exactly 0, so here each block's
      patch outputs are layer-normalised instead (each patch standardised
      over its channels, no affine parameters), which puts every block on
      one scale as the instance norm does for the frame targets.

    Parameters
    ----------
    layer_outputs : sequence of Tensor of shape (batch, n_patches, dim)
        The teacher's patch outputs of each block (without the CLS token).

    Returns
    -------
    frame_targets : Tensor of shape (batch, n_patches, dim)
    utterance_target : Tensor of shape (batch, dim)
    """
    frame = torch.stack(
        [nn.functional.instance_norm(h.transpose(1, 2).float()).transpose(1, 2) for h in layer_outputs]
    ).mean(0)
    utterance = torch.stack(
        [nn.functional.layer_norm(h.float(), h.shape[-1:]).mean(1) for h in layer_outputs]
    ).mean(0)
    return frame, utterance


def ufo_loss(frame_prediction, frame_target, cls_prediction, utterance_target):
    """The utterance-frame objective ``L_UFO = L_f + L_u`` (eqs. 4-6 of Fang et al.).

    ``L_f = ||X_o - Y_o||^2`` between the decoder's predictions and the
    teacher's targets at the masked patches, ``L_u = ||c - y||^2`` between
    the student's CLS output and the teacher's utterance target. Both
    squared norms are averaged over the patches (the clips) and divided by
    the dimension: each term is the mean squared error per element, so
    that neither grows with the width of the model.

    Parameters
    ----------
    frame_prediction, frame_target : Tensor of shape (batch, n_masked, dim)
        ``X_o`` and ``Y_o``.
    cls_prediction, utterance_target : Tensor of shape (batch, dim)
        ``c`` and ``y``.

    Returns
    -------
    loss, frame_loss, utterance_loss : scalar Tensors
        ``L_UFO``, ``L_f`` and ``L_u``.
    """
    frame_loss = (frame_prediction - frame_target).square().mean()
    utterance_loss = (cls_prediction - utterance_target).square().mean()
    return frame_loss + utterance_loss, frame_loss, utterance_loss


class UFOLoss(nn.Module):
    """:func:`ufo_loss` as a module, the criterion of :class:`MaskedTeacherStudentNet`."""

    def forward(self, frame_prediction, frame_target, cls_prediction, utterance_target):
        return ufo_loss(frame_prediction, frame_target, cls_prediction, utterance_target)


# ---------------------------------------------------------------------------
# EMA teacher


@torch.no_grad()
def ema_update(teacher, student, decay):
    """``teacher <- decay * teacher + (1 - decay) * student``, parameter by parameter, in place.

    Buffers (the input statistics) are copied from the student.

    Parameters
    ----------
    teacher, student : torch.nn.Module
        Modules of the same architecture.
    decay : float
        ``m`` in ``[0, 1]``: 1 freezes the teacher, 0 copies the student.
    """
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(decay).add_(s.detach(), alpha=1.0 - decay)
    for t, s in zip(teacher.buffers(), student.buffers(), strict=True):
        t.copy_(s)


class EMATeacher(Callback):
    """skorch callback: after every training step, move the teacher towards the student.

    ``m`` ramps linearly from ``decay`` at the first step to ``end_decay`` at
    step ``n_steps`` and stays there (data2vec's and EAT's schedule); with
    ``end_decay=None`` it is constant. The module must have ``teacher`` and
    ``student`` submodules. The decay of the last step is recorded in the
    history as ``ema_decay``.

    Parameters
    ----------
    decay : float
        ``m`` at the first step.
    end_decay : float or None, default=None
        ``m`` from step ``n_steps`` on.
    n_steps : int, default=1
        Length of the ramp in optimisation steps.
    """

    def __init__(self, decay, end_decay=None, n_steps=1):
        self.decay = decay
        self.end_decay = end_decay
        self.n_steps = n_steps

    def decay_at(self, step):
        """``m`` for optimisation step ``step`` (0-based)."""
        if self.end_decay is None:
            return float(self.decay)
        progress = min(1.0, step / max(1, self.n_steps - 1))
        return float(self.decay + (self.end_decay - self.decay) * progress)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.step_ = 0

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        decay = self.decay_at(self.step_)
        ema_update(net.module_.teacher, net.module_.student, decay)
        self.step_ += 1
        net.history.record_batch("ema_decay", decay)


# ---------------------------------------------------------------------------
# Learning-rate schedule


class WarmupCosine:
    """Learning-rate factor: linear warm-up over ``warmup_steps``, then a cosine decay to 0.

    ``factor(step) = (step + 1) / warmup_steps`` during the warm-up, then
    ``(1 + cos(pi * progress)) / 2`` with ``progress`` going from 0 to 1
    over the remaining steps of ``total_steps``. A picklable callable (not a
    lambda) for :class:`torch.optim.lr_scheduler.LambdaLR`, so that a
    fitted estimator holding the schedule pickles.

    Parameters
    ----------
    warmup_steps : int
        Steps of the linear warm-up (0: none).
    total_steps : int
        Steps of the whole run; the factor is 0 from there on.

    Examples
    --------
    >>> from skasd.embedding._vit_training import WarmupCosine
    >>> schedule = WarmupCosine(2, 6)
    >>> [round(schedule(step), 3) for step in range(7)]
    [0.5, 1.0, 1.0, 0.854, 0.5, 0.146, 0.0]
    """

    def __init__(self, warmup_steps, total_steps):
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)

    def __call__(self, step):
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        decay_steps = self.total_steps - self.warmup_steps
        if decay_steps <= 0:
            return 1.0
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


# ---------------------------------------------------------------------------
# skorch net


class MaskedTeacherStudentNet(TrainingHooksNet):
    """skorch net training a :class:`~skasd.embedding._vit_modules.MaskedTeacherStudentModule`.

    One training step on a batch of waveforms (steps 1-3 are ``infer``, 4
    is ``get_loss``):

    1. the log-mel patches of the clips, with positions;
    2. the teacher (no gradient) encodes all patches; its block outputs give
       the frame targets ``Y`` and the utterance target ``y``
       (:func:`teacher_targets`);
    3. each clip is repeated ``n_masks`` times, each copy with its own
       inverse block mask (:func:`inverse_block_mask`); the student
       encodes the kept patches with its CLS token, and the decoder
       predicts every patch from them and mask tokens;
    4. the criterion (:class:`UFOLoss`) compares the predictions at the
       masked patches with ``Y`` there, and the CLS output with ``y``.

    The teacher follows the student through the :class:`EMATeacher`
    callback. The two terms are recorded in the history as ``frame_loss``
    and ``utterance_loss``, per batch and as the mean of each epoch. Only the parameters that need a
    gradient (the student's and the decoder's) go to the optimiser.

    Parameters
    ----------
    module, criterion, **kwargs
        As :class:`skorch.NeuralNet`.
    mask_ratio : float, default=0.8
        Fraction of the patches masked for the student.
    n_masks : int, default=1
        Masked copies of each clip per step (EAT's multi-mask: the teacher
        runs once for all of them).
    block_size : int, default=5
        Side of the kept blocks, in patches.
    """

    def __init__(self, module, criterion=UFOLoss, *args, mask_ratio=0.8, n_masks=1, block_size=5, **kwargs):
        super().__init__(module, criterion, *args, **kwargs)
        self.mask_ratio = mask_ratio
        self.n_masks = n_masks
        self.block_size = block_size

    def get_all_learnable_params(self):
        """The student's and the decoder's parameters: the teacher learns by EMA only."""
        for name, parameter in super().get_all_learnable_params():
            if parameter.requires_grad:
                yield name, parameter

    def get_default_callbacks(self):
        """skorch's, plus the epoch means of the two loss terms, before the epoch log (which then shows them)."""
        callbacks = list(super().get_default_callbacks())
        names = [name for name, _ in callbacks]
        position = names.index("print_log") if "print_log" in names else len(callbacks)
        callbacks[position:position] = [
            ("frame_loss", PassthroughScoring(name="frame_loss", on_train=True)),
            ("utterance_loss", PassthroughScoring(name="utterance_loss", on_train=True)),
        ]
        return callbacks

    def infer(self, x, **fit_params):
        """Steps 1-3: the student's predictions and the teacher's targets for a batch of waveforms.

        Returns
        -------
        frame_prediction, frame_target : Tensor of shape (n_clips * n_masks, n_masked, dim)
            The decoder's predictions and the teacher's targets at the masked patches.
        utterance_prediction, utterance_target : Tensor of shape (n_clips * n_masks, dim)
            The student's CLS output and the teacher's utterance target.
        """
        module = self.module_
        module.teacher.eval()  # no dropout in the targets (the teacher has none by default anyway)
        log_mel = module.student.log_mel(x)  # the teacher's front end and input statistics are the same
        tokens, grid = module.student.embed_patches(log_mel)
        with torch.no_grad():
            teacher_tokens, _ = module.teacher.embed_patches(log_mel)
            _, layers = module.teacher.encode(teacher_tokens, return_layers=True)
            frame_targets, utterance_target = teacher_targets([h[:, 1:] for h in layers])
        n_patches = tokens.shape[1]
        n_keep = n_kept_patches(self.mask_ratio, n_patches)
        n_copies = tokens.shape[0] * self.n_masks
        keep = inverse_block_mask(grid, n_keep, n_copies, block_size=self.block_size, device=tokens.device)
        kept_index = torch.nonzero(keep)[:, 1].view(n_copies, n_keep)
        masked_index = torch.nonzero(~keep)[:, 1].view(n_copies, n_patches - n_keep)
        tokens = tokens.repeat_interleave(self.n_masks, dim=0)
        kept = tokens.gather(1, kept_index[..., None].expand(-1, -1, tokens.shape[-1]))
        encoded, _ = module.student.encode(kept)
        predictions = module.decoder(encoded[:, 1:], kept_index, grid)
        dim = predictions.shape[-1]
        frame_prediction = predictions.gather(1, masked_index[..., None].expand(-1, -1, dim))
        frame_targets = frame_targets.repeat_interleave(self.n_masks, dim=0)
        frame_target = frame_targets.gather(1, masked_index[..., None].expand(-1, -1, dim))
        utterance_target = utterance_target.repeat_interleave(self.n_masks, dim=0)
        return frame_prediction, frame_target, encoded[:, 0], utterance_target

    def get_loss(self, y_pred, y_true=None, X=None, training=False):
        """Step 4: the UFO loss (the criterion); its two terms go to the batch's history."""
        loss, frame_loss, utterance_loss = self.criterion_(*y_pred)
        if not bool(torch.isfinite(loss)):
            raise ValueError(
                f"The UFO loss is {float(loss)} at epoch {len(self.history)}: lower lr."
            )
        self.history.record_batch("frame_loss", frame_loss.item())
        self.history.record_batch("utterance_loss", utterance_loss.item())
        return loss
