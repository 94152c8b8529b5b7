"""Distinctions-646 (Qiao et al.): 646 foregrounds with alpha mattes.

Layout: ``Train/{FG,GT}`` and ``Test/{FG,GT}``. Foregrounds are given; humans in it show
identifiable faces, so the face filter applies as for DIM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from refmatte.sources.base import Source, SourceItem, pair_by_stem, require_dirs

SPLITS = {"Train": "train", "Test": "test"}


@dataclass(frozen=True)
class D646(Source):
    name: str = "d646"
    title: str = "Distinctions-646"
    image_is_foreground: bool = True
    face_filter: bool = True

    def scan(self, root: Path) -> list[SourceItem]:
        items = []
        for folder in require_dirs(root, self.title, *SPLITS):
            items += pair_by_stem(root, root / folder / "FG", root / folder / "GT", SPLITS[folder])
        return items
