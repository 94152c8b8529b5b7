"""Statistics of an alpha matte that the filters and later stages need."""

from __future__ import annotations

import cv2
import numpy as np

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def alpha_stats(alpha: np.ndarray) -> dict:
    """Summarise an 8-bit matte.

    Parameters
    ----------
    alpha : ndarray of uint8, shape (H, W); 0 transparent, 255 opaque.

    Returns
    -------
    dict with the entity-manifest columns ``alpha_area_fraction``, ``alpha_mean``,
    ``alpha_semi_fraction``, ``alpha_opaque_fraction``, ``alpha_band_px`` and
    ``bbox_x0, bbox_y0, bbox_x1, bbox_y1`` (exclusive ends; ``None`` when empty).

    ``alpha_band_px`` is the mean width of the transition band: the count of
    semi-transparent pixels divided by the length (in pixels) of the boundary of the
    ``alpha >= 128`` region (of the ``alpha > 0`` region when nothing reaches 128). A hard binary mask scores 0, anti-aliased clip-art about 1,
    hair and fur several pixels.
    """
    n = alpha.size
    obj = alpha > 0
    n_obj = int(np.count_nonzero(obj))
    n_opaque = int(np.count_nonzero(alpha == 255))
    n_semi = n_obj - n_opaque
    solid = (alpha >= 128).astype(np.uint8)
    if not solid.any():  # an entirely faint matte (smoke): measure against its own outline
        solid = obj.astype(np.uint8)
    boundary = int(np.count_nonzero(solid)) - int(np.count_nonzero(cv2.erode(solid, _CROSS, borderType=cv2.BORDER_REPLICATE)))
    stats = {
        "alpha_area_fraction": n_obj / n,
        "alpha_mean": float(alpha.mean(dtype=np.float64) / 255.0),
        "alpha_semi_fraction": n_semi / n_obj if n_obj else 0.0,
        "alpha_opaque_fraction": n_opaque / n,
        "alpha_band_px": n_semi / boundary if boundary else 0.0,
        "bbox_x0": None, "bbox_y0": None, "bbox_x1": None, "bbox_y1": None,
    }
    if n_obj:
        cols = np.flatnonzero(obj.any(axis=0))
        rows = np.flatnonzero(obj.any(axis=1))
        stats.update(bbox_x0=int(cols[0]), bbox_y0=int(rows[0]), bbox_x1=int(cols[-1]) + 1, bbox_y1=int(rows[-1]) + 1)
    return stats
