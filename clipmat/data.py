"""Training and evaluation samples from a composite manifest (``<split>.parquet``).

One sample is one (image, entity) row: the composite, the entity's matte, a trimap made
online from the matte, and the text: the keyword (``keyword_valid`` rows) or one of the
entity's expressions. Paths in the manifest are relative to its folder. This module
knows nothing of the model: it returns arrays and strings; the tokenizer is passed in.

Augmentation for training follows GFM's RSSN and P3M's crops (REFERENCE section 3), each
draw from a generator seeded by (seed, epoch, row), so batches do not depend on the
number of workers. Two sources of the image (``recompose``, `clipmat train --augment`):
``rssn`` composes each sample anew from the entities over a background of
``backgrounds.parquet`` with RSSN's denoising and background blur, and gives the
foreground and background for the composition loss (:mod:`clipmat.rssn`); ``stored``
(the default until it is measured against RSSN) takes the composite as written:
- with p=0.5 the background is replaced by a random texture, using the union of the
  image's mattes (:mod:`clipmat.augment`): composites reuse few backgrounds;
- with p=0.5 a square crop of 1, 1.5 or 2 times the input size, centred on a transition
  pixel of the matte (clamped to the image); otherwise the largest square centred on the
  entity, so the aspect ratio is kept as it is at evaluation;
- with p=0.5 a horizontal flip. The text is mirrored with it: left <-> right and
  leftmost <-> rightmost, so absolute and relative expressions stay true (the grammar
  has no other left/right words);
- resize to the model's square input;
- with p=0.25 a Gaussian blur (sigma 0.5-1.5; stored composites only, which carry no
  separate background: RSSN blurs the background alone) and with p=0.5 Gaussian noise
  (sigma 10/255), after compositing as RSSN adds it.
At evaluation nothing is drawn: the keyword gets the first matting template, and an
expression is the manifest's ``eval_expression`` index when set, else one picked by a
hash of the row (recorded in the output).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from clipmat.augment import swap_background
from clipmat.model.prompt import keyword_prompt
from refmatte.imaging import ImageReadError, read_cv2

SETTINGS = ("keyword", "expression")
BACKGROUND_SWAP = 0.5  # share of training samples whose background is replaced (clipmat/augment.py)
REQUIRED = ("image_path", "matte_path", "keyword", "keyword_valid", "expressions")
_MIRROR = {"left": "right", "right": "left", "leftmost": "rightmost", "rightmost": "leftmost"}
_MIRROR_RE = re.compile(r"\b(leftmost|rightmost|left|right)\b", re.IGNORECASE)


class DataError(ValueError):
    """A manifest or file that cannot be used; the message names it."""


def mirror_text(text: str) -> str:
    """Swap left and right words, as a horizontal flip does to the scene."""
    def swap(m: re.Match) -> str:
        word = _MIRROR[m.group(0).lower()]
        return word.capitalize() if m.group(0)[0].isupper() else word
    return _MIRROR_RE.sub(swap, text)


def make_trimap(alpha: np.ndarray, kernel: int) -> np.ndarray:
    """Trimap class ids (H, W) uint8 from alpha (H, W) in [0, 1]: 0 background, 1 transition, 2 foreground.

    Foreground and background are the opaque and empty pixels eroded by an elliptical
    kernel of ``kernel`` pixels; everything else is transition (GFM's online trimaps).
    """
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    fg = cv2.erode((alpha >= 1 - 1e-3).astype(np.uint8), k)
    bg = cv2.erode((alpha <= 1e-3).astype(np.uint8), k)
    trimap = np.ones(alpha.shape, np.uint8)
    trimap[fg == 1] = 2
    trimap[bg == 1] = 0
    return trimap


def _declared_fields() -> list:
    """The declared types of the columns clipmat reads (composite and benchmark manifests agree on them)."""
    from refmatte.schema import BENCHMARK_SCHEMA, COMPOSITE_SCHEMA

    return [COMPOSITE_SCHEMA.field(c) for c in REQUIRED] + [BENCHMARK_SCHEMA.field("eval_expression")]


def read_manifest(path: str | Path, setting: str | None) -> pd.DataFrame:
    """Rows of a composite manifest usable in ``setting`` (all rows when None), with absolute file paths.

    Column types are checked against the datasheet: a string where a bool or a list of
    expressions is declared is an error naming the column, never a coercion.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from refmatte.compose.run import check_committed
    from refmatte.schema import check_columns

    path = Path(path)
    if setting is not None and setting not in SETTINGS:
        raise DataError(f"setting must be one of {', '.join(SETTINGS)}, got {setting!r}")
    if not path.is_file():
        raise DataError(f"manifest {path} does not exist")
    try:
        check_committed(path)
    except ValueError as e:
        raise DataError(str(e)) from None
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a non-Parquet file
        raise DataError(f"manifest {path} is not a readable Parquet file: {e}") from None
    missing = [c for c in REQUIRED if c not in table.schema.names]
    if missing:
        raise DataError(f"manifest {path} lacks column(s) {', '.join(missing)}: is it a composite manifest "
                        "(refmatte compose, import-refmatte or import-rw100)?")
    try:
        table = check_columns(table, _declared_fields(), f"manifest {path}")
    except (ValueError, pa.ArrowException) as e:
        raise DataError(str(e)) from None
    rows = table.to_pandas()
    root = path.parent
    rows["image_file"] = [str(root / p) for p in rows.image_path]
    rows["matte_file"] = [str(root / p) for p in rows.matte_path]
    return usable(rows, setting)


def usable(rows: pd.DataFrame, setting: str | None) -> pd.DataFrame:
    """The rows of a read manifest that take part in ``setting`` (all when None), renumbered from 0."""
    if setting == "keyword":
        rows = rows[rows.keyword_valid.fillna(False).astype(bool) & rows.keyword.notna()]
    elif setting == "expression":
        rows = rows[rows.expressions.map(lambda e: e is not None and len(e) > 0).astype(bool)]  # bool even when empty
    return rows.reset_index(drop=True).copy()


def eval_text(row: pd.Series, setting: str, templates: bool = True) -> str:
    """The fixed text a row is evaluated with (``templates``: the model's pre-embedding context)."""
    if setting == "keyword":
        return keyword_prompt(row.keyword, templates=templates)
    exprs = list(row.expressions)
    index = row.get("eval_expression")
    if index is None or pd.isna(index) or not 0 <= int(index) < len(exprs):
        index = zlib.crc32(str(row.matte_path).encode()) % len(exprs)
    return exprs[int(index)]


def read_image(image_file: str) -> np.ndarray:
    """RGB uint8 (H, W, 3); DataError naming a missing, unreadable or oversized file (pixel cap)."""
    try:
        return cv2.cvtColor(read_cv2(image_file, cv2.IMREAD_COLOR, "image"), cv2.COLOR_BGR2RGB)
    except ImageReadError as e:
        raise DataError(f"image {e}") from None


def read_matte(matte_file: str, shape: tuple[int, ...]) -> np.ndarray:
    """Alpha float32 (H, W) in [0, 1] of an image of ``shape``; DataError naming a bad or mismatched file."""
    try:
        matte = read_cv2(matte_file, cv2.IMREAD_GRAYSCALE, "matte")
    except ImageReadError as e:
        raise DataError(f"matte {e}") from None
    if matte.shape != tuple(shape[:2]):
        raise DataError(f"matte {matte_file} is {matte.shape[1]}x{matte.shape[0]} but its image is "
                        f"{shape[1]}x{shape[0]}")
    return matte.astype(np.float32) / 255.0


def read_pair(image_file: str, matte_file: str) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3) and alpha float32 (H, W) in [0, 1]; DataError naming a bad or mismatched file."""
    image = read_image(image_file)
    return image, read_matte(matte_file, image.shape)


class MatteDataset:
    """Samples of one manifest in one setting (a map-style dataset for torch's DataLoader).

    ``tokenize(texts, length)`` turns strings into token ids. Items are dicts of numpy
    arrays: image float32 (3, S, S) in [0, 1], alpha float32 (1, S, S), trimap int64
    (S, S), tokens int64 (L,), plus text and row. A file that cannot be read gives an
    item with ``error`` set instead (the loader's collate drops it and the trainer reports it).
    """

    def __init__(self, manifest: str | Path, setting: str, size: int, text_length: int,
                 tokenize: Callable, train: bool, seed: int = 0, trimap_kernel: int = 25, templates: bool = True,
                 recompose: bool = False, coarse: bool = False):
        everyone = read_manifest(manifest, None)
        self.recomposer = None
        if recompose and train:  # RSSN: every sample composed anew from the entities (clipmat.rssn)
            from clipmat.rssn import Recomposer, RecomposeError

            try:
                self.recomposer = Recomposer(everyone, Path(manifest).parent)
            except RecomposeError as e:
                raise DataError(f"--augment rssn: {e}") from None
        self.rows = usable(everyone, setting)
        self.peers = everyone.groupby("image_file").matte_file.apply(list).to_dict()  # every matte of each image
        self.manifest, self.setting, self.size, self.train, self.seed = Path(manifest), setting, size, train, seed
        self.text_length, self.tokenize, self.templates = text_length, tokenize, templates
        self.kernel = max(3, round(trimap_kernel * size / 512)) | 1  # given at 512 px, odd
        self.epoch = 0
        self.coarse = coarse and train  # the refiner's input: the true matte degraded (clipmat.refiner.degrade)

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """Sample ``key``: a row number (of the epoch :meth:`set_epoch` gave), or (epoch, row) as the
        trainer's sampler yields them, so that persistent loader processes need no message per epoch."""
        epoch, i = key if isinstance(key, tuple) else (self.epoch, key)
        row = self.rows.iloc[i]
        if self.recomposer is not None:
            return self._recomposed(row, i, epoch)
        try:
            image, alpha = read_pair(row.image_file, row.matte_file)
        except DataError as e:
            return {"error": str(e), "row": i}
        if self.train:
            rng = np.random.default_rng([self.seed, epoch, i])
            if rng.random() < BACKGROUND_SWAP:
                try:
                    union = np.clip(sum(read_matte(m, image.shape) for m in self.peers[row.image_file]), 0, 1)
                except DataError as e:
                    return {"error": str(e), "row": i}
                image = swap_background(image, union, rng)
            image, alpha, text = self._augment(image, alpha, row, rng)
        else:
            image, alpha, text = self._resize(image), self._resize(alpha), eval_text(row, self.setting, self.templates)
        tokens = np.asarray(self.tokenize([text], self.text_length)[0], dtype=np.int64)
        return self._with_coarse({"image": image.transpose(2, 0, 1).astype(np.float32) / 255.0, "alpha": alpha[None],
                                  "trimap": make_trimap(alpha, self.kernel).astype(np.int64), "tokens": tokens,
                                  "text": text, "row": i}, epoch, i)

    def _with_coarse(self, item: dict, epoch: int, i: int) -> dict:
        if self.coarse:
            from clipmat.refiner import degrade

            rng = np.random.default_rng([self.seed, epoch, i, 1])  # its own stream: the other draws stay as they were
            item["coarse"] = degrade(item["alpha"][0], rng)[None]
        return item

    def _recomposed(self, row, i: int, epoch: int) -> dict:
        """A training sample composed anew (RSSN), with the foreground and background the
        composition loss needs, cropped, flipped and resized like the image."""
        from clipmat.rssn import RecomposeError

        rng = np.random.default_rng([self.seed, epoch, i])
        try:
            s = self.recomposer.sample(row.image_id, row.matte_file, rng)
        except RecomposeError as e:
            return {"error": str(e), "row": i}
        image, alpha, text, (fg, bg) = self._augment(s.image, s.alpha, row, rng, extras=(s.fg, s.bg))
        tokens = np.asarray(self.tokenize([text], self.text_length)[0], dtype=np.int64)
        chw = lambda x: x.transpose(2, 0, 1).astype(np.float32) / 255.0  # noqa: E731
        return self._with_coarse({"image": chw(image), "alpha": alpha[None], "fg": chw(fg), "bg": chw(bg),
                                  "trimap": make_trimap(alpha, self.kernel).astype(np.int64), "tokens": tokens,
                                  "text": text, "row": i}, epoch, i)

    def _resize(self, x: np.ndarray) -> np.ndarray:
        shrink = min(x.shape[:2]) > self.size
        return cv2.resize(np.ascontiguousarray(x), (self.size, self.size),
                          interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

    def _augment(self, image, alpha, row, rng: np.random.Generator, extras: tuple = ()):
        """Crop, flip, resize (``extras`` alike); blur and noise on the image only. With ``extras``
        (RSSN's foreground and background) the image stays float and is not blurred: RSSN blurred
        the background alone."""
        text = keyword_prompt(row.keyword, rng, self.templates) if self.setting == "keyword" else \
            str(row.expressions[int(rng.integers(len(row.expressions)))])
        h, w = alpha.shape
        if rng.random() < 0.5:  # crop centred on the transition band
            side = min(int(self.size * rng.choice([1.0, 1.5, 2.0])), h, w)
            band = np.argwhere((alpha > 0.01) & (alpha < 0.99))
            cy, cx = band[rng.integers(len(band))] if len(band) else (h // 2, w // 2)
        else:  # the largest square around the entity, so resizing never changes the aspect ratio
            side = min(h, w)
            ys, xs = np.nonzero(alpha > 0.5)
            cy, cx = (int(ys.mean()), int(xs.mean())) if len(ys) else (h // 2, w // 2)
        y0 = int(np.clip(cy - side // 2, 0, h - side))
        x0 = int(np.clip(cx - side // 2, 0, w - side))
        image, alpha = image[y0:y0 + side, x0:x0 + side], alpha[y0:y0 + side, x0:x0 + side]
        extras = [x[y0:y0 + side, x0:x0 + side] for x in extras]
        if rng.random() < 0.5:
            image, alpha, text = image[:, ::-1], alpha[:, ::-1], mirror_text(text)
            extras = [x[:, ::-1] for x in extras]
        image, alpha, extras = self._resize(image), self._resize(alpha), [self._resize(x) for x in extras]
        if not extras and rng.random() < 0.25:
            image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 1.5)))
        if rng.random() < 0.5:
            noise = rng.normal(0, 10, image.shape)
            image = np.clip(image.astype(np.float64) + noise, 0, 255).astype(image.dtype)
        return (image, alpha, text, extras) if extras else (image, alpha, text)


def collate(items: list[dict]) -> dict:
    """Stack good items into a batch; ``errors`` lists the messages of the bad ones."""
    import torch

    good = [it for it in items if "error" not in it]
    batch = {"errors": [it["error"] for it in items if "error" in it]}
    if good:
        for key in ("image", "alpha", "trimap", "tokens"):
            batch[key] = torch.from_numpy(np.stack([it[key] for it in good]))
        for keys in (("fg", "bg"), ("coarse",)):  # RSSN: what the composition loss needs; the refiner's input
            if all(keys[0] in it for it in good):
                for key in keys:
                    batch[key] = torch.from_numpy(np.stack([it[key] for it in good]))
        batch["text"] = [it["text"] for it in good]
        batch["row"] = [it["row"] for it in good]
    return batch
