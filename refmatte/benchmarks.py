"""Import the official RefMatte and RefMatte-RW100 releases as manifests (REFERENCE section 1).

Layouts:
- RefMatte: ``ROOT/<split>/{img,mask}`` and ``refmatte_<split>_label.json`` (in
  ``ROOT/<split>/`` or ``ROOT/``), for split train and test; the JSON maps a matte's stem
  to ``{"image_name": ..., "expressions": [...]}``.
- RefMatte-RW100: ``ROOT/{image,mask}``, masks ``<image>_<k>.png``,
  ``refmatte_rw100_label.json`` (same shape) and ``eval_index_expression.json`` (matte stem
  -> index of the expression used for evaluation).
The RW100 layout and the RefMatte folder layout are from REFERENCE section 1; the RefMatte
label JSON's shape is assumed to be RW100's (the same keys are read by public loaders of
the release) but is unverified here: no copy of the release was available. A keyword is
read from ``keyword``, ``category`` or ``class`` when a label has one.
The release files are not copied: the manifest's paths point at them, relative to the
manifest folder. The label JSON is data: a label without its files, a name that is not a
plain file name, expressions that are not a list of strings, an image over the pixel cap,
or a matte whose size differs from its image is reported in one sentence and skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from refmatte.atomic import atomic_path, exclusive
from refmatte.imaging import ImageReadError, check_pixels
from refmatte.schema import BENCHMARK_SCHEMA

IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".JPG", ".PNG")
KEYWORD_KEYS = ("keyword", "category", "class")


class ReleaseLayoutError(ValueError):
    """The folder is not laid out as the release; the message names what is missing."""


@dataclass
class ImportSummary:
    written: dict[str, int] = field(default_factory=dict)  # manifest path -> rows
    skipped: list[str] = field(default_factory=list)  # labels not imported, and why
    notes: list[str] = field(default_factory=list)  # imported, with a remark (a blank expression dropped, ...)


def _find_image(folder: Path, name: str) -> Path | None:
    direct = folder / name
    if direct.suffix in IMAGE_SUFFIXES and direct.is_file():
        return direct
    return next((folder / f"{name}{s}" for s in IMAGE_SUFFIXES if (folder / f"{name}{s}").is_file()), None)


def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ReleaseLayoutError(f"{path} is not readable JSON: {e}") from None
    if not isinstance(data, dict):
        raise ReleaseLayoutError(f"{path} should map matte names to labels, found a {type(data).__name__}")
    return data


def _plain_name(value: object) -> str | None:
    """``value`` when it is a non-empty string naming a file in one folder (no separators, not . or ..)."""
    if not isinstance(value, str) or not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        return None
    return value


def _expressions(label: dict) -> list[str] | None:
    """The label's expressions as a list of strings (one string is a list of one); None when malformed."""
    exprs = label.get("expressions") or label.get("expression") or []  # an empty or null list falls back
    if isinstance(exprs, str):
        return [exprs]
    if isinstance(exprs, list) and all(isinstance(e, str) for e in exprs):
        return list(exprs)
    return None


