"""Matting metrics, vectorised, on alpha mattes in [0, 1] at the image's ORIGINAL resolution.

Whole-image protocol, as the RIM paper reports (section 5.1): every pixel counts.

- SAD = sum |p - a| / 1000
- MSE = mean (p - a)^2
- MAD = mean |p - a|
- Grad = sum (|grad p| - |grad a|)^2 / 1000, gradients by Deep Image Matting's 2-D
  Gaussian-derivative filters (sigma 1.4, unit L2 norm; Rhemann et al. 2009), the /1000
  convention of DIM, GCA and Matting-Anything (not GFM's /10)
- Conn = sum |phi(p) - phi(a)| / 1000, thresholds 0 to 1 in steps of 0.1, theta 0.15,
  4-connected largest component (Rhemann et al. 2009)

``conventions="gfm"`` reproduces GFM's evaluation code (github.com/JizhiziLi/GFM,
core/evaluate.py) where it differs: Grad by scipy's Gaussian-derivative filters (sigma 1.4,
not normalised) divided by 10; Conn whose pixels never leave the largest component at a
threshold where the prediction and the truth share no pixel (GFM skips such thresholds).
SAD, MSE and MAD are the same in both.

SAD, Grad and Conn grow with the pixel count, so a report must say the resolution:
:func:`protocol` gives the sentence every report prints.

Unknown-region protocol (``region="unknown"``, as ViTMatte and Matte-Anything report on
trimaps): only the transition band of a trimap made from the true matte counts: pixels
neither in the opaque part nor in the empty part, each eroded by an elliptical kernel of
:data:`UNKNOWN_KERNEL` px at the original resolution. SAD, Grad and Conn sum over the band,
MSE and MAD average over its pixels. The RIM paper reports the whole image.
"""

from __future__ import annotations

import cv2
import numpy as np

PROTOCOL = ("whole image at the original resolution, alpha in [0, 1]; SAD = sum|p-a|/1000, MSE and MAD = "
            "pixel means; Grad: DIM's Gaussian-derivative filters (sigma 1.4, unit L2 norm), sum of squared magnitude "
            "differences /1000; "
            "Conn: step 0.1, theta 0.15, /1000")
METRICS = ("sad", "mse", "mad", "grad", "conn")
REGIONS = ("whole", "unknown")
CONVENTIONS = ("dim", "gfm")  # Grad and Conn as Deep Image Matting defines them (default), or as GFM's code computes them
GFM_CONVENTIONS = ("GFM's evaluation code: Grad by scipy's Gaussian-derivative filters (sigma 1.4) /10; Conn skips "
                   "thresholds where prediction and truth share no pixel, step 0.1, theta 0.15, /1000")
UNKNOWN_KERNEL = 25  # px, elliptical erosion of the opaque and the empty part of the true matte


def protocol(region: str = "whole", conventions: str = "dim") -> str:
    """The sentence a report prints: what was measured, where, with which conventions."""
    if conventions not in CONVENTIONS:
        raise ValueError(f"unknown conventions {conventions!r}; choose {' or '.join(CONVENTIONS)}")
    if conventions == "gfm":
        return protocol(region).split("; Grad")[0] + "; Grad and Conn as " + GFM_CONVENTIONS
    if region == "whole":
        return PROTOCOL
    if region == "unknown":
        return (f"unknown region only: the transition band of a trimap made from the true matte (opaque and empty parts "
                f"eroded by a {UNKNOWN_KERNEL} px ellipse), at the original resolution, alpha in [0, 1]; SAD, Grad and "
                "Conn summed over the band /1000, MSE and MAD averaged over its pixels; Grad sigma 1.4, Conn step 0.1, "
                "theta 0.15")
    raise ValueError(f"unknown region {region!r}; choose {' or '.join(REGIONS)}")


def unknown_region(target: np.ndarray, kernel: int = UNKNOWN_KERNEL) -> np.ndarray:
    """Bool (H, W): the transition band of the trimap made from ``target`` (see the module doc)."""
    a = _as_float(target)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    fg = cv2.erode((a >= 1 - 1e-3).astype(np.uint8), k)
    bg = cv2.erode((a <= 1e-3).astype(np.uint8), k)
    return (fg == 0) & (bg == 0)


def _as_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)


