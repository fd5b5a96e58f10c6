"""Pooling of frame-level model outputs into one embedding per clip."""

import torch

__all__ = ["POOLINGS", "FramePooling"]

#: The pooling names :class:`FramePooling` accepts.
POOLINGS = ("mean", "max", "meanmax")


class FramePooling(torch.nn.Module):
    """Pool frame-level outputs over time into one vector per clip.

    Maps a tensor of shape (batch, n_frames, dim), one ``dim``-dimensional
    output per frame, to a tensor of shape (batch, dim) or (batch, 2 * dim)::

        mean[b, d] = sum_t x[b, t, d] / n_frames
        max[b, d] = max_t x[b, t, d]
        meanmax[b] = [mean[b, 0], ..., mean[b, dim - 1], max[b, 0], ..., max[b, dim - 1]]

    A tensor of shape (batch, dim) is already one vector per clip and is
    returned unchanged, whatever the pooling. Every frozen embedder of skasd
    (:class:`~skasd.SoundNetEmbedder`, :class:`~skasd.TorchModuleEmbedder`)
    pools its model's output with this module.

    Parameters
    ----------
    pooling : {"mean", "max", "meanmax"}, default="mean"
        ``"mean"`` averages the frames (the "mean frame embedding"),
        ``"max"`` keeps each dimension's largest value over the frames, and
        ``"meanmax"`` concatenates both, doubling the dimension.

    Examples
    --------
    >>> import torch
    >>> from skasd.embedding import FramePooling
    >>> frames = torch.tensor([[[1.0, 4.0], [3.0, 0.0]]])  # 1 clip, 2 frames, dim 2
    >>> FramePooling("mean")(frames)
    tensor([[2., 2.]])
    >>> FramePooling("meanmax")(frames)
    tensor([[2., 2., 3., 4.]])
    >>> FramePooling("max")(torch.ones(3, 5)).shape  # already one vector per clip
    torch.Size([3, 5])
    """

    def __init__(self, pooling="mean"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} is not one of {list(POOLINGS)}.")
        self.pooling = pooling

    def forward(self, frames):
        """Pool ``frames`` of shape (batch, n_frames, dim); pass (batch, dim) through."""
        if frames.ndim == 2:
            return frames
        if frames.ndim != 3:
            raise ValueError(
                "FramePooling expects a tensor of shape (batch, n_frames, dim) or "
                f"(batch, dim), got shape {tuple(frames.shape)}."
            )
        if frames.shape[1] == 0:
            raise ValueError("FramePooling got zero frames: there is nothing to pool.")
        if self.pooling == "mean":
            return frames.mean(dim=1)
        if self.pooling == "max":
            return frames.amax(dim=1)
        return torch.cat([frames.mean(dim=1), frames.amax(dim=1)], dim=-1)

    def extra_repr(self):
        return f"pooling={self.pooling!r}"
