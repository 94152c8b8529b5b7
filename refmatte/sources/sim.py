"""SIM / SIMD (Sun et al., Semantic Image Matting): foregrounds in 20 class folders.

Layout: ``<class>/{fg,alpha}``; the class folder name (fire, fur, glass_ice, hair_easy,
net, smoke_cloud, ...) becomes the entity's ``source_label``. The public release is the
test set, so items keep split ``test``. Foregrounds are given; the face filter applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from refmatte.sources.base import Source, SourceItem, SourceLayoutError, pair_by_stem


@dataclass(frozen=True)
class SIM(Source):
    name: str = "sim"
    title: str = "SIM (SIMD)"
    image_is_foreground: bool = True
    face_filter: bool = True

    def scan(self, root: Path) -> list[SourceItem]:
        if not root.is_dir():
            raise SourceLayoutError(f"{root} is not a folder; give the root folder of your {self.title} copy.")
        classes = sorted(p for p in root.iterdir() if (p / "fg").is_dir() or (p / "alpha").is_dir())
        if not classes:
            raise SourceLayoutError(f"{root} does not look like {self.title}: expected <class>/fg and <class>/alpha folders.")
        items = []
        for cls in classes:
            items += pair_by_stem(root, cls / "fg", cls / "alpha", "test", label=cls.name)
        return items
