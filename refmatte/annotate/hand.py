"""Hand labels: corrections a person made, which win over every annotator.

They live in ``<out>/hand_labels.csv`` next to the manifest, one row per entity with the
columns ``entity_id`` plus any of :data:`FIELDS` (an empty cell = no correction).
``refmatte labels import FILE`` merges a reviewed CSV into it, keeping only the cells that
differ from the manifest, so an exported review file can be edited and imported as is.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from refmatte.atomic import atomic_write_bytes
from refmatte.vocabulary import lookup

FILE = "hand_labels.csv"
FIELDS = ("category", "gender", "age_group", "clothes")
GENDERS = ("female", "male")
AGE_GROUPS = ("child", "teenager", "young", "adult", "senior")


def _check(field: str, value: str, where: str) -> str:
    """The canonical form of a hand value; ValueError naming ``where`` when it is not allowed."""
    if field == "category":
        entry = lookup(value)
        if entry is None:
            raise ValueError(f"{where}: {value!r} is not in the vocabulary (refmatte/data/vocabulary.csv).")
        return entry.name
    if field == "gender" and value not in GENDERS:
        raise ValueError(f"{where}: gender must be one of {', '.join(GENDERS)}, not {value!r}.")
    if field == "age_group" and value not in AGE_GROUPS:
        raise ValueError(f"{where}: age_group must be one of {', '.join(AGE_GROUPS)}, not {value!r}.")
    if field == "clothes":
        return ";".join(w.strip() for w in value.split(";") if w.strip())
    return value


def read_csv(path: Path) -> list[dict]:
    """Rows of a labels CSV; ValueError naming the line of a row with more or fewer cells than the
    header, or of a second row about the same entity.

    A short row is refused, not read as empty cells: an empty cell withdraws a correction.
    """
    rows, lines = [], {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            for r in reader:
                entity = r.get("entity_id")
                if entity in lines:  # which of two corrections is meant cannot be guessed
                    raise ValueError(f"{path} lines {lines[entity]} and {reader.line_num} are both about entity "
                                     f"{entity}; keep one row per entity.")
                lines[entity] = reader.line_num
                if None in r or None in r.values():  # extra cells go under the key None, missing ones are None
                    given = sum(v is not None for k, v in r.items() if k is not None)
                    cells = given + len(r.get(None) or [])
                    raise ValueError(f"{path} line {reader.line_num} has {cells} cells but the header has "
                                     f"{len(reader.fieldnames)}; fix the row (quote cells that hold commas).")
                rows.append(r)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path} is not a readable UTF-8 CSV ({e}).") from None
    if "entity_id" not in header:
        raise ValueError(f"{path} has no entity_id column.")
    return rows


def read_hand_labels(out: Path) -> dict[str, dict[str, str]]:
    """``entity_id -> {field: value}`` of ``<out>/hand_labels.csv`` (empty when absent)."""
    path = Path(out) / FILE
    if not path.is_file():
        return {}
    labels = {}
    for i, r in enumerate(read_csv(path), start=2):
        values = {f: _check(f, r[f].strip(), f"{path} line {i}") for f in FIELDS if (r.get(f) or "").strip()}
        if values:
            labels[r["entity_id"]] = values
    return labels


def _current(row: dict, field: str) -> str:
    value = row.get(field)
    if field == "clothes":
        return ";".join(value or [])
    return "" if value is None else str(value)


def merge(out: Path, reviewed: Path, manifest_rows: dict[str, dict]) -> tuple[int, list[str]]:
    """Record the cells of ``reviewed`` that differ from the manifest; (corrections, unknown ids)."""
    labels = read_hand_labels(out)
    corrections, unknown = 0, []
    for i, r in enumerate(read_csv(reviewed), start=2):
        row = manifest_rows.get(r["entity_id"])
        if row is None:
            unknown.append(r["entity_id"])
            continue
        for f in FIELDS:
            if f not in r:
                continue
            value = (r[f] or "").strip()
            if value:
                value = _check(f, value, f"{reviewed} line {i}")  # canonical: Chair -> chair, "knit; lace" -> knit;lace
            pending = labels.get(r["entity_id"], {}).get(f)
            if pending is not None:  # compare with the correction already recorded
                if value == pending:
                    continue
            elif value == _current(row, f):  # unchanged from the manifest: not a correction
                continue
            if value:
                labels.setdefault(r["entity_id"], {})[f] = value
            else:  # an emptied cell withdraws the correction
                labels.get(r["entity_id"], {}).pop(f, None)
            corrections += 1
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["entity_id", *FIELDS], lineterminator="\n")
    w.writeheader()
    for eid in sorted(labels):
        if any(labels[eid].values()):
            w.writerow({"entity_id": eid, **labels[eid]})
    atomic_write_bytes(Path(out) / FILE, buf.getvalue().encode())
    return corrections, unknown
