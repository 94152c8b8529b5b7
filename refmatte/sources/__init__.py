"""Source adapters: one per public matting dataset, all yielding :class:`SourceItem`."""

from __future__ import annotations

from refmatte.sources.aim500 import AIM500
from refmatte.sources.am2k import AM2k
from refmatte.sources.backgrounds import BackgroundFolder, BG20k
from refmatte.sources.base import (
    Source,
    SourceItem,
    SourceLayoutError,
    fingerprint,
    label_for,
    load_labels,
    stable_id,
)
from refmatte.sources.d646 import D646
from refmatte.sources.dim import DIM
from refmatte.sources.folder import Folder
from refmatte.sources.p3m10k import P3M10k
from refmatte.sources.sample import Sample, SampleBackgrounds
from refmatte.sources.sim import SIM

ENTITY_SOURCES: dict[str, type[Source]] = {"am2k": AM2k, "p3m10k": P3M10k, "aim500": AIM500, "dim": DIM, "d646": D646, "sim": SIM, "folder": Folder, "sample": Sample}
BACKGROUND_SOURCES: dict[str, type[Source]] = {"bg20k": BG20k, "folder": BackgroundFolder, "sample": SampleBackgrounds}

__all__ = [
    "AIM500", "AM2k", "BG20k", "BackgroundFolder", "D646", "DIM", "Folder", "P3M10k", "SIM", "Sample", "SampleBackgrounds",
    "BACKGROUND_SOURCES", "ENTITY_SOURCES", "Source", "SourceItem", "SourceLayoutError",
    "fingerprint", "label_for", "load_labels", "stable_id",
]
