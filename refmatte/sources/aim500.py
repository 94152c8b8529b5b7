"""AIM-500 (Li et al.): 500 natural photographs of salient, transparent and non-salient objects.

Layout: ``{original,mask,trimap,usr}`` plus ``aim_category_type.json`` giving each image's
type: SO (salient opaque), STM (salient transparent/meticulous) or NS (non-salient). The
JSON is read in either shape found in the wild: ``{"SO": [names...], ...}`` or
``{name: "SO", ...}``. AIM-500 is a test benchmark, so its items keep split ``test``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from refmatte.sources.base import Source, SourceItem, SourceLayoutError, pair_by_stem, require_dirs

TYPES = ("SO", "STM", "NS")
TYPE_FILE = "aim_category_type.json"


def read_types(path: Path) -> dict[str, str]:
    """Map image stem -> AIM type from ``aim_category_type.json``."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SourceLayoutError(f"{path} is not readable JSON ({e}).") from None
    types: dict[str, str] = {}
    if isinstance(data, dict) and set(data) <= set(TYPES) and all(isinstance(v, list) for v in data.values()):
        for kind, names in data.items():
            for name in names:
                types[Path(str(name)).stem] = kind
    elif isinstance(data, dict):
        types = {Path(str(k)).stem: str(v) for k, v in data.items()}
    else:
        raise SourceLayoutError(f"{path} should map types to image names or names to types.")
    return types


@dataclass(frozen=True)
class AIM500(Source):
    name: str = "aim500"
    title: str = "AIM-500"

    def scan(self, root: Path) -> list[SourceItem]:
        require_dirs(root, self.title, "original")
        type_file = root / TYPE_FILE
        types = read_types(type_file) if type_file.is_file() else {}
        items = pair_by_stem(root, root / "original", root / "mask", "test")
        return [replace(it, label=types.get(Path(it.key).stem)) for it in items]
