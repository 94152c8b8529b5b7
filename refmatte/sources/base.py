"""The record every source adapter yields, and the folder-pairing helpers they share."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from refmatte.imaging import is_image_file


class SourceLayoutError(Exception):
    """The folder given does not have the layout of the dataset named (one-sentence message)."""


@dataclass(frozen=True)
class SourceItem:
    """One candidate entity (or background) found in a dataset folder.

    ``key`` is the image's path relative to the dataset root (POSIX separators); together
    with the source name it makes the stable entity id. ``image`` is a photograph, or a
    foreground when the source ships foregrounds. Either path may be ``None`` when the
    dataset lacks that file (the pair is then rejected, never dropped silently).
    """

    key: str
    split: str
    image: Path | None
    alpha: Path | None = None
    subset: str | None = None
    label: str | None = None
    duplicate_of: Path | None = None  # another file of the same stem won the pairing
    # Ground truth a source states per item (the sample pool): super-category and attributes.
    supercategory: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Source:
    """A dataset adapter: what the dataset is and how to find its items.

    Subclasses set the class attributes and implement :meth:`scan`.
    """

    name: str = ""
    title: str = ""
    # True when the images are foregrounds (colour already free of background).
    image_is_foreground: bool = False
    # Whether the paper's identifiable-face filter applies to this source (3.1).
    face_filter: bool = False
    # Whether mattes should have a soft transition band (a hard binary mask is a defect).
    soft_edges: bool = True
    # Super-category known for the whole dataset (AM-2k: animal, P3M: human), else None.
    supercategory: str | None = None
    # Where the data lives when the user gives no PATH (the embedded sample pool), else None.
    default_root: Path | None = None
    # Default of --min-side for this source when it differs from the paper's (small sample art).
    min_side: int | None = None
    # Every item's split, instead of the dataset's own (ingest --split): AIM-500 as training data.
    split_override: str | None = None

    def scan(self, root: Path) -> list[SourceItem]:  # pragma: no cover - abstract
        raise NotImplementedError


def require_dirs(root: Path, title: str, *candidates: str) -> list[str]:
    """Return which of ``candidates`` exist under ``root``; raise if none does."""
    if not root.is_dir():
        raise SourceLayoutError(f"{root} is not a folder; give the root folder of your {title} copy.")
    found = [c for c in candidates if (root / c).is_dir()]
    if not found:
        wanted = ", ".join(candidates)
        raise SourceLayoutError(
            f"{root} does not look like {title}: expected at least one of these folders: {wanted}."
        )
    return found


def _by_stem(folder: Path) -> tuple[dict[str, Path], list[tuple[Path, Path]]]:
    """Image files of ``folder`` by stem, plus (file, winner) for stems seen twice."""
    if not folder.is_dir():
        return {}, []
    files: dict[str, Path] = {}
    dupes = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and is_image_file(p):
            if p.stem in files:
                dupes.append((p, files[p.stem]))
            else:
                files[p.stem] = p
    return files, dupes


def pair_by_stem(
    root: Path,
    image_dir: Path,
    alpha_dir: Path,
    split: str,
    subset: str | None = None,
    label: str | None = None,
) -> list[SourceItem]:
    """Pair the images of ``image_dir`` with the mattes of ``alpha_dir`` by file stem.

    An image without a matte yields an item with ``alpha=None``; a matte without an image
    yields one with ``image=None`` (keyed by the matte's path). A second file of the same
    stem (``a.jpg`` next to ``a.png``) yields an item marked ``duplicate_of``.
    """
    (images, dup_images), (alphas, dup_alphas) = _by_stem(image_dir), _by_stem(alpha_dir)
    items = []
    for stem in sorted(set(images) | set(alphas)):
        img, alp = images.get(stem), alphas.get(stem)
        key = (img or alp).relative_to(root).as_posix()
        items.append(SourceItem(key=key, split=split, image=img, alpha=alp, subset=subset, label=label))
    for dup, winner in dup_images:
        items.append(SourceItem(dup.relative_to(root).as_posix(), split, image=dup, subset=subset, label=label, duplicate_of=winner))
    for dup, winner in dup_alphas:
        items.append(SourceItem(dup.relative_to(root).as_posix(), split, image=None, alpha=dup, subset=subset, label=label, duplicate_of=winner))
    return items


def list_images(root: Path, folder: Path, split: str) -> list[SourceItem]:
    """Every image file under ``folder`` (recursively, sorted), as alpha-less items."""
    return [
        SourceItem(key=p.relative_to(root).as_posix(), split=split, image=p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and is_image_file(p)
    ]


def fingerprint(*paths: Path | None) -> str:
    """Identity of the source files' current state: name, size and mtime of each (hex).

    Re-ingesting skips an entity whose fingerprint (and processing options) are unchanged.
    """
    h = hashlib.sha1()
    for p in paths:
        if p is None:
            h.update(b"-\0")
            continue
        try:
            st = os.stat(p)
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}\0".encode())
        except OSError:
            h.update(f"{p.name}:missing\0".encode())
    return h.hexdigest()[:16]


def stable_id(source: str, key: str) -> str:
    """``<source>-<12 hex>``: stable across machines, since it hashes the relative key only."""
    return f"{source}-{hashlib.sha1(f'{source}:{key}'.encode()).hexdigest()[:12]}"


def load_labels(path: Path) -> dict[str, str]:
    """Read a label file: CSV with columns ``key,label`` or a JSON object ``{key: label}``.

    Keys may be an item's relative path or its file stem.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceLayoutError(f"label file {path} not found.")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise SourceLayoutError(f"label file {path} must hold a JSON object {{key: label}}.")
            return {str(k): str(v) for k, v in data.items()}
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as e:
        raise SourceLayoutError(f"label file {path} is not valid UTF-8 JSON or CSV ({e}).") from None
    if not rows or not {"key", "label"} <= set(rows[0]):
        raise SourceLayoutError(f"label file {path} must be a CSV with columns key,label.")
    return {r["key"]: r["label"] for r in rows}


def label_for(item: SourceItem, labels: dict[str, str]) -> str | None:
    """The label ``labels`` gives to ``item`` (by relative key, then by stem), else its own."""
    if item.key in labels:
        return labels[item.key]
    stem = Path(item.key).stem
    return labels.get(stem, item.label)
