"""MDE, multi-level details extractor (paper 4.4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DetailsExtractorLevel(nn.Module):
    """One level: ViT features and the input image, fused at one details-decoder level.

    A 1x1 conv reduces the reshaped ViT features and another the input image, which is
    then max-pooled; the two are concatenated and pass conv + batch norm + ReLU. The paper
    pools the image to the ViT grid. Here both are brought to the size of the decoder level
    the output feeds (features upsampled bilinearly, image max-pooled), so the finer
    levels carry image detail smaller than a patch.
    """

    def __init__(self, visual_width: int, image_channels: int, out: int):
        super().__init__()
        self.features = nn.Conv2d(visual_width, out, 1)
        self.image = nn.Conv2d(3, image_channels, 1)
        self.fuse = nn.Sequential(nn.Conv2d(out + image_channels, out, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(out), nn.ReLU(inplace=True))

    def forward(self, features: torch.Tensor, image: torch.Tensor, size: tuple[int, int],
                factor: int | None = None) -> torch.Tensor:
        """Features (B, Dv, h, w), image (B, 3, H, W) -> (B, out, *size). ``factor``: H / size[0] when it is
        known to be a whole number (plain max pooling, the same numbers as adaptive pooling then, and
        traceable with symbolic sizes); None: adaptive pooling."""
        f = F.interpolate(self.features(features), size=size, mode="bilinear", align_corners=False)
        i = self.image(image)
        i = F.max_pool2d(i, factor) if factor else F.adaptive_max_pool2d(i, size)
        return self.fuse(torch.cat([f, i], dim=1))


class MultiLevelDetailsExtractor(nn.Module):
    """One :class:`DetailsExtractorLevel` per details-decoder level, coarse to fine.

    As in a U-Net, the deepest ViT block feeds the coarsest level and the shallowest the finest.
    """

    def __init__(self, visual_width: int, image_channels: int, widths: tuple[int, ...], patch: int | None = None):
        super().__init__()
        self.levels = nn.ModuleList(DetailsExtractorLevel(visual_width, image_channels, w) for w in widths)
        # level i works at the patch grid x 2**i on an image padded to whole patches: patch / 2**i pixels per cell
        self.factors = [patch >> i if patch and patch % (1 << i) == 0 else None for i in range(len(widths))]

    def forward(self, features: list[torch.Tensor], image: torch.Tensor,
                sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """Feature maps per level, deepest block first (B, Dv, h, w) -> (B, width_i, *sizes[i]) each."""
        return [level(f, image, s, k) for level, f, s, k in zip(self.levels, features, sizes, self.factors)]
