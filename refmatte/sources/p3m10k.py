"""P3M-10k (Li et al.): privacy-preserving portraits with alpha mattes.

Layout: ``train/{blurred_image,mask}``, ``validation/P3M-500-P/{blurred_image,mask,trimap}``,
``validation/P3M-500-NP/{original_image,mask,trimap}``. Faces are blurred (train, P3M-500-P)
or consented (P3M-500-NP), so the face filter does not apply. Foregrounds are estimated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from refmatte.sources.base import Source, SourceItem, SourceLayoutError, pair_by_stem, require_dirs

# (folder under root, image folder, split, subset)
PARTS = (
    ("train", "blurred_image", "train", "P3M-10k-train"),
    ("validation/P3M-500-P", "blurred_image", "test", "P3M-500-P"),
    ("validation/P3M-500-NP", "original_image", "test", "P3M-500-NP"),
)


@dataclass(frozen=True)
class P3M10k(Source):
    name: str = "p3m10k"
    title: str = "P3M-10k"
    supercategory: str | None = "human"

    def scan(self, root: Path) -> list[SourceItem]:
        require_dirs(root, self.title, "train", "validation")
        items = []
        for folder, image_dir, split, subset in PARTS:
            base = root / folder
            if base.is_dir():
                items += pair_by_stem(root, base / image_dir, base / "mask", split, subset)
        if not items:
            raise SourceLayoutError(f"{root} holds no P3M-10k images under train/blurred_image or validation/.")
        return items
