"""Geometry measured from the rendered visible mattes (not assumed from the plan).

For every entity: its box and alpha-weighted centroid over pixels with visible alpha >=
``MEASURE_ALPHA``, its share of the frame, how much of it is visible, its absolute
position (thirds of the frame) and which extremes it holds among the image's entities;
for every other entity of the image, the relations that hold with a margin: left of,
right of, above, below (centroids apart by more than ``margin`` of the frame) and in
front of / behind (their placed alphas overlap and one is drawn over the other).
"""

from __future__ import annotations

import cv2
import numpy as np

MEASURE_ALPHA = 32


def _stats(m: np.ndarray, box: tuple[int, int, int, int]) -> dict:
    """Box, centroid and area of a matte that is zero outside ``box`` (its layer's placement)."""
    H, W = m.shape
    x0, y0, x1, y1 = box
    sub = m[y0:y1, x0:x1]
    moments = cv2.moments(sub)  # m00 = sum of values; m10, m01 = first moments
    bx, by, bw, bh = cv2.boundingRect((sub >= MEASURE_ALPHA).astype(np.uint8))
    if moments["m00"] == 0 or bw == 0:
        return dict(bbox_x0=None, bbox_y0=None, bbox_x1=None, bbox_y1=None, centroid_x=None, centroid_y=None,
                    area_fraction=float(moments["m00"] / 255.0 / (H * W)))
    return dict(
        bbox_x0=x0 + bx, bbox_y0=y0 + by, bbox_x1=x0 + bx + bw, bbox_y1=y0 + by + bh,
        centroid_x=x0 + moments["m10"] / moments["m00"], centroid_y=y0 + moments["m01"] / moments["m00"],
        area_fraction=float(moments["m00"] / 255.0 / (H * W)),
    )


def _third(v: float, size: int, words: tuple[str, str, str]) -> str:
    return words[0] if v < size / 3 else words[2] if v > 2 * size / 3 else words[1]


def measure(mattes: list[np.ndarray], layers: list, arrangement: str, margin: float) -> list[dict]:
    H, W = mattes[0].shape
    stats = [_stats(m, (L.x, L.y, L.x + L.alpha.shape[1], L.y + L.alpha.shape[0])) for m, L in zip(mattes, layers)]
    for s, m, L in zip(stats, mattes, layers):
        own = float(L.alpha.sum())
        s["visible_fraction"] = float(m.sum() / 255.0 / own) if own > 0 else 0.0
        s["position_h"] = None if s["centroid_x"] is None else _third(s["centroid_x"], W, ("left", "middle", "right"))
        s["position_v"] = None if s["centroid_y"] is None else _third(s["centroid_y"], H, ("top", "middle", "bottom"))

    def placed_box(L):
        return L.x, L.y, L.x + L.alpha.shape[1], L.y + L.alpha.shape[0]

    n = len(mattes)
    for i, s in enumerate(stats):
        relations, extremes = [], []
        for j, t in enumerate(stats):
            if i == j or s["centroid_x"] is None or t["centroid_x"] is None:
                continue
            dx, dy = t["centroid_x"] - s["centroid_x"], t["centroid_y"] - s["centroid_y"]
            if dx > margin * W:
                relations.append(dict(other=j, relation="left of"))
            elif -dx > margin * W:
                relations.append(dict(other=j, relation="right of"))
            if dy > margin * H:
                relations.append(dict(other=j, relation="above"))
            elif -dy > margin * H:
                relations.append(dict(other=j, relation="below"))
            a, b = placed_box(layers[i]), placed_box(layers[j])
            x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
            if x1 > x0 and y1 > y0:
                ai = layers[i].alpha[y0 - a[1]:y1 - a[1], x0 - a[0]:x1 - a[0]]
                aj = layers[j].alpha[y0 - b[1]:y1 - b[1], x0 - b[0]:x1 - b[0]]
                if np.logical_and(ai > 0, aj > 0).any():  # drawn in slot order: the later one is in front
                    relations.append(dict(other=j, relation="in front of" if i > j else "behind"))
        if n > 1:
            xs = [t["centroid_x"] for t in stats if t["centroid_x"] is not None]
            ys = [t["centroid_y"] for t in stats if t["centroid_y"] is not None]
            if s["centroid_x"] is not None:
                if s["centroid_x"] == min(xs):
                    extremes.append("leftmost")
                if s["centroid_x"] == max(xs):
                    extremes.append("rightmost")
                if s["centroid_y"] == min(ys):
                    extremes.append("topmost")
                if s["centroid_y"] == max(ys):
                    extremes.append("bottommost")
            if arrangement == "depth":
                extremes.append("frontmost" if i == n - 1 else "backmost" if i == 0 else "middle")
        s["relations"] = relations
        s["extremes"] = extremes
    return stats