def _sizes(image: Path, mask: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """(image size, matte size) from the headers, each checked against the pixel cap."""
    with Image.open(image) as im, Image.open(mask) as m:
        check_pixels(*im.size, image)
        check_pixels(*m.size, mask)
        return im.size, m.size


def _rows(labels: dict, image_dir: Path, mask_dir: Path, out: Path, split: str, source: str,
          eval_index: dict, summary: ImportSummary) -> list[dict]:
    rows, slots = [], {}
    for key in sorted(labels):
        label = labels[key]
        if _plain_name(key) is None:
            summary.skipped.append(f"{key!r}: an entity key must be a matte's file name, not a path")
            continue
        mask = mask_dir / (key if key.endswith(".png") else f"{key}.png")
        stem = Path(mask).stem
        if not isinstance(label, dict) or "image_name" not in label:
            summary.skipped.append(f"{key}: label has no image_name")
            continue
        name = _plain_name(label["image_name"])
        if name is None:
            summary.skipped.append(f"{key}: image_name {label['image_name']!r} is not a file name")
            continue
        given = _expressions(label)
        if given is None:
            summary.skipped.append(f"{key}: expressions must be a list of strings, found "
                                   f"{type(label.get('expressions', label.get('expression'))).__name__}")
            continue
        kept = [i for i, e in enumerate(given) if e.strip()]  # a blank expression refers to nothing
        exprs = [given[i] for i in kept]
        if given and not exprs:
            summary.skipped.append(f"{key}: every expression is blank")
            continue
        if len(exprs) < len(given):
            summary.notes.append(f"{key}: {len(given) - len(exprs)} blank expression(s) dropped")
        image = _find_image(image_dir, name)
        if image is None:
            summary.skipped.append(f"{key}: image {image_dir / name} not found")
            continue
        if not mask.is_file():
            summary.skipped.append(f"{key}: matte {mask} not found")
            continue
        try:
            size, msize = _sizes(image, mask)
        except ImageReadError as e:
            summary.skipped.append(f"{key}: {e}")
            continue
        except (OSError, SyntaxError, ValueError) as e:
            summary.skipped.append(f"{key}: unreadable image or matte ({e})")
            continue
        if size != msize:
            summary.skipped.append(f"{key}: matte {mask.name} is {msize[0]}x{msize[1]}, image {image.name} is "
                                   f"{size[0]}x{size[1]}")
            continue
        suffix = stem.rsplit("_", 1)[-1]
        slot = int(suffix) if suffix.isdigit() and stem.startswith(image.stem) else slots.get(image.stem, 0)
        slots[image.stem] = slots.get(image.stem, 0) + 1
        keyword = next((str(label[k]) for k in KEYWORD_KEYS if isinstance(label.get(k), str) and label.get(k)), None)
        odd = [k for k in KEYWORD_KEYS if label.get(k) is not None and not isinstance(label[k], str)]
        if odd and keyword is None:
            summary.notes.append(f"{key}: {odd[0]} is a {type(label[odd[0]]).__name__}, not a word; the entity takes "
                                 "part in the expression setting only")
        index = eval_index.get(key, eval_index.get(stem))
        if index is not None and not (type(index) is int and index in kept):
            summary.notes.append(f"{key}: evaluation index {index!r} does not name one of its {len(exprs)} "
                                 "(non-blank) expressions; clipmat will pick one by hash")
            index = None
        elif index is not None:
            index = kept.index(index)  # its position once blanks are dropped
        rows.append({
            "image_id": image.stem, "split": split, "image_path": os.path.relpath(image, out),
            "matte_path": os.path.relpath(mask, out), "width": size[0], "height": size[1], "slot": slot,
            "entity_id": stem, "keyword": keyword, "keyword_valid": keyword is not None, "expressions": exprs,
            "eval_expression": int(index) if index is not None else None, "source": source,
        })
    return rows


def _write(rows: list[dict], path: Path, summary: ImportSummary) -> None:
    if rows and not any(r["keyword_valid"] for r in rows):
        summary.notes.append(f"{path.name}: no label has a keyword (keyword, category or class), so these rows "
                               "take part in the expression setting only")
    table = pa.Table.from_pylist(rows, schema=BENCHMARK_SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    summary.written[str(path)] = len(rows)


def import_refmatte(root: Path, out: Path, splits: tuple[str, ...] = ("train", "test")) -> ImportSummary:
    """Write ``out/<split>.parquet`` for each split of the RefMatte release found under ``root``."""
    root, out, summary = Path(root), Path(out), ImportSummary()
    with exclusive(out):
        return _import_refmatte(root, out, splits, summary)


def _import_refmatte(root: Path, out: Path, splits: tuple[str, ...], summary: ImportSummary) -> ImportSummary:
    found = {}
    for split in splits:  # every split is read and checked before any manifest is written
        folder = root / split
        label = next((p for p in (folder / f"refmatte_{split}_label.json", root / f"refmatte_{split}_label.json")
                      if p.is_file()), None)
        if not (folder / "img").is_dir() or not (folder / "mask").is_dir() or label is None:
            continue
        found[split] = _rows(_load_json(label), folder / "img", folder / "mask", out, split, "refmatte", {}, summary)
    for split, rows in found.items():
        _write(rows, out / f"{split}.parquet", summary)
    if not found:
        raise ReleaseLayoutError(f"{root} does not look like the RefMatte release: expected "
                                 f"{root}/train/{{img,mask}} with refmatte_train_label.json (or the same for test)")
    return summary


def import_rw100(root: Path, out: Path) -> ImportSummary:
    """Write ``out/rw100.parquet`` from the RefMatte-RW100 release at ``root``."""
    root, out, summary = Path(root), Path(out), ImportSummary()
    label = root / "refmatte_rw100_label.json"
    missing = [str(p) for p in (root / "image", root / "mask", label) if not p.exists()]
    if missing:
        raise ReleaseLayoutError(f"{root} does not look like RefMatte-RW100: missing {', '.join(missing)}")
    index_file = root / "eval_index_expression.json"
    eval_index = _load_json(index_file) if index_file.is_file() else {}
    if not eval_index:
        summary.notes.append(f"{index_file} not found: evaluation expressions will be picked by hash")
    labels = _load_json(label)
    with exclusive(out):
        rows = _rows(labels, root / "image", root / "mask", out, "rw100", "rw100", eval_index, summary)
        _write(rows, out / "rw100.parquet", summary)
    return summary
