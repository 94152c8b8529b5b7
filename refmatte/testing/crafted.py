"""Crafted inputs for tests and benchmarks: a decompression bomb, soft mattes, a small folder source."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_bomb(path: Path, side: int = 20000) -> Path:
    """A valid 8-bit grey PNG of side x side zeros: about 400 KB on disk, side**2 bytes decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    z, body = zlib.compressobj(9), []
    row = bytes(side + 1)  # filter byte 0, then the pixels
    for _ in range(side):
        body.append(z.compress(row))
    body.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(body)) + chunk(b"IEND", b""))
    return path


def soft_alpha(h: int, w: int) -> np.ndarray:
    """A soft-edged ellipse (uint8), a matte every filter keeps."""
    yy, xx = np.mgrid[:h, :w]
    d = ((yy - h / 2) / (0.35 * h)) ** 2 + ((xx - w / 2) / (0.3 * w)) ** 2
    return np.clip((1.2 - d) / 0.4 * 255, 0, 255).astype(np.uint8)


def folder_source(root: Path, names=("a", "b"), size=(48, 64)) -> Path:
    """``root/{image,alpha}/<name>.png``: a small folder source of good entities."""
    rng = np.random.default_rng(0)
    for d in ("image", "alpha"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / "image" / f"{n}.png")
        Image.fromarray(soft_alpha(*size)).save(root / "alpha" / f"{n}.png")
    return root


# The paper's entity pool (3.3): humans, animals, objects per split, before duplication.
PAPER_POOL = {"train": {"human": 9186, "animal": 1800, "object": 813}, "test": {"human": 977, "animal": 200, "object": 211}}


def paper_manifests(out: Path, pool: dict = PAPER_POOL, categories: int = 230, backgrounds: int = 100) -> Path:
    """``out/entities.parquet`` and ``backgrounds.parquet`` with the paper's pool sizes: rows as
    ingest and annotate write them (no pixels: for planning, ``compose --dry-run``)."""
    from refmatte.ingest import write_rows
    from refmatte.schema import BACKGROUND_SCHEMA, ENTITY_SCHEMA

    out.mkdir(parents=True, exist_ok=True)
    common = dict(source="folder", source_fingerprint="-", config_hash="-", input_fixes=[])
    entities = []
    for split, sizes in pool.items():
        for supercategory, n in sizes.items():
            for i in range(n):
                key = f"{split}/{supercategory}/{i:05d}.png"
                entities.append(dict(common, entity_id=f"folder-{split[:2]}{supercategory[:2]}{i:06d}", source_key=key,
                                     source_split=split, image_is_foreground=True, supercategory=supercategory,
                                     category=f"{supercategory}-{i % (categories // 3)}",
                                     rgba_path=f"cache/rgba/{split}-{supercategory}-{i}.png"))
    write_rows(out / "entities.parquet", entities, ENTITY_SCHEMA, "entity_id")
    bgs = [dict(common, background_id=f"folder-bg{split[:2]}{i:05d}", source_key=f"{split}/{i}.jpg", source_split=split)
           for split in pool for i in range(backgrounds)]
    write_rows(out / "backgrounds.parquet", bgs, BACKGROUND_SCHEMA, "background_id")
    return out
