"""RSSN (GFM, Li et al. 2022): each training sample composed anew at load time.

A composite manifest row says where every entity of its image was drawn (``entity_id``,
``scale``, ``x``, ``y``) and holds the visible matte of each (``matte_path``); the image is
I = sum_k m_k F_k + (1 - sum_k m_k) B (refmatte.compose.render.composite). Here the colour
layers F_k are rebuilt from the entities' caches exactly as compose drew them (the same
cut-out and resampling code), the background is a new one from ``backgrounds.parquet``
of the manifest's folder, and GFM's RSSN steps are drawn with p = 0.5 each: denoised
foregrounds and background (OpenCV's non-local means), a box blur of 20-60 px on the
background only. (RSSN's noise after compositing stays in the dataset's augmentation.)

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

    def _layer(self, row, long: int) -> tuple[np.ndarray, int, int]:
        """The entity's colour as compose drew it (``long``: the size-cache side compose read), and its place."""
        entity = self.entities.get(row.entity_id)
        if entity is None:
            raise RecomposeError(f"entity {row.entity_id} of {row.image_id} is not in entities.parquet")
        try:
            colour, _ = scaled(cutout(entity, self.root, long, make=False), float(row.scale))
        except (OSError, ValueError, ImageReadError) as e:
            raise RecomposeError(f"entity cache of {row.entity_id}: {e}") from None
        return colour, int(row.x), int(row.y)

    def sample(self, image_id: str, matte_file: str, rng: np.random.Generator) -> Sample:
        """The image ``image_id`` composed anew over a drawn background; the target is ``matte_file``'s entity."""
        from clipmat.data import DataError, read_matte  # clipmat.data imports this module lazily: no cycle

        group = self.images[image_id]
        H, W = int(group.height.iloc[0]), int(group.width.iloc[0])
        long = int(np.ceil(SIZE_CACHE_HEADROOM * ComposeOptions().fill[1] * min(H, W)))  # what compose read
        denoise = rng.random() < P_DENOISE
        colour = np.zeros((H, W, 3), np.float32)  # sum_k m_k F_k
        total = np.zeros((H, W), np.float32)
        target = None
        for row in group.sort_values("slot").itertuples():
            try:
                m = read_matte(row.matte_file, (H, W))  # the pixel cap and the size check of every reader
            except DataError as e:
                raise RecomposeError(str(e)) from None
            f, x, y = self._layer(row, long)
            if denoise:
                f = cv2.fastNlMeansDenoisingColored(np.clip(np.rint(f), 0, 255).astype(np.uint8), None, 3, 3, 7, 21)
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
        try:
            bg = read_rgb(path).array
        except (OSError, ValueError, ImageReadError) as e:
            raise RecomposeError(f"background {path}: {e}") from None
        bg = _cover(bg, H, W, rng)
        if denoise:
            bg = cv2.fastNlMeansDenoisingColored(bg, None, 3, 3, 7, 21)
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


def _cover(bg: np.ndarray, H: int, W: int, rng: np.random.Generator) -> np.ndarray:
    """``bg`` scaled to cover H x W, then a random H x W window of it."""
    s = max(H / bg.shape[0], W / bg.shape[1])
    size = (max(W, int(np.ceil(bg.shape[1] * s))), max(H, int(np.ceil(bg.shape[0] * s))))
    bg = cv2.resize(bg, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    y = int(rng.integers(bg.shape[0] - H + 1))
    x = int(rng.integers(bg.shape[1] - W + 1))
    return np.ascontiguousarray(bg[y:y + H, x:x + W])
