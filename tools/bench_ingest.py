"""Ingestion throughput at 1024x1024 against the floor for the same work.

The floor is what any ingester must do per entity: decode the image and the matte, estimate
the foreground (photographs only) and encode the RGBA cache. The ratio ingest/floor shows
the cost of everything else (scanning, stats, filters, face check, atomic writes, Parquet).

Usage: python tools/bench_ingest.py [--n 24] [--size 1024] [--workers 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from refmatte.entity import IngestOptions
from refmatte.filters import FilterOptions
from refmatte.foreground import estimate_foreground
from refmatte.imaging import encode_rgba_png, read_alpha, read_rgb
from refmatte.ingest import ENTITIES, ingest
from refmatte.sources import Folder


def _textures(size: int) -> list[np.ndarray]:
    """Real photographs that ship in scikit-image's wheel, resized to size x size RGB."""
    from skimage import data

    out = []
    for name in ("chelsea", "coffee", "rocket", "hubble_deep_field", "brick", "grass", "gravel", "horse"):
        im = getattr(data, name)()
        if im.ndim == 2:
            im = np.dstack([(im * 255 if im.dtype == bool else im).astype(np.uint8)] * 3)
        out.append(cv2.resize(im[:, :, :3], (size, size), interpolation=cv2.INTER_CUBIC))
    return out


def make_inputs(root: Path, n: int, size: int, photo: bool) -> None:
    """n entities of size x size: a real-photo foreground and a soft matte with hair strands."""
    rng = np.random.default_rng(0)
    textures = _textures(size)
    (root / "image").mkdir(parents=True)
    (root / "alpha").mkdir()
    for i in range(n):
        a = np.zeros((size, size), np.uint8)
        cv2.ellipse(a, (size // 2, size // 2), (size // 4, size // 3), float(rng.uniform(0, 180)), 0, 360, 255, -1)
        for _ in range(200):  # hair-like strands crossing the edge
            x, y = rng.integers(size // 5, 4 * size // 5, 2)
            cv2.line(a, (int(x), int(y)), (int(x + rng.integers(-80, 80)), int(y + rng.integers(-80, 80))), 160, 1, cv2.LINE_AA)
        a = cv2.GaussianBlur(a, (0, 0), 2.0)
        fg = textures[i % len(textures)]
        if photo:
            bg = textures[(i + 3) % len(textures)][::-1]
            af = a[:, :, None] / 255.0
            img = np.rint(fg * af + bg * (1 - af)).astype(np.uint8)
            Image.fromarray(img).save(root / f"image/{i:04d}.jpg", quality=95)
        else:
            Image.fromarray(fg).save(root / f"image/{i:04d}.png")
        Image.fromarray(a).save(root / f"alpha/{i:04d}.png")


def floor(root: Path, photo: bool, compression: int) -> float:
    t = time.perf_counter()
    for img_path in sorted((root / "image").iterdir()):
        rgb = read_rgb(img_path).array
        a = read_alpha(root / "alpha" / f"{img_path.stem}.png").array
        fg = estimate_foreground(rgb, a) if photo else rgb
        encode_rgba_png(fg, a, compression)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    opts = IngestOptions(FilterOptions(min_side=64))
    estimate_foreground(np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 128, np.uint8))  # numba warm-up

    rows = []
    for photo in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "data"
            make_inputs(root, args.n, args.size, photo)
            t_floor = floor(root, photo, opts.png_compression)
            t0 = time.perf_counter()
            s = ingest(ENTITIES, Folder(image_is_foreground=not photo, face_filter=not photo), root, Path(tmp) / "m", opts, workers=args.workers)
            t_ingest = time.perf_counter() - t0
            assert s.kept == args.n, s.reasons
            rows.append(("photo (fg estimated)" if photo else "foreground given (+face check)", args.n / t_ingest, args.n / t_floor, t_ingest / t_floor))

    print(f"\ningest at {args.size}x{args.size}, {args.n} entities, workers={args.workers}")
    print(f"| {'input':<32} | {'ingest ent/s':>12} | {'floor ent/s':>11} | {'ratio':>5} |")
    print(f"| {'-' * 32} | {'-' * 12} | {'-' * 11} | {'-' * 5} |")
    for name, rate, frate, ratio in rows:
        print(f"| {name:<32} | {rate:12.2f} | {frate:11.2f} | {ratio:5.2f} |")


if __name__ == "__main__":
    main()
