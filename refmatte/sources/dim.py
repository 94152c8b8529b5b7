"""Deep Image Matting / Composition-1k (Xu et al.): foregrounds with alpha mattes.

Layout: ``Combined_Dataset/Training_set/{Adobe-licensed images,Other}/{fg,alpha}`` and
``Combined_Dataset/Test_set/Adobe-licensed images/{fg,alpha,trimaps}``. PATH may be the
folder holding ``Combined_Dataset`` or ``Combined_Dataset`` itself. Foregrounds are given;
the paper filters out human entities with identifiable faces (3.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from refmatte.sources.base import Source, SourceItem, pair_by_stem, require_dirs

PARTS = (
    ("Training_set/Adobe-licensed images", "train", "Adobe-licensed images"),
    ("Training_set/Other", "train", "Other"),
    ("Test_set/Adobe-licensed images", "test", "Adobe-licensed images"),
)


@dataclass(frozen=True)
class DIM(Source):
    name: str = "dim"
    title: str = "DIM (Composition-1k)"
    image_is_foreground: bool = True
    face_filter: bool = True

    def scan(self, root: Path) -> list[SourceItem]:
        if (root / "Combined_Dataset").is_dir():
            root = root / "Combined_Dataset"
        require_dirs(root, self.title, "Training_set", "Test_set")
        items = []
        for folder, split, subset in PARTS:
            base = root / folder
            if base.is_dir():
                items += pair_by_stem(root, base / "fg", base / "alpha", split, subset)
        return items
