"""CLIPMat's training losses (paper 4.3-4.4, with the conventions of GFM, Li et al. 2022).

All alphas and images are float tensors (B, C, H, W) in [0, 1]; trimaps hold class ids
0 background, 1 transition, 2 foreground (:data:`clipmat.model.TRIMAP_CLASSES`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-12  # inside the square root: the loss is smooth at zero error and still ~|p - a|


def alpha_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of sqrt((pred - target)^2 + eps); with ``mask``, summed inside it / (mask pixels + 1)."""
    err = torch.sqrt((pred - target) ** 2 + EPS)
    if mask is None:
        return err.mean()
    return (err * mask).sum() / (mask.sum() + 1.0)


KERNELS = ("gfm", "separable")


def gaussian_kernel(channels: int, dtype: torch.dtype, device: torch.device, kind: str = "gfm") -> torch.Tensor:
    """The pyramid's 5x5 blur (sigma 1), one per channel: (channels, 1, 5, 5).

    ``gfm`` (default): GFM's and P3M's ``build_gauss_kernel``, entry (i, j) = g(i)^2 + g(j)^2 with
    g(x) = exp(-(x - 2)^2 / 2), normalised to sum 1 (centre 0.113): what the authors trained with,
    so our loss values match theirs. ``separable``: the textbook Gaussian g(i) g(j) (centre 0.162),
    a true low-pass filter; it changes the loss by about 2 % and is kept for comparison.
    """
    if kind not in KERNELS:
        raise ValueError(f"unknown Laplacian kernel {kind!r}; choose {' or '.join(KERNELS)}")
    g = torch.tensor([math.exp(-(i * i) / 2.0) for i in range(-2, 3)], dtype=torch.float64)
    k = (g[:, None] ** 2 + g[None, :] ** 2) if kind == "gfm" else torch.outer(g, g)
    k = (k / k.sum()).to(dtype=dtype, device=device)
    return k.expand(channels, 1, 5, 5).contiguous()


def laplacian_pyramid(x: torch.Tensor, levels: int = 5, kernel: str = "gfm") -> list[torch.Tensor]:
    """``levels`` band-pass images (x - blur(x), then 2x2 average-pooled blur) and the low-pass rest.

    GFM's pyramid: 5x5 blur (:func:`gaussian_kernel`), replicate padding; levels stop early
    when an image gets smaller than 2 pixels a side.
    """
    weights = gaussian_kernel(x.shape[1], x.dtype, x.device, kernel)
    bands = []
    for _ in range(levels):
        if min(x.shape[-2:]) < 2:
            break
        blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), weights, groups=x.shape[1])
        bands.append(x - blurred)
        x = F.avg_pool2d(blurred, 2)
    return bands + [x]


def laplacian_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                   levels: int = 5, kernel: str = "gfm") -> torch.Tensor:
    """Sum over pyramid levels of the mean L1 difference; with ``mask``, both are masked first."""
    if mask is not None:
        pred, target = pred * mask, target * mask
    return sum(F.l1_loss(a, b) for a, b in zip(laplacian_pyramid(pred, levels, kernel),
                                                laplacian_pyramid(target, levels, kernel)))


def composition_loss(alpha: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Per pixel, sqrt((alpha*F + (1 - alpha)*B - I)^2 + eps) summed over the 3 channels; mean over pixels.

    Images in [0, 1] (GFM divides 0-255 images by 255: the same).
    """
    return torch.sqrt((alpha * fg + (1 - alpha) * bg - image) ** 2 + EPS).sum(dim=1).mean()


@dataclass(frozen=True)
class LossWeights:
    semantic: float = 0.25  # cross-entropy of the trimap logits
    details: float = 0.25  # alpha + Laplacian loss of the details output in the transition region
    fused: float = 0.25  # alpha + Laplacian loss of the fused output over the whole image
    composition: float = 0.25  # composition loss of the fused output; only when fg and bg are given


class ClipMatLoss(nn.Module):
    """GFM's weighted sum; returns ``loss`` and every named term, detached, for logging.

    Call it with the model's output dict and the targets:
    ``criterion(**model(image, tokens), target_alpha=a, target_trimap=t)``.
    """

    def __init__(self, weights: LossWeights = LossWeights(), kernel: str = "gfm"):
        super().__init__()
        self.weights, self.kernel = weights, kernel

    def forward(self, trimap_logits: torch.Tensor | None = None, details: torch.Tensor | None = None,
                alpha: torch.Tensor | None = None, *, target_alpha: torch.Tensor, target_trimap: torch.Tensor,
                image: torch.Tensor | None = None, fg: torch.Tensor | None = None,
                bg: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Logits (B, 3, H, W), details and alpha (B, 1, H, W); targets alpha (B, 1, H, W), trimap (B, H, W) int64.

        A model with one output (CLIPSeg) gives ``alpha=`` alone: the fused terms (and composition) train it."""
        if alpha is None:
            raise TypeError("ClipMatLoss needs the fused alpha (alpha=...)")
        f = lambda t: None if t is None else t.float()  # noqa: E731
        with torch.autocast(alpha.device.type, enabled=False):  # float32: bf16 blurs small alpha errors
            return self._terms(f(trimap_logits), f(details), alpha.float(), target_alpha.float(),
                               target_trimap, f(image), f(fg), f(bg))

    def _terms(self, trimap_logits, details, alpha, target_alpha, target_trimap, image, fg, bg):
        w = self.weights
        terms = {"fused_alpha": alpha_loss(alpha, target_alpha),
                 "fused_laplacian": laplacian_loss(alpha, target_alpha, kernel=self.kernel)}
        total = w.fused * (terms["fused_alpha"] + terms["fused_laplacian"])
        if trimap_logits is not None and details is not None:
            transition = (target_trimap == 1).unsqueeze(1).to(details.dtype)  # (B, 1, H, W)
            terms = {"semantic": F.cross_entropy(trimap_logits, target_trimap),
                     "details_alpha": alpha_loss(details, target_alpha, transition),
                     "details_laplacian": laplacian_loss(details, target_alpha, transition, kernel=self.kernel),
                     **terms}
            total = total + w.semantic * terms["semantic"] + w.details * (terms["details_alpha"]
                                                                          + terms["details_laplacian"])
        if fg is not None and bg is not None and image is not None and w.composition:
            terms["composition"] = composition_loss(alpha, fg, bg, image)
            total = total + w.composition * terms["composition"]
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}
