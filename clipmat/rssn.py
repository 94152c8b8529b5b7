"""RSSN (GFM, Li et al. 2022): each training sample composed anew at load time.

A composite manifest row says where every entity of its image was drawn (``entity_id``,
``scale``, ``x``, ``y``) and holds the visible matte of each (``matte_path``); the image is
I = sum_k m_k F_k + (1 - sum_k m_k) B (refmatte.compose.render.composite). Here the colour
layers F_k are rebuilt from the entities' caches exactly as compose drew them (the same
cut-out and resampling code), the background is a new one from ``backgrounds.parquet``
of the manifest's folder, and GFM's RSSN steps are drawn with p = 0.5 each: denoised
foregrounds and background (OpenCV's non-local means), a box blur of 20-60 px on the
background only. (RSSN's noise after compositing stays in the dataset's augmentation.)

Non-local means is most of a sample's cost (about 40 ms per 256 px layer), and it is
deterministic, so each data-loading process keeps the layers and backgrounds it made
(:class:`_Memo`, bounded in bytes): an entity layer is the same array whenever it is drawn again, and a
background is denoised once at the size that covers the canvas, before the random window
is cut from it (GFM denoises the window; the two differ only within the filter's 10 px
search radius of the window's edge).

For the target entity t, the sample gives F = F_t and B = (I - m_t F_t) / (1 - m_t) (the
other entities and the new background as t sees them), so I = m_t F + (1 - m_t) B, which
GFM's composition loss needs. Nothing is written: a missing size-cache copy is replaced by
resampling the full entity cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from refmatte.compose.plan import ComposeOptions
from refmatte.compose.render import SIZE_CACHE_HEADROOM, cutout, scaled
from refmatte.imaging import ImageReadError, read_rgb

P_DENOISE = 0.5
P_BLUR = 0.5
BLUR_PX = (20, 60)  # box kernel of the background blur
MEMO_BYTES = 256 << 20  # denoised layers and backgrounds kept per data-loading process


def denoise(image: np.ndarray) -> np.ndarray:
    """RSSN's denoising step (GFM's parameters: h 3, colour h 3, template 7 px, search 21 px), uint8 in and out."""
    return cv2.fastNlMeansDenoisingColored(image, None, 3, 3, 7, 21)


class _Memo:
    """Arrays by key, the least recently used dropped beyond ``limit`` bytes."""

    def __init__(self, limit: int = MEMO_BYTES):
        from collections import OrderedDict

        self.limit, self.used, self.items = limit, 0, OrderedDict()

    def get(self, key, make):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = make()
        self.items[key] = value
        self.used += value.nbytes
        while self.used > self.limit and len(self.items) > 1:
            self.used -= self.items.popitem(last=False)[1].nbytes
        return value


class RecomposeError(ValueError):
    """A sample that cannot be composed anew (a missing cache or background): one sentence naming it."""


@dataclass
class Sample:
    image: np.ndarray  # (H, W, 3) float32, 0-255
    alpha: np.ndarray  # (H, W) float32 in [0, 1]: the target's visible matte
    fg: np.ndarray  # (H, W, 3) float32, 0-255: the target's colour (0 outside it)
    bg: np.ndarray  # (H, W, 3) float32, 0-255: everything else, as the target sees it


class Recomposer:
    """Composes the images of one composite manifest anew (see the module doc)."""

    def __init__(self, rows: pd.DataFrame, root: Path):
        from refmatte.ingest import BACKGROUNDS, ENTITIES, read_rows
        from refmatte.schema import BACKGROUND_SCHEMA, ENTITY_SCHEMA

        needed = {"image_id", "entity_id", "scale", "x", "y", "matte_file", "split"}
        if not needed <= set(rows.columns):
            raise RecomposeError(f"the manifest lacks {', '.join(sorted(needed - set(rows.columns)))}: only composites "
                                 "made by refmatte compose can be composed anew")
        self.root = Path(root)
        for table in (ENTITIES, BACKGROUNDS):
            if not table.path(self.root).is_file():
                raise RecomposeError(f"{table.path(self.root)} not found: composing anew needs the entity and "
                                     "background manifests beside the composite manifest")
        self.entities = {e["entity_id"]: e for e in read_rows(ENTITIES.path(self.root), ENTITY_SCHEMA)}
        splits = set(rows.split)
        backgrounds = [b for b in read_rows(BACKGROUNDS.path(self.root), BACKGROUND_SCHEMA) if b["reject_reason"] is None]
        same = [b["image_path"] for b in backgrounds if b["source_split"] in splits]
        self.backgrounds = sorted(same or [b["image_path"] for b in backgrounds])
        if not self.backgrounds:
            raise RecomposeError(f"{BACKGROUNDS.path(self.root)} holds no usable background")
        self.images = {k: g for k, g in rows.groupby("image_id", sort=False)}
        self.memo = _Memo()

    def __getstate__(self) -> dict:  # a worker starts with an empty memo of its own
        return {**self.__dict__, "memo": _Memo(self.memo.limit)}

    def _layer(self, row, long: int, denoised: bool) -> tuple[np.ndarray, int, int]:
        """The entity's colour as compose drew it (``long``: the size-cache side compose read), and its place."""
        entity = self.entities.get(row.entity_id)
        if entity is None:
            raise RecomposeError(f"entity {row.entity_id} of {row.image_id} is not in entities.parquet")

        def make() -> np.ndarray:
            colour, _ = scaled(cutout(entity, self.root, long, make=False), float(row.scale))
            return denoise(np.clip(np.rint(colour), 0, 255).astype(np.uint8)).astype(np.float32) if denoised else colour

        try:
            colour = self.memo.get(("layer", row.entity_id, float(row.scale), long, denoised), make)
        except (OSError, ValueError, ImageReadError) as e:
            raise RecomposeError(f"entity cache of {row.entity_id}: {e}") from None
        return colour, int(row.x), int(row.y)

    def _background(self, path: Path, H: int, W: int, denoised: bool, rng: np.random.Generator) -> np.ndarray:
        """A random H x W window of the background at ``path`` scaled to cover H x W (denoised first when asked)."""
        def make() -> np.ndarray:
            try:
                bg = _covering(read_rgb(path).array, H, W)
            except (OSError, ValueError, ImageReadError) as e:
                raise RecomposeError(f"background {path}: {e}") from None
            return denoise(bg) if denoised else bg

        bg = self.memo.get(("background", str(path), H, W, denoised), make)
        y = int(rng.integers(bg.shape[0] - H + 1))
        x = int(rng.integers(bg.shape[1] - W + 1))
        return bg[y:y + H, x:x + W].copy()  # never a view of the memo

    def sample(self, image_id: str, matte_file: str, rng: np.random.Generator) -> Sample:
        """The image ``image_id`` composed anew over a drawn background; the target is ``matte_file``'s entity."""
        from clipmat.data import DataError, read_matte  # clipmat.data imports this module lazily: no cycle

        group = self.images[image_id]
        H, W = int(group.height.iloc[0]), int(group.width.iloc[0])
        long = int(np.ceil(SIZE_CACHE_HEADROOM * ComposeOptions().fill[1] * min(H, W)))  # what compose read
        denoised = rng.random() < P_DENOISE
        colour = np.zeros((H, W, 3), np.float32)  # sum_k m_k F_k
        total = np.zeros((H, W), np.float32)
        target = None
        for row in group.sort_values("slot").itertuples():
            try:
                m = read_matte(row.matte_file, (H, W))  # the pixel cap and the size check of every reader
            except DataError as e:
                raise RecomposeError(str(e)) from None
            f, x, y = self._layer(row, long, denoised)
            layer = np.zeros((H, W, 3), np.float32)
            h, w = min(f.shape[0], H - y), min(f.shape[1], W - x)
            layer[y:y + h, x:x + w] = f[:h, :w]
            colour += m[..., None] * layer
            total += m
            if row.matte_file == matte_file:
                target = (m, layer)
        if target is None:
            raise RecomposeError(f"{matte_file} is not a matte of {image_id}")
        path = self.root / self.backgrounds[int(rng.integers(len(self.backgrounds)))]
        bg = self._background(path, H, W, denoised, rng)
        if rng.random() < P_BLUR:
            k = int(rng.integers(BLUR_PX[0], BLUR_PX[1] + 1))
            bg = cv2.blur(bg, (k, k))
        image = colour + (1.0 - np.minimum(total, 1.0))[..., None] * bg.astype(np.float32)
        m, fg = target
        rest = 1.0 - m
        safe = rest > 1e-6
        behind = np.where(safe[..., None], (image - m[..., None] * fg) / np.where(safe, rest, 1.0)[..., None],
                          bg.astype(np.float32))
        return Sample(image.astype(np.float32), m, fg, behind.astype(np.float32))


def _covering(bg: np.ndarray, H: int, W: int) -> np.ndarray:
    """``bg`` scaled (aspect kept) to the smallest size that covers H x W."""
    s = max(H / bg.shape[0], W / bg.shape[1])
    size = (max(W, int(np.ceil(bg.shape[1] * s))), max(H, int(np.ceil(bg.shape[0] * s))))
    return cv2.resize(bg, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
