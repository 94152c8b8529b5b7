"""Background sources: BG-20k and any folder of images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from refmatte.sources.base import Source, SourceItem, SourceLayoutError, list_images, require_dirs

BG20K_SPLITS = {"train": "train", "testval": "test"}


@dataclass(frozen=True)
class BG20k(Source):
    """BG-20k (Li et al., GFM): ``train/`` and ``testval/``, names ``h_xxxxxxxx.jpg``."""

    name: str = "bg20k"
    title: str = "BG-20k"

    def scan(self, root: Path) -> list[SourceItem]:
        items = []
        for folder in require_dirs(root, self.title, *BG20K_SPLITS):
            items += list_images(root, root / folder, BG20K_SPLITS[folder])
        return items


@dataclass(frozen=True)
class BackgroundFolder(Source):
    """Every image under a folder (recursively), all in one split."""

    name: str = "folder"
    title: str = "a background folder"
    split: str = "train"

    def scan(self, root: Path) -> list[SourceItem]:
        if not root.is_dir():
            raise SourceLayoutError(f"{root} is not a folder.")
        return list_images(root.parent, root, self.split)
