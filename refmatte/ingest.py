"""The ``refmatte ingest`` / ``refmatte backgrounds`` stage: source folders -> manifest tables.

Resumable and parallel. Finished rows are flushed every few seconds into atomic part files
under ``<out>/.parts/``; a re-run reads the manifest and the parts, skips every row whose
source fingerprint and options are unchanged, redoes the rest, then writes the manifest in
one atomic rename (rows sorted by id, so any number of workers gives the same bytes) and
drops the parts.
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from refmatte.atomic import atomic_path, exclusive, remove_stale_temps
from refmatte.parallel import run_pool
from refmatte.paths import inside, own_folder
from refmatte.entity import CACHE_DIR, IngestOptions, Task, process_background, process_entity, scan_columns
from refmatte.schema import BACKGROUND_SCHEMA, ENTITY_SCHEMA, conform
from refmatte.sources.base import Source, fingerprint, label_for, stable_id

PARTS_DIR = ".parts"
FLUSH_SECONDS = 10.0


@dataclass(frozen=True)
class Table:
    name: str
    schema: pa.Schema
    id_column: str
    process: Callable[[Task, IngestOptions], dict]

    def path(self, out: Path) -> Path:
        return out / f"{self.name}.parquet"


ENTITIES = Table("entities", ENTITY_SCHEMA, "entity_id", process_entity)
BACKGROUNDS = Table("backgrounds", BACKGROUND_SCHEMA, "background_id", process_background)


@dataclass
class Summary:
    """What a run did, for the end-of-run report."""

    table: str
    source: str
    manifest: Path
    scanned: int = 0
    processed: int = 0
    reused: int = 0
    removed: int = 0
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)
    rejects: list[tuple[str, str, str]] = field(default_factory=list)  # (file, reason, detail)
    fixes: Counter = field(default_factory=Counter)


def read_rows(path: Path, schema: pa.Schema) -> list[dict]:
    """Rows of a manifest or part file, checked against ``schema`` (clear error otherwise)."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise ValueError(f"{path} is not a readable Parquet file ({e}); move it away and re-run.") from None
    return conform(table, schema, str(path)).to_pylist()


def write_rows(path: Path, rows: list[dict], schema: pa.Schema, id_column: str) -> None:
    """Write rows sorted by id, atomically."""
    rows = sorted(rows, key=lambda r: r[id_column])
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _in_scope(row: dict, source: str, out: Path, root: Path) -> bool:
    """Whether ``row`` came from this source folder (so a fresh scan is its authority)."""
    if row["source"] != source:
        return False
    for key in ("image_path", "alpha_path"):
        rel = row.get(key)
        if rel and (out / rel).resolve().is_relative_to(root):
            return True
    return False


def _check_collision(task: Task, row: dict | None, out: Path) -> None:
    """Refuse to overwrite a row of the same id that comes from another, still existing file."""
    if row is None:
        return
    for key, new in (("image_path", task.item.image), ("alpha_path", task.item.alpha)):
        old = row.get(key)
        if old and new is not None:
            old_path = (out / old).resolve()
            if old_path != Path(new).resolve() and old_path.exists():
                raise ValueError(
                    f"{new} has the same id ({task.row_id}) as {old_path}, already in this manifest: "
                    "two source folders share a name; rename one or ingest it into another --out."
                )
            return


