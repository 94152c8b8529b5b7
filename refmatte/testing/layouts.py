"""Tiny synthetic copies of every supported dataset layout, bad inputs included.

Each builder writes a few entities of a few dozen pixels in the exact folder layout of its
dataset (REFERENCE.md section 4) and returns a :class:`Fixture`: what ingestion must decide
for every item (kept, or the reject reason) plus the ground-truth foreground, background
and alpha it was made from. The bad inputs cover every case ``refmatte ingest`` must
survive: truncated files, a matte of another size, 16-bit and 3-channel mattes, CMYK and
grayscale JPEGs, an EXIF-rotated JPEG, a missing matte, an orphan matte, an empty, a full
and a hard binary matte, a too-small image and (when scikit-image is installed) a real face.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SIZE = (48, 64)  # (H, W) of a regular fixture entity
MIN_SIDE = 32  # the --min-side to ingest fixtures with (the default 400 would reject all)


@dataclass
class Fixture:
    """Expected outcome per source key (None = kept) and ground truth per kept key."""

    root: Path
    expected: dict[str, str | None] = field(default_factory=dict)
    fg: dict[str, np.ndarray] = field(default_factory=dict)  # uint8 (H, W, 3), display orientation
    bg: dict[str, np.ndarray] = field(default_factory=dict)  # photo sources: the true background
    alpha: dict[str, np.ndarray] = field(default_factory=dict)  # uint8 (H, W)


def _soft_ellipse(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A soft-edged blob: an ellipse blurred into a 3-5 px transition band."""
    mask = np.zeros((h, w), np.uint8)
    centre = (int(w * rng.uniform(0.4, 0.6)), int(h * rng.uniform(0.4, 0.6)))
    axes = (int(w * rng.uniform(0.22, 0.32)), int(h * rng.uniform(0.25, 0.35)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    return cv2.GaussianBlur(mask, (0, 0), 1.5)


def _gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth colour gradient between two random colours."""
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    t = np.linspace(0, 1, w)[None, :, None] * 0.7 + np.linspace(0, 1, h)[:, None, None] * 0.3
    return np.clip(np.rint(c0 * (1 - t) + c1 * t), 0, 255).astype(np.uint8)


def _composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float64)[:, :, None] / 255.0
    return np.clip(np.rint(fg * a + bg * (1 - a)), 0, 255).astype(np.uint8)


def _save(arr: np.ndarray, path: Path, mode: str | None = None, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr)
    if mode:
        img = img.convert(mode)
    img.save(path, **({"quality": 95} if path.suffix == ".jpg" else {}) | kw)


class _Writer:
    """Writes entities of one dataset tree and records what ingestion must decide."""

    def __init__(self, root: Path, rng: np.random.Generator, photo: bool):
        self.fx = Fixture(root)
        self.rng = rng
        self.photo = photo

    def entity(self, image: Path, alpha: Path | None, expect: str | None = None, size=SIZE, variant: str = "") -> None:
        h, w = size
        a = _soft_ellipse(self.rng, h, w)
        fg, bg = _gradient(self.rng, h, w), _gradient(self.rng, h, w)
        if variant == "binary":
            a = np.where(a >= 128, 255, 0).astype(np.uint8)
        elif variant == "empty":
            a = np.zeros_like(a)
        elif variant == "full":
            a = np.full_like(a, 255)
        shown = _composite(fg, bg, a) if self.photo else fg
        key = image.relative_to(self.fx.root).as_posix()
        if variant == "exif":  # stored rotated, displayed upright through EXIF orientation 6
            raw = Image.fromarray(shown).transpose(Image.Transpose.ROTATE_90)
            exif = Image.Exif()
            exif[0x0112] = 6
            image.parent.mkdir(parents=True, exist_ok=True)
            raw.save(image, quality=95, exif=exif.tobytes())
        elif variant == "cmyk":
            _save(shown, image, "CMYK")
        elif variant == "gray":
            shown = np.repeat(np.asarray(Image.fromarray(shown).convert("L"))[:, :, None], 3, axis=2)
            _save(shown[:, :, 0], image)
        else:
            _save(shown, image)
        if variant == "truncated":
            data = image.read_bytes()
            image.write_bytes(data[: len(data) // 2])
        if alpha is not None:
            if variant == "alpha16":
                _save((a.astype(np.uint16) * 257), alpha)
            elif variant == "alpha3":
                _save(np.repeat(a[:, :, None], 3, axis=2), alpha)
            elif variant == "mismatch":
                _save(cv2.resize(a, (w + 8, h)), alpha)
            else:
                _save(a, alpha)
        self.fx.expected[key] = expect
        if expect is None:
            self.fx.fg[key], self.fx.alpha[key] = fg, a
            if self.photo:
                self.fx.bg[key] = bg

    def orphan_alpha(self, alpha: Path) -> None:
        _save(_soft_ellipse(self.rng, *SIZE), alpha)
        self.fx.expected[alpha.relative_to(self.fx.root).as_posix()] = "missing_image"


def _face(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """A real photographed face (scikit-image's astronaut), 128 px, soft matte; or None."""
    try:
        from skimage import data
    except ImportError:
        return None
    face = cv2.resize(data.astronaut()[0:256, 128:384], (128, 128), interpolation=cv2.INTER_AREA)
    alpha = np.zeros((128, 128), np.uint8)
    cv2.ellipse(alpha, (64, 69), (54, 61), 0, 0, 360, 255, -1)
    return face, cv2.GaussianBlur(alpha, (0, 0), 1.5)


def _rekey(fx: Fixture, f: Callable[[str], str]) -> Fixture:
    for d in (fx.expected, fx.fg, fx.bg, fx.alpha):
        for k in list(d):
            d[f(k)] = d.pop(k)
    return fx


def am2k(root: Path, rng: np.random.Generator) -> Fixture:
    w = _Writer(root, rng, photo=True)
    for i in range(2):
        w.entity(root / f"train/original/m_0000000{i}.jpg", root / f"train/mask/m_0000000{i}.png")
    w.entity(root / "train/original/m_00000009.jpg", None, "missing_alpha")
    w.entity(root / "train/original/m_00000008.jpg", root / "train/mask/m_00000008.png", "unreadable_image", variant="truncated")
    w.entity(root / "validation/original/m_10000000.jpg", root / "validation/mask/m_10000000.png")
    _save(np.full(SIZE, 128, np.uint8), root / "validation/trimap/m_10000000.png")
    return w.fx


def p3m10k(root: Path, rng: np.random.Generator) -> Fixture:
    w = _Writer(root, rng, photo=True)
    w.entity(root / "train/blurred_image/p_0001.jpg", root / "train/mask/p_0001.png")
    w.entity(root / "train/blurred_image/p_0002.jpg", root / "train/mask/p_0002.png", variant="alpha16")
    w.entity(root / "validation/P3M-500-P/blurred_image/p_1001.jpg", root / "validation/P3M-500-P/mask/p_1001.png")
    w.entity(root / "validation/P3M-500-NP/original_image/np_1.jpg", root / "validation/P3M-500-NP/mask/np_1.png", variant="alpha3")
    return w.fx


def aim500(root: Path, rng: np.random.Generator) -> Fixture:
    w = _Writer(root, rng, photo=True)
    w.entity(root / "original/o_0001.jpg", root / "mask/o_0001.png")
    w.entity(root / "original/o_0002.jpg", root / "mask/o_0002.png", variant="cmyk")
    w.entity(root / "original/o_0003.jpg", root / "mask/o_0003.png", variant="gray")
    (root / "trimap").mkdir(parents=True, exist_ok=True)
    (root / "aim_category_type.json").write_text(json.dumps({"SO": ["o_0001.jpg"], "STM": ["o_0002.jpg"], "NS": ["o_0003.jpg"]}))
    return w.fx


def dim(root: Path, rng: np.random.Generator) -> Fixture:
    w = _Writer(root, rng, photo=False)
    base = root / "Combined_Dataset"
    adobe, other, test = base / "Training_set/Adobe-licensed images", base / "Training_set/Other", base / "Test_set/Adobe-licensed images"
    w.entity(adobe / "fg/glass_01.png", adobe / "alpha/glass_01.png")
    w.entity(adobe / "fg/hair_02.jpg", adobe / "alpha/hair_02.jpg")
    w.entity(other / "fg/cutout_03.png", other / "alpha/cutout_03.png", "alpha_binary", variant="binary")
    w.entity(test / "fg/dog_04.png", test / "alpha/dog_04.png", "alpha_size_mismatch", variant="mismatch")
    face = _face(rng)
    if face is not None:
        _save(face[0], adobe / "fg/portrait_05.png")
        _save(face[1], adobe / "alpha/portrait_05.png")
        w.fx.expected[(adobe / "fg/portrait_05.png").relative_to(root).as_posix()] = "identifiable_face"
    (base / "Training_set/training_fg_names.txt").write_text("glass_01.png\nhair_02.jpg\ncutout_03.png\n")
    return _rekey(w.fx, lambda k: k.removeprefix("Combined_Dataset/"))  # keys start below Combined_Dataset


def d646(root: Path, rng: np.random.Generator) -> Fixture:
    w = _Writer(root, rng, photo=False)
    w.entity(root / "Train/FG/bear_1.png", root / "Train/GT/bear_1.png")
    w.entity(root / "Train/FG/plant_2.jpg", root / "Train/GT/plant_2.png", variant="exif")
    w.entity(root / "Test/FG/net_3.png", root / "Test/GT/net_3.png", "alpha_empty", variant="empty")
    return w.fx


def sim(root: Path, rng: np.random.Generator) -> Fixture:
    w = _Writer(root, rng, photo=False)
    w.entity(root / "fire/fg/fire_1.png", root / "fire/alpha/fire_1.png")
    w.entity(root / "net/fg/net_1.png", root / "net/alpha/net_1.png")
    w.entity(root / "net/fg/net_2.png", root / "net/alpha/net_2.png", "too_small", size=(20, 24))
    w.entity(root / "glass_ice/fg/glass_1.png", root / "glass_ice/alpha/glass_1.png", "alpha_full", variant="full")
    return w.fx


def folder(root: Path, rng: np.random.Generator) -> Fixture:
    w = _Writer(root, rng, photo=True)
    w.entity(root / "image/a.jpg", root / "alpha/a.png")
    w.entity(root / "image/b.png", root / "alpha/b.png")
    w.orphan_alpha(root / "alpha/c.png")
    return _rekey(w.fx, lambda k: f"{root.name}/{k}")  # folder keys start with the folder's name


def bg20k(root: Path, rng: np.random.Generator) -> Fixture:
    fx = Fixture(root)
    for split, names in (("train", ["h_0001", "h_0002", "h_0003"]), ("testval", ["h_1001"])):
        for name in names:
            path = root / split / f"{name}.jpg"
            _save(_gradient(rng, 72, 96), path)
            fx.expected[path.relative_to(root).as_posix()] = None
    bad = root / "testval/h_1002.jpg"
    _save(_gradient(rng, 72, 96), bad)
    bad.write_bytes(bad.read_bytes()[:300])
    fx.expected["testval/h_1002.jpg"] = "unreadable_image"
    small = root / "testval/h_1003.jpg"
    _save(_gradient(rng, 20, 24), small)
    fx.expected["testval/h_1003.jpg"] = "too_small"
    return fx


BUILDERS: dict[str, Callable[[Path, np.random.Generator], Fixture]] = {
    "am2k": am2k, "p3m10k": p3m10k, "aim500": aim500, "dim": dim, "d646": d646, "sim": sim, "folder": folder, "bg20k": bg20k,
}
# The folder name each dataset is usually unpacked into.
FOLDER_NAMES = {"am2k": "AM-2k", "p3m10k": "P3M-10k", "aim500": "AIM-500", "dim": "DIM", "d646": "Distinctions-646", "sim": "SIMD", "folder": "my_entities", "bg20k": "BG-20k"}


def build_layout(kind: str, parent: Path, seed: int = 0) -> Fixture:
    """Build the fixture tree of ``kind`` under ``parent/<usual folder name>``."""
    rng = np.random.default_rng([seed, list(BUILDERS).index(kind)])
    return BUILDERS[kind](Path(parent) / FOLDER_NAMES[kind], rng)


def build_all(parent: Path, seed: int = 0) -> dict[str, Fixture]:
    return {kind: build_layout(kind, parent, seed) for kind in BUILDERS}
