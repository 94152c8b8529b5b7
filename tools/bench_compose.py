"""Compose throughput against the codec floor, at 1024 px (and 1600 px), 1 and 2 workers.

Generates entities (photographs of scikit-image textures with soft elliptical mattes,
canvas-sized or ``--entity-side`` px square, cached as RGBA PNGs like ingest does) and
backgrounds, annotates their super-
categories, then composes with `refmatte compose` and measures, in the same run, the
codec floor for the same images: decoding the RGBA caches and the background, encoding
the JPEG and the PNG mattes. Prints images/s, the ratio to the floor, the speed-up of 2
workers, the peak memory of a worker and the time 47,500 images would take per core.

Entities larger than compose draws them are read from its size cache (cache/compose/): a
first, unmeasured compose makes it, and the floor decodes those cached copies, since they
are what compose must read.

Usage: python tools/bench_compose.py [--images 48] [--sizes 1024,1600] [--entity-side 2400]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from refmatte.compose import ComposeOptions, compose
from refmatte.imaging import encode_rgba_png, read_rgb, read_rgba
from refmatte.schema import BACKGROUND_SCHEMA, ENTITY_SCHEMA

SUPERS = ["human"] * 10 + ["animal"] * 2 + ["object"] * 2


def _textures(size: int) -> list[np.ndarray]:
    from skimage import data

    out = []
    for name in ("chelsea", "coffee", "rocket", "hubble_deep_field", "astronaut"):
        im = getattr(data, name)()[:, :, :3]
        out.append(cv2.resize(im, (size, size), interpolation=cv2.INTER_CUBIC))
    return out


def make_inputs(folder: Path, size: int, entity_side: int | None = None) -> None:
    rng = np.random.default_rng(0)
    bg_tex = _textures(size)
    size = entity_side or size
    tex = _textures(size)
    (folder / "cache/rgba").mkdir(parents=True)
    (folder / "bg").mkdir()
    rows, bgs = [], []
    for i, sup in enumerate(SUPERS):
        alpha = np.zeros((size, size), np.uint8)
        cv2.ellipse(alpha, (size // 2, size // 2), (int(size * rng.uniform(0.2, 0.45)), int(size * rng.uniform(0.3, 0.45))), 0, 0, 360, 255, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 3)
        rel = f"cache/rgba/e{i}.png"
        (folder / rel).write_bytes(encode_rgba_png(tex[i % len(tex)], alpha))
        row = {f.name: None for f in ENTITY_SCHEMA}
        row.update(entity_id=f"bench-{i:03d}", source="bench", source_key=f"e{i}", source_split="train", image_path=rel,
                   image_is_foreground=True, source_fingerprint="x", config_hash="x", input_fixes=[], rgba_path=rel,
                   category=f"thing{i}", supercategory=sup, width=size, height=size)
        rows.append(row)
    for i in range(6):
        rel = f"bg/b{i}.jpg"
        cv2.imwrite(str(folder / rel), bg_tex[(i + 2) % len(bg_tex)][..., ::-1])
        row = {f.name: None for f in BACKGROUND_SCHEMA}
        row.update(background_id=f"bg-{i}", source="bench", source_key=rel, source_split="train", image_path=rel,
                   width=bg_tex[0].shape[1], height=bg_tex[0].shape[0], source_fingerprint="x", config_hash="x",
                   input_fixes=[])
        bgs.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema=ENTITY_SCHEMA), folder / "entities.parquet")
    pq.write_table(pa.Table.from_pylist(bgs, schema=BACKGROUND_SCHEMA), folder / "backgrounds.parquet")


def floor(folder: Path, split_rows) -> float:
    """Decode caches + background, encode JPEG + mattes, for the same images, in one process."""
    t = time.perf_counter()
    for image_id, rows in split_rows.items():
        for r in rows:
            sized = sorted((folder / "cache/compose").glob(f"{r['entity_id']}-*.png"))  # what compose reads, if made
            read_rgba(sized[0] if sized else folder / r["entity_path"])
            cv2.imencode(".png", cv2.imread(str(folder / r["matte_path"]), cv2.IMREAD_UNCHANGED), [cv2.IMWRITE_PNG_COMPRESSION, 3])
        read_rgb(folder / rows[0]["bg_path"])
        cv2.imencode(".jpg", cv2.imread(str(folder / rows[0]["image_path"])), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return time.perf_counter() - t


def floor_rate(folder: Path) -> float:
    """Images/s of the codec floor for the images of ``folder``/train.parquet, in one process."""
    m = pq.read_table(folder / "train.parquet").to_pylist()
    ents = {r["entity_id"]: r["rgba_path"] for r in pq.read_table(folder / "entities.parquet").to_pylist()}
    bgs = {r["background_id"]: r["image_path"] for r in pq.read_table(folder / "backgrounds.parquet").to_pylist()}
    by_image = {}
    for r in m:
        by_image.setdefault(r["image_id"], []).append(dict(r, entity_path=ents[r["entity_id"]], bg_path=bgs[r["background_id"]]))
    return len(by_image) / floor(folder, by_image)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--sizes", default="1024,1600")
    ap.add_argument("--entity-side", type=int, default=None, help="entity side in px (default: the canvas size)")
    args = ap.parse_args()
    print(f"\n| {'size':>5} | {'workers':>7} | {'images/s':>8} | {'floor images/s':>14} | {'vs floor':>8} | {'speed-up':>8} | {'47,500 images, 1 core':>21} |")
    print(f"|{'-' * 7}|{'-' * 9}|{'-' * 10}|{'-' * 16}|{'-' * 10}|{'-' * 10}|{'-' * 23}|")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            make_inputs(folder, size, args.entity_side)
            n_groups = 2  # 10 humans -> 2 groups
            opts = ComposeOptions(split="train", per_group=args.images // n_groups, min_category_size=1, long_side=size)
            rates = {}
            if args.entity_side and args.entity_side > size:
                compose(folder, opts, workers=2)  # makes the size cache (unmeasured), as a first real run would
            for workers in (1, 2):
                for p in list((folder / "images").rglob("*")) + list((folder / "mattes").rglob("*")) if (folder / "images").exists() else []:
                    if p.is_file():
                        p.unlink()
                (folder / "train.parquet").unlink(missing_ok=True)
                t = time.perf_counter()
                s = compose(folder, opts, workers=workers)
                rates[workers] = s.rendered / (time.perf_counter() - t)
            f_rate = floor_rate(folder)
            for workers in (1, 2):
                hours = 47_500 / rates[1] / 3600
                scaled = f_rate * workers  # the floor scales perfectly: it is the same work split in two
                print(f"| {size:5d} | {workers:7d} | {rates[workers]:8.2f} | {scaled:14.2f} | {scaled / rates[workers]:7.2f}x | "
                      f"{rates[workers] / rates[1]:7.2f}x | {f'{hours:.1f} h' if workers == 1 else '':>21} |")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak resident memory of a worker process: {peak:.0f} MiB (ru_maxrss of the spawned workers)")
    print("vs floor = floor speed / compose speed (1.00x would be compose at codec speed); with 2 workers the floor is")
    print("twice the one-process floor (perfect scaling), so that ratio also charges imperfect scaling to compose.")


if __name__ == "__main__":
    main()