def _within(values: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    return values if region is None else values[region]


def sad(pred: np.ndarray, target: np.ndarray, region: np.ndarray | None = None) -> float:
    return float(_within(np.abs(_as_float(pred) - _as_float(target)), region).sum() / 1000.0)


def mse(pred: np.ndarray, target: np.ndarray, region: np.ndarray | None = None) -> float:
    d = _within((_as_float(pred) - _as_float(target)) ** 2, region)
    return float(d.mean()) if d.size else 0.0


def mad(pred: np.ndarray, target: np.ndarray, region: np.ndarray | None = None) -> float:
    d = _within(np.abs(_as_float(pred) - _as_float(target)), region)
    return float(d.mean()) if d.size else 0.0


def _gaussian_derivative_kernels(sigma: float = 1.4, epsilon: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """The 1-D factors of Deep Image Matting's 2-D Gaussian-derivative filter, each of unit L2 norm.

    Half-size ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma epsilon))) (4 for sigma 1.4); the 2-D
    filter g(y) * dg(x) has unit L2 norm, as in the published ports of DIM's Grad.
    """
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon))))
    x = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-x**2 / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    dg = -x * g / sigma**2
    return g / np.linalg.norm(g), dg / np.linalg.norm(dg)


def gradient_magnitude(alpha: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    """|grad alpha| by the separable Gaussian-derivative filters, reflected borders, float64 (H, W)."""
    g, dg = _gaussian_derivative_kernels(sigma)
    a = _as_float(alpha)
    gx = cv2.sepFilter2D(a, cv2.CV_64F, dg, g, borderType=cv2.BORDER_REFLECT)
    gy = cv2.sepFilter2D(a, cv2.CV_64F, g, dg, borderType=cv2.BORDER_REFLECT)
    return np.sqrt(gx**2 + gy**2)


def grad(pred: np.ndarray, target: np.ndarray, region: np.ndarray | None = None, sigma: float = 1.4) -> float:
    d = (gradient_magnitude(pred, sigma) - gradient_magnitude(target, sigma)) ** 2
    return float(_within(d, region).sum() / 1000.0)


def grad_gfm(pred: np.ndarray, target: np.ndarray, region: np.ndarray | None = None, sigma: float = 1.4) -> float:
    """GFM's Grad: scipy's Gaussian-derivative filters (float32), squared magnitude differences summed, /10."""
    from scipy.ndimage import gaussian_filter

    def magnitude(x: np.ndarray) -> np.ndarray:
        x = _as_float(x).astype(np.float32)
        dx = gaussian_filter(x, sigma=sigma, order=[1, 0], output=np.float32)
        dy = gaussian_filter(x, sigma=sigma, order=[0, 1], output=np.float32)
        return np.sqrt(dx**2 + dy**2)

    return float(_within(np.square(magnitude(pred) - magnitude(target)), region).sum() / 10.0)


def conn_gfm(pred: np.ndarray, target: np.ndarray, region: np.ndarray | None = None) -> float:
    """GFM's Conn: as :func:`conn`, but a threshold where no pixel is above it in both is skipped."""
    return conn(pred, target, region, skip_empty=True)


def conn(pred: np.ndarray, target: np.ndarray, region: np.ndarray | None = None, step: float = 0.1,
         theta: float = 0.15, skip_empty: bool = False) -> float:
    """Connectivity error: how much each alpha loses by being cut off from the main body."""
    p, a = _as_float(pred), _as_float(target)
    level = np.ones_like(p)  # threshold at which a pixel leaves the largest common component
    for t in np.arange(step, 1.0 + step / 2, step):
        both = ((p >= t) & (a >= t)).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        if count > 1:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            kept = labels == largest
        elif skip_empty:
            continue
        else:
            kept = np.zeros_like(both, dtype=bool)
        level[(level == 1) & ~kept] = t - step
    dp, da = p - level, a - level
    phi_p = 1 - dp * (dp >= theta)
    phi_a = 1 - da * (da >= theta)
    return float(_within(np.abs(phi_p - phi_a), region).sum() / 1000.0)


def all_metrics(pred: np.ndarray, target: np.ndarray, which: tuple[str, ...] = METRICS,
                region: str = "whole", conventions: str = "dim") -> dict[str, float]:
    """The metrics named in ``which`` for one (H, W) pair, uint8 or float in [0, 1], over the
    whole image or the ``unknown`` region, with DIM's or GFM's conventions (see the module doc)."""
    if np.shape(pred) != np.shape(target):
        raise ValueError(f"prediction {np.shape(pred)} and target {np.shape(target)} differ in size")
    protocol(region, conventions)  # a region or conventions it does not know are refused here
    mask = unknown_region(target) if region == "unknown" else None
    fns = {"sad": sad, "mse": mse, "mad": mad, "grad": grad, "conn": conn}
    if conventions == "gfm":
        fns.update(grad=grad_gfm, conn=conn_gfm)
    return {name: fns[name](pred, target, mask) for name in which}
