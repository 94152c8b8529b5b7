"""The embedded sample pool (package data, ``refmatte/sample/``): no download needed.

Layout: ``entities/{fg,alpha}/<key>.png`` plus ``entities/truth.csv`` (key, split,
category, supercategory, attributes as JSON, origin), ``backgrounds/{train,test}/*.jpg``,
``trimaps/`` (the hand-drawn trimaps of the three photographs) and ``LICENSES.md``.
43 entities in 36 categories (11 human, 13 animal, 19 object, 6 of them transparent or
meticulous) and 11 backgrounds; 3 photographs matted with pymatting, Twemoji clip-art
and procedural glass, smoke, seed head, net, bubble and bag. Foregrounds are given. Every
entity carries its ground truth (category in ``source_label``, ``source_supercategory``,
``source_attributes``) so later stages can be checked against it. The PATH argument is
optional for this source; rebuild the pool with ``python tools/build_sample_pool.py``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path

from refmatte.sources.base import Source, SourceItem, SourceLayoutError, list_images, pair_by_stem, require_dirs

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "sample"
TRUTH_FILE = "entities/truth.csv"
TRUTH_COLUMNS = {"key", "split", "category", "supercategory", "attributes", "origin"}
SPLITS = ("train", "test")


def read_truth(path: Path) -> dict[str, dict]:
    """Ground-truth rows of the pool by key; a clear error when the file is damaged."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SourceLayoutError(f"{path} is not a readable CSV ({e}).") from None
    if not rows or not TRUTH_COLUMNS <= set(rows[0]):
        raise SourceLayoutError(f"{path} must be a CSV with columns {', '.join(sorted(TRUTH_COLUMNS))}.")
    for r in rows:
        try:
            attrs = json.loads(r["attributes"] or "{}")
        except json.JSONDecodeError as e:
            raise SourceLayoutError(f"{path}: the attributes of {r['key']} are not JSON ({e}).") from None
        if not isinstance(attrs, dict) or not all(isinstance(v, str) for v in attrs.values()):
            raise SourceLayoutError(f"{path}: the attributes of {r['key']} must be a JSON object of strings.")
        if r["split"] not in SPLITS:
            raise SourceLayoutError(f"{path}: {r['key']} has split {r['split']!r}; use one of {', '.join(SPLITS)}.")
        r["attributes"] = attrs
    return {r["key"]: r for r in rows}


@dataclass(frozen=True)
class Sample(Source):
    name: str = "sample"
    title: str = "sample pool"
    image_is_foreground: bool = True
    default_root: Path | None = SAMPLE_ROOT
    min_side: int | None = 256

    def scan(self, root: Path) -> list[SourceItem]:
        require_dirs(root, self.title, "entities")
        truth = read_truth(root / TRUTH_FILE)
        items = []
        for it in pair_by_stem(root, root / "entities" / "fg", root / "entities" / "alpha", "train"):
            t = truth.get(Path(it.key).stem)
            if t is None:  # a file the ground truth does not know: ingested, unlabelled
                items.append(it)
                continue
            items.append(replace(it, split=t["split"], subset=t["origin"], label=t["category"], supercategory=t["supercategory"],
                                 attributes=tuple(sorted(t["attributes"].items()))))
        return items


@dataclass(frozen=True)
class SampleBackgrounds(Source):
    """The sample pool's backgrounds: ``backgrounds/{train,test}/`` of ``refmatte/sample/``."""

    name: str = "sample"
    title: str = "sample pool"
    default_root: Path | None = SAMPLE_ROOT

    def scan(self, root: Path) -> list[SourceItem]:
        items = []
        for split in require_dirs(root / "backgrounds", "the sample pool's backgrounds", "train", "test"):
            items += list_images(root, root / "backgrounds" / split, split)
        return items
