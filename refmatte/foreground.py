"""Foreground colours for sources that ship photographs (AM-2k, P3M-10k, AIM-500, folders).

Composition needs the colour of the entity free of its original background. We use
pymatting's multi-level foreground estimation (Germer et al. 2020), a fast solver of the
Levin et al. [17] closed-form foreground objective that the paper uses.
"""

from __future__ import annotations

import numpy as np

METHOD = "estimate_foreground_ml"


def estimate_foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Estimate the foreground colour F of ``I = alpha F + (1 - alpha) B``.

    Parameters
    ----------
    rgb : uint8 (H, W, 3) photograph.
    alpha : uint8 (H, W) matte.

    Returns
    -------
    uint8 (H, W, 3) foreground colour. Where alpha is 0 the colour is the solver's smooth
    extrapolation, which keeps edges clean when the cut-out is later resampled.
    """
    if rgb.shape[0] * rgb.shape[1] < 2:  # pymatting's pyramid needs two pixels; one pixel is its own foreground
        return rgb.copy()
    from pymatting import estimate_foreground_ml  # numba-compiled: import only when needed

    image = rgb.astype(np.float32) / np.float32(255.0)
    a = alpha.astype(np.float32) / np.float32(255.0)
    fg = estimate_foreground_ml(image, a)
    return np.clip(np.rint(fg * 255.0), 0, 255).astype(np.uint8)
