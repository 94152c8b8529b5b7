"""One candidate entity or background, from source files to a manifest row.

:func:`process_entity` and :func:`process_background` are pure functions of their task
(source files + options): they decode, measure, filter, write the RGBA cache atomically
and return the row. The runner in :mod:`refmatte.ingest` calls them in any order, in any
number of processes, and gets the same rows.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from refmatte.alpha import alpha_stats
from refmatte.atomic import atomic_write_bytes
from refmatte.faces import count_frontal_faces
from refmatte.filters import FilterOptions, check_alpha, check_size
from refmatte.foreground import METHOD as ESTIMATED
from refmatte.foreground import estimate_foreground
from refmatte.imaging import ImageReadError, encode_rgba_png, read_alpha, read_rgb
from refmatte.schema import BACKGROUND_SCHEMA, ENTITY_SCHEMA
from refmatte.sources.base import SourceItem

# Bump when the processing changes in a way that changes rows or caches: every row is redone.
PROCESSING_VERSION = 1
CACHE_DIR = "cache/rgba"


@dataclass(frozen=True)
class IngestOptions:
    """Everything that changes what ingestion writes (hashed into ``config_hash``)."""

    filters: FilterOptions = field(default_factory=FilterOptions)
    png_compression: int = 3  # zlib level of the RGBA caches

    def config_hash(self, *extra: object) -> str:
        blob = json.dumps([PROCESSING_VERSION, asdict(self), *extra], sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Task:
    """One item to process, with everything the worker needs (picklable)."""

    row_id: str
    source: str
    item: SourceItem
    out: str  # manifest folder
    fingerprint: str
    config_hash: str
    image_is_foreground: bool = False
    soft_edges: bool = True
    face_filter: bool = False
    supercategory: str | None = None


def _rel(path: Path | None, out: str) -> str | None:
    return None if path is None else Path(os.path.relpath(path, out)).as_posix()


def scan_columns(task: Task, schema) -> dict:
    """The columns a fresh scan decides (split, labels, paths): refreshed even on reused rows."""
    it = task.item
    cols = dict(
        source=task.source,
        source_key=it.key,
        source_split=it.split,
        image_path=_rel(it.image, task.out),
        source_subset=it.subset,
        source_label=it.label,
        source_supercategory=it.supercategory or task.supercategory,
        source_attributes=list(it.attributes),
        alpha_path=_rel(it.alpha, task.out),
    )
    return {k: v for k, v in cols.items() if k in schema.names}


def _base_row(task: Task, schema) -> dict:
    row = {f.name: None for f in schema}
    row.update(scan_columns(task, schema), source_fingerprint=task.fingerprint, config_hash=task.config_hash, input_fixes=[])
    return row


def _read_error(e: ImageReadError, missing: str) -> tuple[str, str]:
    return (missing if e.reason == "missing_file" else e.reason), f"{Path(e.path).name}: {e.detail}"


def _reject(row: dict, reason: str, detail: str) -> dict:
    row.update(reject_reason=reason, reject_detail=detail)
    return row


def process_entity(task: Task, opts: IngestOptions) -> dict:
    """Decode, measure and filter one entity; write its RGBA cache when kept.

    Returns the ``entities.parquet`` row (a dict keyed by :data:`ENTITY_SCHEMA` names).
    """
    it = task.item
    row = _base_row(task, ENTITY_SCHEMA)
    row.update(entity_id=task.row_id, image_is_foreground=task.image_is_foreground)
    if it.duplicate_of is not None:
        return _reject(row, "duplicate_stem", f"{it.duplicate_of.name} of the same stem was paired instead")
    if it.image is None:
        return _reject(row, "missing_image", f"no image for matte {it.alpha}")
    if it.alpha is None:
        return _reject(row, "missing_alpha", f"no matte for image {it.image}")
    try:
        image = read_rgb(it.image)
    except ImageReadError as e:
        return _reject(row, *_read_error(e, "missing_image"))
    try:
        alpha = read_alpha(it.alpha)
    except ImageReadError as e:
        return _reject(row, *_read_error(e, "missing_alpha"))
    row["input_fixes"] = image.fixes + alpha.fixes
    rgb, a = image.array, alpha.array
    h, w = rgb.shape[:2]
    row.update(width=w, height=h)
    if a.shape != (h, w):
        detail = f"matte {a.shape[1]}x{a.shape[0]} px, image {w}x{h} px"
        rotated = [f for f in image.fixes if f.startswith("exif-orientation-")]
        if rotated and a.shape == (w, h):
            detail += (f" after its EXIF rotation ({rotated[0]}); the matte fits the image's stored orientation: "
                       "rotate the matte to match, or strip the image's EXIF orientation tag")
        return _reject(row, "alpha_size_mismatch", detail)
    stats = alpha_stats(a)
    row.update(stats)
    filters = opts.filters
    failed = check_size(w, h, filters) or check_alpha(stats, filters, task.soft_edges)
    if failed:
        return _reject(row, *failed)
    if task.face_filter:
        row["faces"] = count_frontal_faces(rgb, a, filters.min_face_fraction)
        if row["faces"]:
            return _reject(row, "identifiable_face", f"{row['faces']} frontal face(s) found on the entity")
    if task.image_is_foreground:
        fg, row["foreground_method"] = rgb, "given"
    else:
        fg, row["foreground_method"] = estimate_foreground(rgb, a), ESTIMATED
    cache = Path(task.out) / CACHE_DIR / f"{task.row_id}.png"
    atomic_write_bytes(cache, encode_rgba_png(fg, a, opts.png_compression))
    row["rgba_path"] = _rel(cache, task.out)
    return row


def process_background(task: Task, opts: IngestOptions) -> dict:
    """Decode and size-check one background; returns the ``backgrounds.parquet`` row."""
    row = _base_row(task, BACKGROUND_SCHEMA)
    row["background_id"] = task.row_id
    try:
        image = read_rgb(task.item.image)
    except ImageReadError as e:
        return _reject(row, *_read_error(e, "missing_image"))
    h, w = image.array.shape[:2]
    row.update(width=w, height=h, input_fixes=image.fixes)
    failed = check_size(w, h, opts.filters)
    return _reject(row, *failed) if failed else row
