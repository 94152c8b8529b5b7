"""Any folder of images with a parallel folder of alpha mattes, matched by file stem.

By default the images are looked for in the first existing one of ``image, images, img,
original, fg`` and the mattes in ``alpha, alphas, mask, matte, gt``; both can be named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from refmatte.sources.base import Source, SourceItem, SourceLayoutError, pair_by_stem

IMAGE_DIRS = ("image", "images", "img", "original", "fg")
ALPHA_DIRS = ("alpha", "alphas", "mask", "matte", "gt")


def _pick(root: Path, given: str | None, candidates: tuple[str, ...], what: str) -> Path:
    if given:
        if not (root / given).is_dir():
            raise SourceLayoutError(f"{root / given} does not exist; check --{what}-dir.")
        return root / given
    for c in candidates:
        if (root / c).is_dir():
            return root / c
    raise SourceLayoutError(
        f"{root} has no {what} folder (looked for {', '.join(candidates)}); name it with --{what}-dir."
    )


@dataclass(frozen=True)
class Folder(Source):
    name: str = "folder"
    title: str = "an image/alpha folder"
    split: str = "train"
    image_dir: str | None = None
    alpha_dir: str | None = None

    def scan(self, root: Path) -> list[SourceItem]:
        if not root.is_dir():
            raise SourceLayoutError(f"{root} is not a folder.")
        images = _pick(root, self.image_dir, IMAGE_DIRS, "image")
        alphas = _pick(root, self.alpha_dir, ALPHA_DIRS, "alpha")
        # The folder's own name is part of the key, so two folders ingested into one
        # manifest do not collide on identical file names.
        items = pair_by_stem(root.parent, images, alphas, self.split)
        return items
