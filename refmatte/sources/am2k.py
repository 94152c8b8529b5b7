"""AM-2k (Li et al., GFM): 2,000 animal photographs with alpha mattes.

Layout: ``train/{original,mask}``, ``validation/{original,mask,trimap}``; names ``m_xxxxxxxx``.
Ships photographs, so foregrounds are estimated. The validation split becomes ``test``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from refmatte.sources.base import Source, SourceItem, pair_by_stem, require_dirs

SPLITS = {"train": "train", "validation": "test"}


@dataclass(frozen=True)
class AM2k(Source):
    name: str = "am2k"
    title: str = "AM-2k"
    supercategory: str | None = "animal"

    def scan(self, root: Path) -> list[SourceItem]:
        items = []
        for folder in require_dirs(root, self.title, *SPLITS):
            base = root / folder
            items += pair_by_stem(root, base / "original", base / "mask", SPLITS[folder])
        return items