def ingest(
    table: Table,
    source: Source,
    root: Path,
    out: Path,
    opts: IngestOptions | None = None,
    workers: int = 1,
    labels: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Ingest every item of ``source`` under ``root`` into ``<out>/<table>.parquet``.

    ``progress(done, total)`` is called as items finish. Returns a :class:`Summary`.
    """
    opts = opts or IngestOptions()
    root, out = Path(root).resolve(), Path(out).resolve()
    with exclusive(out):
        return _ingest(table, source, root, out, opts, workers, labels, progress)


def _ingest(table, source, root, out, opts, workers, labels, progress) -> Summary:
    remove_stale_temps(out)
    for folder in (CACHE_DIR, PARTS_DIR):
        own_folder(out, folder)  # a symbolic link there leading out of --out is refused
    manifest = table.path(out)
    parts_dir = out / PARTS_DIR
    prefix = f"{table.name}-{source.name}-"

    items = source.scan(root)
    if source.split_override:
        items = [replace(it, split=source.split_override) for it in items]
    if labels:
        items = [replace(it, label=label_for(it, labels)) for it in items]
    config = opts.config_hash(source.name, source.image_is_foreground, source.face_filter, source.soft_edges)
    tasks = [
        Task(
            row_id=stable_id(source.name, it.key),
            source=source.name,
            item=it,
            out=str(out),
            fingerprint=fingerprint(it.image, it.alpha),
            config_hash=config,
            image_is_foreground=source.image_is_foreground,
            soft_edges=source.soft_edges,
            face_filter=source.face_filter,
            supercategory=source.supercategory,
        )
        for it in items
    ]

    known: dict[str, dict] = {}
    if manifest.exists():
        known.update((r[table.id_column], r) for r in read_rows(manifest, table.schema))
    part_files = sorted(parts_dir.glob(f"{prefix}*.parquet")) if parts_dir.exists() else []
    for part in part_files:
        known.update((r[table.id_column], r) for r in read_rows(part, table.schema))
    for i, r in known.items():  # caches are deleted through these paths: each must stay inside --out
        if r.get("rgba_path"):
            inside(out, r["rgba_path"], f"{manifest.name} row {i}, rgba_path")

    def up_to_date(t: Task) -> bool:
        row = known.get(t.row_id)
        if row is None or row["source_fingerprint"] != t.fingerprint or row["config_hash"] != t.config_hash:
            return False
        cache = row.get("rgba_path")
        return cache is None or (out / cache).exists()

    for t in tasks:
        _check_collision(t, known.get(t.row_id), out)
    todo = [t for t in tasks if not up_to_date(t)]
    summary = Summary(table.name, source.name, manifest, scanned=len(tasks), reused=len(tasks) - len(todo))
    todo_ids = {t.row_id for t in todo}
    # reused rows take the scan's split, labels and paths (a moved folder, a new --labels)
    rows = {t.row_id: known[t.row_id] | scan_columns(t, table.schema) for t in tasks if t.row_id not in todo_ids}

    fn = functools.partial(table.process, opts=opts)
    pending: list[dict] = []
    seq = len(part_files)
    last_flush = time.monotonic()
    done = summary.reused
    if progress:
        progress(done, len(tasks))
    for row in run_pool(todo, fn, workers):
        rows[row[table.id_column]] = row
        pending.append(row)
        done += 1
        if progress:
            progress(done, len(tasks))
        if time.monotonic() - last_flush > FLUSH_SECONDS:
            parts_dir.mkdir(exist_ok=True)
            write_rows(parts_dir / f"{prefix}{seq:06d}.parquet", pending, table.schema, table.id_column)
            seq, pending, last_flush = seq + 1, [], time.monotonic()
    summary.processed = len(todo)

    scan_ids = set(rows)
    merged, gone = [], []  # rows of other sources/folders are kept; rows of this folder not seen are gone
    for i, r in known.items():
        if i not in scan_ids:
            (gone if _in_scope(r, source.name, out, root) else merged).append(r)
    summary.removed = len(gone)
    write_rows(manifest, merged + list(rows.values()), table.schema, table.id_column)
    for part in parts_dir.glob(f"{prefix}*.parquet") if parts_dir.exists() else []:
        part.unlink()
    # caches of rows removed, or now rejected, are no longer referenced
    stale = gone + [known[i] for i, r in rows.items() if i in known and r.get("rgba_path") is None]
    for r in stale:
        if r.get("rgba_path"):
            inside(out, r["rgba_path"], f"{manifest.name}, rgba_path").unlink(missing_ok=True)

    for row in sorted(rows.values(), key=lambda r: r[table.id_column]):
        summary.fixes.update(row["input_fixes"] or [])
        if row["reject_reason"] is None:
            summary.kept += 1
        else:
            summary.reasons[row["reject_reason"]] += 1
            rel = row["image_path"] or row.get("alpha_path")
            file = os.path.normpath(out / rel) if rel else row["source_key"]
            summary.rejects.append((file, row["reject_reason"], row["reject_detail"] or ""))
    return summary
