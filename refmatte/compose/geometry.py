"""Geometry measured from the rendered visible mattes (not assumed from the plan).

For every entity: its box and alpha-weighted centroid over pixels with visible alpha >=
``MEASURE_ALPHA``, its share of the frame, how much of it is visible, its absolute
position (thirds of the frame) and which extremes it holds among the image's entities.
For every other entity of the image, the relations that are true with a clear margin:

- left of / right of: the two measured boxes are apart horizontally by at least
  ``margin`` of the frame width (no horizontal overlap at all);
- above / below: likewise vertically, by ``margin`` of the frame height;
- in front of / behind: the front one hides at least ``OCCLUSION_SHARE`` of the other's
  visible-alone pixels (both alphas >= ``MEASURE_ALPHA`` where they overlap).

Entities standing side by side are therefore never "above" each other, however their
centroids differ. An extreme (leftmost, ...) holds when the relation holds against every
other entity of the image: leftmost is left of all others, frontmost in front of all.
"""

from __future__ import annotations

import cv2
import numpy as np

MEASURE_ALPHA = 32
OCCLUSION_SHARE = 0.02  # of the rear entity's pixels hidden by the front one: less is a touch, not "behind"


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


def _apart(a: tuple, b: tuple, axis: int, gap: float) -> bool:
    """Box ``a`` ends at least ``gap`` px before box ``b`` starts along ``axis`` (0: x, 1: y)."""
    return a[axis + 2] + gap <= b[axis]


def _occludes(front, back) -> bool:
    """``front`` (drawn later) hides at least OCCLUSION_SHARE of ``back``'s own pixels."""
    a, b = front, back
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1 = min(a.x + a.alpha.shape[1], b.x + b.alpha.shape[1])
    y1 = min(a.y + a.alpha.shape[0], b.y + b.alpha.shape[0])
    if x1 <= x0 or y1 <= y0:
        return False
    cut = MEASURE_ALPHA / 255.0  # layer alphas are floats in [0, 1]
    fa = a.alpha[y0 - a.y:y1 - a.y, x0 - a.x:x1 - a.x] >= cut
    ba = b.alpha[y0 - b.y:y1 - b.y, x0 - b.x:x1 - b.x] >= cut
    own = int((b.alpha >= cut).sum())
    return own > 0 and int(np.logical_and(fa, ba).sum()) >= OCCLUSION_SHARE * own


OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above",
            "in front of": "behind", "behind": "in front of"}
EXTREME_OF = {"left of": "leftmost", "right of": "rightmost", "above": "topmost", "below": "bottommost",
              "in front of": "frontmost", "behind": "backmost"}


def extremes(relations: list[dict], others: set[int]) -> list[str]:
    """The extremes an entity holds: leftmost when it is left of every other entity (with a box), and so on."""
    return [x for rel, x in EXTREME_OF.items()
            if others and {r["other"] for r in relations if r["relation"] == rel} == others]


def pair_relations(s: dict, t: dict, front_over_back: bool | None, W: int, H: int, margin: float) -> list[str]:
    """Relations of entity ``s`` to ``t`` (measured boxes ``bbox_*``); ``front_over_back``: True when
    s hides enough of t, False when t hides enough of s, None otherwise."""
    if s["bbox_x0"] is None or t["bbox_x0"] is None:
        return []
    a = (s["bbox_x0"], s["bbox_y0"], s["bbox_x1"], s["bbox_y1"])
    b = (t["bbox_x0"], t["bbox_y0"], t["bbox_x1"], t["bbox_y1"])
    out = []
    if _apart(a, b, 0, margin * W):
        out.append("left of")
    elif _apart(b, a, 0, margin * W):
        out.append("right of")
    if _apart(a, b, 1, margin * H):
        out.append("above")
    elif _apart(b, a, 1, margin * H):
        out.append("below")
    if front_over_back is not None:
        out.append("in front of" if front_over_back else "behind")
    return out


def measure(mattes: list[np.ndarray], layers: list, margin: float) -> list[dict]:
    """Per entity (slot order = drawing order): box, centroid, shares, thirds, extremes, relations."""
    H, W = mattes[0].shape
    stats = [_stats(m, (L.x, L.y, L.x + L.alpha.shape[1], L.y + L.alpha.shape[0])) for m, L in zip(mattes, layers)]
    for s, m, L in zip(stats, mattes, layers):
        own = float(L.alpha.sum())
        s["visible_fraction"] = float(m.sum() / 255.0 / own) if own > 0 else 0.0
        s["position_h"] = None if s["centroid_x"] is None else _third(s["centroid_x"], W, ("left", "middle", "right"))
        s["position_v"] = None if s["centroid_y"] is None else _third(s["centroid_y"], H, ("top", "middle", "bottom"))
    n = len(stats)
    for i, s in enumerate(stats):
        relations = []
        for j, t in enumerate(stats):
            if i == j:
                continue
            front = _occludes(layers[i], layers[j]) if i > j else _occludes(layers[j], layers[i])
            depth = (i > j) if front else None  # drawn in slot order: the later one is in front
            relations += [dict(other=j, relation=r) for r in pair_relations(s, t, depth, W, H, margin)]
        others = {j for j in range(n) if j != i and stats[j]["bbox_x0"] is not None}
        s["extremes"] = extremes(relations, others)
        s["relations"] = relations
    return stats


def remeasure(scene: list[dict], margin: float) -> list[dict]:
    """``relations`` and ``extremes`` of one image's rows recomputed from their stored boxes, with the
    stored depth relations kept (occlusion needs the mattes): for manifests measured by an older
    version, whose relations came from centroids. Rows are returned updated, in their order."""
    out = []
    for r in scene:
        depth = {x["other"]: x["relation"] == "in front of" for x in (r.get("relations") or [])
                 if x["relation"] in ("in front of", "behind")}
        rels = [dict(other=o["slot"], relation=rel) for o in scene if o["slot"] != r["slot"]
                for rel in pair_relations(r, o, depth.get(o["slot"]), r["width"], r["height"], margin)]
        others = {o["slot"] for o in scene if o["slot"] != r["slot"] and o["bbox_x0"] is not None}
        out.append(r | {"relations": rels, "extremes": extremes(rels, others)})
    return out
