"""Network blocks shared by the CNN embedders (the multi-branch CNN, SCAN's encoder)."""

import torch
from torch import nn

__all__ = ["ResidualBlock2d"]


class ResidualBlock2d(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (ResNet's basic block)."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))
        )

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))
