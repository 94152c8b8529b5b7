"""One composite image (paper 3.2): place, blend, visible mattes, measured geometry.

:func:`render` is a pure function of its :class:`Task` (plan, entity and background rows,
options): it writes ``images/<split>/<image_id>.jpg`` and one PNG matte per entity
atomically (under ``task.dest``, the run's staging folder) and returns the manifest rows.
Entities are only scaled down. Horizontal and vertical arrangements keep a margin between
entity boxes, so their alphas never overlap; depth arrangements overlap the front entity
on the back one by a share of the back entity's area in ``opts.overlap``.

Each matte is the entity's VISIBLE alpha, its alpha times (1 - alpha) of everything in
front of it. The 8-bit mattes are quantised by cumulative rounding, so at every pixel
they sum to at most 255 and the composite is exactly sum(matte_k F_k) + (1 - sum) B.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from refmatte.atomic import atomic_write_bytes
from refmatte.compose.plan import ComposeOptions, ImagePlan
from refmatte.imaging import read_rgb, read_rgba

VERSION = 4  # bump when rendering or measuring changes: every image is redone (2: 16-bit resampling, 3: relations from boxes, 4: size cache)


class PlacementError(Exception):
    """No placement satisfying the constraints was found within ``max_trials``."""


@dataclass(frozen=True)
class Task:
    plan: ImagePlan
    entities: tuple[dict, ...]  # rows of entities.parquet, in plan order
    background: dict
    out: str  # manifest folder: the caches and backgrounds are read from here
    opts: ComposeOptions
    dest: str | None = None  # where the image and mattes are written (the run's staging folder); None: ``out``


def task_key(task: "Task") -> str:
    """Identity of everything an image depends on: plan, render options, source pixels.

    Stored per row as ``compose_key``; a re-run reuses an image only when it matches, so a
    changed option, entity or background redraws exactly the images it affects.
    """
    import hashlib
    import json

    o = task.opts.as_dict()
    for k in ("split", "per_group", "groups", "extra", "min_category_size", "ratios", "expressions_per_entity",
              "colour_style", "expression_style"):  # not pixels
        o.pop(k)
    p = task.plan
    blob = [VERSION, o, p.seed, p.arrangement, list(p.entity_ids), p.background_id,
            [(e["source_fingerprint"], e["config_hash"]) for e in task.entities],
            (task.background["source_fingerprint"], task.background["config_hash"])]
    return hashlib.sha1(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Layer:
    crop: tuple[int, int, int, int]  # x0, y0, x1, y1 of the entity in its cached RGBA
    scale: float
    x: int  # top-left of the scaled crop on the canvas
    y: int
    colour: np.ndarray  # (h, w, 3) float32, straight colour
    alpha: np.ndarray  # (h, w) float32 in [0, 1]


def _background(row: dict, out: Path, long_side: int) -> np.ndarray:
    rgb = read_rgb(out / row["image_path"]).array
    h, w = rgb.shape[:2]
    s = long_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


SIZE_CACHE = "cache/compose"  # entity cut-outs at the largest size compose can draw them (made once, reused)


@dataclass
class Cut:
    """An entity's cut-out: its box in the entity's cached RGBA, the box's size there (all geometry
    is planned on it), and its pixels: the box itself, or a size-cache copy no larger than compose
    can ever draw it (``SIZE_CACHE_HEADROOM`` x ``fill[1]`` x the canvas short side), so a 6 MP
    entity is not decoded for every image."""

    box: tuple[int, int, int, int]
    hw: tuple[int, int]
    pixels: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.hw, 4)


def size_cache_path(row: dict, out: Path, long: int) -> Path:
    import hashlib

    from refmatte.paths import safe_name

    key = hashlib.sha1(f"{row['rgba_path']}|{row.get('source_fingerprint')}|{row.get('config_hash')}|{long}|"
                       f"{SIZE_CACHE_VERSION}".encode()).hexdigest()[:12]
    return out / SIZE_CACHE / f"{safe_name(row['entity_id'])}-{long}-{key}.png"


SIZE_CACHE_VERSION = 1
# The size cache holds twice the longest side compose can draw, so the second resampling is
# always a >= 2x reduction: on a 3000 x 2000 textured entity the premultiplied colour then
# differs from the full-resolution path by at most 12/255 per channel (mean 0.6/255), the alpha
# by under 1/255 (tests/test_compose_scale.py); at 1x headroom it was 27/255.
SIZE_CACHE_HEADROOM = 2.0


def cutout(row: dict, out: Path, long: int, make: bool = True) -> Cut:
    """The entity's :class:`Cut`, from the size cache when the box is longer than ``long`` px
    (the cache file is made on first use: premultiplied area resampling, like :func:`scaled`;
    with ``make=False`` nothing is written and a missing copy means the full-resolution box)."""
    cached = size_cache_path(row, out, long)
    meta = cached.with_suffix(".json")
    if meta.is_file() and cached.is_file():
        import json

        m = json.loads(meta.read_text())
        return Cut(tuple(m["box"]), tuple(m["hw"]), read_rgba(cached))
    rgba = read_rgba(out / row["rgba_path"])
    x, y, w, h = cv2.boundingRect(cv2.extractChannel(rgba, 3))  # box of alpha > 0
    cut = Cut((x, y, x + w, y + h), (h, w), rgba[y:y + h, x:x + w])
    if max(h, w) <= long or not make:
        return cut
    import json

    from refmatte.imaging import encode_rgba_png

    colour, alpha = scaled(cut, long / max(h, w))
    a8 = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
    rgb8 = np.clip(np.rint(colour), 0, 255).astype(np.uint8)  # colour is on the 0-255 scale
    atomic_write_bytes(cached, encode_rgba_png(rgb8, a8, 3))  # same bytes whoever writes it first
    atomic_write_bytes(meta, json.dumps({"box": list(cut.box), "hw": list(cut.hw)}).encode())
    return Cut(cut.box, cut.hw, np.dstack([rgb8, a8]))


def scaled(cut: Cut, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Straight colour and alpha of ``cut`` at ``s`` times its box size, area-resampled from its
    pixels (premultiplied while resampling: no fringes).

    The premultiplied product is formed exactly in 16 bits (cv2.multiply) and resampled
    there, so only the small result is converted to float.
    """
    h, w = cut.hw
    size = (max(1, round(w * s)), max(1, round(h * s)))
    rgba = cut.pixels
    a8 = cv2.extractChannel(rgba, 3)  # OpenCV's channel copies: 4x faster than numpy's strided ones here
    rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
    pre = cv2.multiply(rgb, cv2.cvtColor(a8, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_16U)  # rgb * alpha, <= 65025
    a16 = a8.astype(np.uint16)
    if size != (rgba.shape[1], rgba.shape[0]):
        shrink = size[0] <= rgba.shape[1] and size[1] <= rgba.shape[0]
        how = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR  # larger only by rounding a cached copy
        pre = cv2.resize(pre, size, interpolation=how)
        a16 = cv2.resize(a16 * np.uint16(257), size, interpolation=how)
        a = a16.astype(np.float32) * np.float32(1 / 65535.0)
    else:
        a = a16.astype(np.float32) * np.float32(1 / 255.0)
    pre = pre.astype(np.float32) * np.float32(1 / 255.0)
    colour = np.where(a[..., None] > 1e-6, pre / np.maximum(a[..., None], 1e-6), 0.0).astype(np.float32)
    return colour, np.clip(a, 0.0, 1.0)


def _coverage(cut: Cut, s: float) -> np.ndarray:
    """Where :func:`scaled`'s alpha at scale ``s`` is above zero, from the alpha channel alone (the
    same resampling, so the same pixels): placement retries never resample colour."""
    h, w = cut.hw
    size = (max(1, round(w * s)), max(1, round(h * s)))
    a8 = cv2.extractChannel(cut.pixels, 3)
    if size == (a8.shape[1], a8.shape[0]):
        return a8 > 0
    shrink = size[0] <= a8.shape[1] and size[1] <= a8.shape[0]
    a16 = cv2.resize(a8.astype(np.uint16) * np.uint16(257), size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return a16 > 0


def _scale_for(r: np.random.Generator, crop_hw: tuple[int, int], extent: float, opts: ComposeOptions, shrink: float) -> float:
    """A scale <= 1 giving the entity a size of U(fill) * extent along its longer side."""
    target = r.uniform(*opts.fill) * extent * shrink
    return min(1.0, target / max(crop_hw))


def _row_placement(r, cuts, H, W, opts, axis: int, shrink: float):
    """Left-to-right (axis 1) or top-to-bottom (axis 0) with margins: no two boxes meet."""
    m = opts.margin * (W if axis == 1 else H)
    scales = [_scale_for(r, c.shape[:2], min(H, W), opts, shrink) for c in cuts]
    sizes = [(max(1, round(c.shape[0] * s)), max(1, round(c.shape[1] * s))) for c, s in zip(cuts, scales)]  # (h, w)
    along = W if axis == 1 else H
    across = H if axis == 1 else W
    lengths = [sz[1] if axis == 1 else sz[0] for sz in sizes]
    free = along - sum(lengths) - (len(cuts) + 1) * m
    if free < 0 or any((sz[0] if axis == 1 else sz[1]) > across - 2 * m for sz in sizes):
        return None
    gaps = r.dirichlet(np.ones(len(cuts) + 1)) * free
    pos, placed = m + gaps[0], []
    for i, sz in enumerate(sizes):
        other = sz[0] if axis == 1 else sz[1]
        o = r.uniform(m, across - other - m)
        x, y = (round(pos), round(o)) if axis == 1 else (round(o), round(pos))
        placed.append((scales[i], x, y))
        pos += lengths[i] + m + gaps[i + 1]
    return placed


def _depth_placement(r, cuts, H, W, opts, shrink: float):
    """Back entity anywhere; the front one where it hides opts.overlap of the back's area."""
    m = round(opts.margin * min(H, W))
    sized = []
    for c in cuts:  # geometry only: the coverage of the alpha at this scale, not the colour
        s = _scale_for(r, c.shape[:2], min(H, W), opts, shrink)
        s = min(s, (H - 2 * m) / c.shape[0], (W - 2 * m) / c.shape[1])
        sized.append((s, _coverage(c, s)))
    (sb, ab), (sf, af) = sized
    hb, wb = ab.shape
    hf, wf = af.shape
    if hb > H - 2 * m or wb > W - 2 * m or hf > H - 2 * m or wf > W - 2 * m:
        return None
    xb, yb = int(r.integers(m, W - wb - m + 1)), int(r.integers(m, H - hb - m + 1))
    back_area = float((ab > 0).sum())
    for _ in range(opts.max_trials):
        xf, yf = int(r.integers(m, W - wf - m + 1)), int(r.integers(m, H - hf - m + 1))
        x0, y0, x1, y1 = max(xb, xf), max(yb, yf), min(xb + wb, xf + wf), min(yb + hb, yf + hf)
        if x1 <= x0 or y1 <= y0:
            continue
        hidden = np.logical_and(ab[y0 - yb:y1 - yb, x0 - xb:x1 - xb] > 0, af[y0 - yf:y1 - yf, x0 - xf:x1 - xf] > 0).sum()
        if opts.overlap[0] <= hidden / back_area <= opts.overlap[1]:
            return [(sb, xb, yb), (sf, xf, yf)]
    return None


def place(task: Task, H: int, W: int, cuts: list[Cut]) -> list[tuple[float, int, int]]:
    """(scale, x, y) per entity in plan order; :class:`PlacementError` after max_trials."""
    r = np.random.default_rng(task.plan.seed)
    opts, shrink = task.opts, 1.0
    for _ in range(opts.max_trials):
        if task.plan.arrangement == "depth":
            placed = _depth_placement(r, cuts, H, W, opts, shrink)
        else:
            placed = _row_placement(r, cuts, H, W, opts, 1 if task.plan.arrangement == "horizontal" else 0, shrink)
        if placed is not None:
            return placed
        shrink *= 0.97  # smaller entities fit more easily; they are never scaled up
    raise PlacementError(f"{task.plan.image_id}: no {task.plan.arrangement} placement of {', '.join(task.plan.entity_ids)} in {opts.max_trials} trials")


def union_box(layers: list[Layer]) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 covering every layer: outside it the composite is the background."""
    return (min(L.x for L in layers), min(L.y for L in layers),
            max(L.x + L.alpha.shape[1] for L in layers), max(L.y + L.alpha.shape[0] for L in layers))


def visible_mattes(layers: list[Layer], H: int, W: int) -> list[np.ndarray]:
    """uint8 visible mattes, layers given back to front; they sum to <= 255 at every pixel."""
    x0, y0, x1, y1 = union_box(layers)
    remaining = np.ones((y1 - y0, x1 - x0), np.float32)
    vis = [None] * len(layers)
    for k in range(len(layers) - 1, -1, -1):  # front to back, in the union box only
        L = layers[k]
        a = np.zeros_like(remaining)
        a[L.y - y0:L.y - y0 + L.alpha.shape[0], L.x - x0:L.x - x0 + L.alpha.shape[1]] = L.alpha
        vis[k] = a * remaining
        remaining *= 1.0 - a
    mattes, before, running = [], np.zeros_like(remaining), np.zeros_like(remaining)
    for v in vis:  # cumulative rounding: each matte is a difference of rounded running sums
        running += v
        now = np.minimum(np.rint(running * 255.0), 255.0)
        m = np.zeros((H, W), np.uint8)
        m[y0:y1, x0:x1] = (now - before).astype(np.uint8)
        mattes.append(m)
        before = now
    return mattes


def composite(background: np.ndarray, layers: list[Layer], mattes: list[np.ndarray]) -> np.ndarray:
    """sum_k matte_k F_k + (1 - sum_k matte_k) B, uint8 (computed in the layers' union box)."""
    x0, y0, x1, y1 = union_box(layers)
    bg = background[y0:y1, x0:x1].astype(np.float32)
    total = np.zeros(bg.shape[:2], np.float32)
    image = np.zeros_like(bg)
    for L, m in zip(layers, mattes):
        h, w = L.alpha.shape
        a = m[L.y:L.y + h, L.x:L.x + w].astype(np.float32) * np.float32(1 / 255.0)
        image[L.y - y0:L.y - y0 + h, L.x - x0:L.x - x0 + w] += a[..., None] * L.colour
        total[L.y - y0:L.y - y0 + h, L.x - x0:L.x - x0 + w] += a
    image += (1.0 - total)[..., None] * bg
    out = background.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return out


def render(task: Task) -> list[dict]:
    """Compose, write and measure one image; returns its manifest rows (one per entity)."""
    from refmatte.compose.geometry import measure

    out, plan, opts = Path(task.out), task.plan, task.opts
    background = _background(task.background, out, opts.long_side)
    H, W = background.shape[:2]
    long = int(np.ceil(SIZE_CACHE_HEADROOM * opts.fill[1] * min(H, W)))  # twice the longest any entity is drawn
    cuts = [cutout(e, out, long) for e in task.entities]
    placed = place(task, H, W, cuts)
    layers = []
    for cut, (s, x, y) in zip(cuts, placed):
        colour, alpha = scaled(cut, s)
        layers.append(Layer(cut.box, s, x, y, colour, alpha))
    mattes = visible_mattes(layers, H, W)
    image = composite(background, layers, mattes)

    image_rel = f"images/{plan.split}/{plan.image_id}.jpg"
    ok, jpg = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, opts.jpeg_quality])
    matte_rels = [f"mattes/{plan.split}/{plan.image_id}_{k}.png" for k in range(len(layers))]
    dest = Path(task.dest or out)
    for rel, m in zip(matte_rels, mattes):
        atomic_write_bytes(dest / rel, cv2.imencode(".png", m, [cv2.IMWRITE_PNG_COMPRESSION, 3])[1].tobytes())
    atomic_write_bytes(dest / image_rel, jpg.tobytes())  # last: an image file means its mattes exist

    geometry = measure(mattes, layers, opts.margin)
    rows = []
    for k, (e, L, g) in enumerate(zip(task.entities, layers, geometry)):
        rows.append(dict(
            image_id=plan.image_id, split=plan.split, image_path=image_rel, matte_path=matte_rels[k], width=W, height=H,
            background_id=task.background["background_id"], group=plan.group, seed=plan.seed, compose_key=task_key(task),
            arrangement=plan.arrangement,
            n_entities=len(layers), slot=k, depth=k if plan.arrangement == "depth" else 0, entity_id=e["entity_id"],
            scale=float(L.scale), x=L.x, y=L.y, crop_x0=L.crop[0], crop_y0=L.crop[1], crop_x1=L.crop[2], crop_y1=L.crop[3],
            **g,
            **{c: e.get(c) for c in ENTITY_ATTRIBUTES},
        ))
    return rows


ENTITY_ATTRIBUTES = ("category", "supercategory", "synonyms", "color_name", "color_basic", "color_second", "transparent", "salient",
                     "gender", "age_group", "clothes", "clothes_color")
