"""Matting semantic decoder, matting details decoder and their collaboration (paper 4.3-4.4, GFM)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from clipmat.model.tracing import tracing

TRIMAP_CLASSES = 3  # 0 background, 1 transition (unknown), 2 foreground


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``x`` at ``size`` (bilinear); exported graphs always interpolate (exact at the same size) so sizes stay symbolic."""
    if not tracing() and tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class SemanticDecoder(nn.Module):
    """TSP feature map -> trimap logits: two blocks of two convs and a x4 bilinear upsampling.

    With 16-px patches the two x4 steps reach the input size; for other patch sizes the
    second step goes straight to it.
    """

    def __init__(self, cin: int, width: int):
        super().__init__()
        self.block1 = nn.Sequential(conv_bn_relu(cin, width), conv_bn_relu(width, width))
        self.block2 = nn.Sequential(conv_bn_relu(width, width // 2), nn.Conv2d(width // 2, TRIMAP_CLASSES, 3, padding=1))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, cin, h, w) -> logits (B, 3, *size)."""
        x = F.interpolate(self.block1(x), scale_factor=4, mode="bilinear", align_corners=False)
        return _resize(self.block2(x), size)  # x4 for 16 px patches; whatever reaches the input size otherwise


class DetailsDecoder(nn.Module):
    """Last ViT feature map -> alpha in [0, 1] by progressive x2 upsampling.

    Level i works at (h, w) * 2**i with ``widths[i]`` channels; MDE's output for the level
    is added first (residual), then two conv-BN-ReLU and a x2 bilinear upsampling (the last
    level's goes to the input size). A small head gives one channel there.
    """

    def __init__(self, visual_width: int, widths: tuple[int, ...]):
        super().__init__()
        widths = tuple(widths) + (max(widths[-1] // 2, 4),)
        self.stem = nn.Conv2d(visual_width, widths[0], 1)
        self.levels = nn.ModuleList(nn.Sequential(conv_bn_relu(a, b), conv_bn_relu(b, b))
                                    for a, b in zip(widths[:-1], widths[1:]))
        self.head = nn.Sequential(conv_bn_relu(widths[-1], widths[-1]), nn.Conv2d(widths[-1], 1, 3, padding=1))

    @staticmethod
    def level_sizes(grid: tuple[int, int], count: int) -> list[tuple[int, int]]:
        return [(grid[0] * 2 ** i, grid[1] * 2 ** i) for i in range(count)]

    def forward(self, x: torch.Tensor, details: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """(B, Dv, h, w) and MDE maps per level -> alpha (B, 1, *size) in [0, 1]."""
        x = self.stem(x)
        for i, (level, extra) in enumerate(zip(self.levels, details)):
            x = level(x if extra is None else x + extra)  # None: MDE is off (Table 3)
            last = i == len(self.levels) - 1  # the last step goes to the input size (x2 for 16 px patches)
            x = _resize(x, size) if last else F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return torch.sigmoid(self.head(x).float())


def collaborate(trimap_logits: torch.Tensor, details: torch.Tensor) -> torch.Tensor:
    """Fused alpha = details where the trimap says transition, 1 where foreground, 0 elsewhere.

    The collaboration module of GFM (Li et al. 2022): ``argmax`` takes no gradient, so
    the fused alpha trains only the details decoder. Logits (B, 3, H, W), details
    (B, 1, H, W) -> (B, 1, H, W), same dtype and device as ``details``.
    """
    cls = trimap_logits.argmax(dim=1, keepdim=True)
    return details * (cls == 1).to(details.dtype) + (cls == 2).to(details.dtype)
