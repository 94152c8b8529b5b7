"""The annotation runner: each annotator fills its own columns of ``entities.parquet``.

An :class:`Annotator` declares its columns, a provenance key and a batch function. The
runner gives it the kept entities whose ``<name>_by`` differs from the key (new rows,
other options or weights, a changed upstream value), in batches; finished rows are
flushed every few seconds to ``<out>/.parts/annotate-<name>-*.parquet``, so a killed run
resumes, and the manifest is rewritten once, atomically, at the end. An annotator whose
model weights are missing raises :class:`WeightsMissing` from :meth:`Annotator.prepare`:
its columns stay as they are, the others still run, and the summary says which file is
missing and how to provide it.

Annotators that read pixels on the CPU (``cpu_bound``: colour, traits, people) run their
batches in ``workers`` processes, local or on Ray; each worker unpickles the annotator
without its models (``loaded``), prepares it once and keeps it. The models of the others
(Mask R-CNN, CLIP) run in this process on the chosen ``device``. Results are a function of
the row alone, so any number of workers gives the same manifest.
"""

from __future__ import annotations

import pickle
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from refmatte.atomic import exclusive, remove_stale_temps
from refmatte.ingest import ENTITIES, FLUSH_SECONDS, PARTS_DIR, read_rows, write_rows
from refmatte.parallel import WorkerPool
from refmatte.schema import ENTITY_SCHEMA


class WeightsMissing(Exception):
    """A model file is absent: the message says which and how to provide it (one sentence)."""


class Annotator:
    """Base class: set ``name`` and ``columns``, implement :meth:`run`."""

    name: str = ""
    columns: tuple[str, ...] = ()
    batch_size: int = 32
    cpu_bound: bool = False  # pixel work on the CPU: its batches go to the worker processes
    loaded: tuple[str, ...] = ()  # attributes prepare() fills: never pickled, each worker loads its own

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in self.loaded}

    @property
    def by_column(self) -> str:
        return f"{self.name}_by"

    def provenance(self) -> str:
        """Annotator version, options and model identity (stored in ``<name>_by``)."""
        raise NotImplementedError

    def key(self, row: dict) -> str:
        """What ``<name>_by`` must equal for ``row`` to be up to date."""
        hand = self.hand(row)
        return f"hand {sorted(hand.items())}" if hand is not None else self.provenance()

    def hand(self, row: dict) -> dict | None:
        """This annotator's column values a person gave for ``row`` (they need no model), else None."""
        return None

    # set by prepare() when part of the work cannot be done (printed, the run goes on)
    warning: str | None = None

    def applies(self, row: dict) -> bool:
        """Whether this annotator has anything to say about ``row`` (e.g. humans only)."""
        return True

    def prepare(self) -> None:
        """Load models; raise :class:`WeightsMissing` when a file is absent."""

    def run(self, rows: list[dict], out: Path) -> list[dict]:
        """Column values for each row (same order); ``out`` is the manifest folder."""
        raise NotImplementedError


def torch_device(device: str | None) -> str:
    """``device`` checked (``cpu``, ``cuda``, ``cuda:1``); None: cuda when available. One sentence when unusable."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ValueError(f"--device {device!r} is not a device torch knows; give cpu, cuda or cuda:N.") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: this torch sees no CUDA GPU (torch {torch.__version__}); use --device cpu.")
    return device


@dataclass
class AnnotateSummary:
    manifest: Path
    entities: int = 0
    done: dict[str, int] = field(default_factory=dict)  # annotator -> rows annotated this run
    reused: dict[str, int] = field(default_factory=dict)  # annotator -> rows already up to date
    skipped: dict[str, str] = field(default_factory=dict)  # annotator -> why it did not run
    notes: dict[str, str] = field(default_factory=dict)  # annotator -> what it could not do


def _part_schema(ann: Annotator) -> pa.Schema:
    names = ("entity_id", ann.by_column, *ann.columns)
    return pa.schema([ENTITY_SCHEMA.field(n) for n in names])


def full_key(ann: Annotator, row: dict) -> str:
    """``<name>_by``: the annotator's key plus the identity of the entity's pixels, so a
    re-ingested entity (other source file or options) never takes an old result."""
    return f"{ann.key(row)} entity={row['source_fingerprint']}:{row['config_hash']}"


def _apply_parts(ann: Annotator, parts: list[Path], by_id: dict[str, dict]) -> None:
    """Results a killed run had flushed: applied when the entity is still the same."""
    for part in parts:
        for r in read_rows(part, _part_schema(ann)):
            row = by_id.get(r["entity_id"])
            if row is not None and row["reject_reason"] is None and r[ann.by_column] == full_key(ann, row):
                row.update(r)


@dataclass(frozen=True)
class _Batch:
    token: str  # which annotator (one per run and annotator): a worker prepares it once
    annotator: bytes  # pickled without its models
    index: int
    rows: list[dict]
    out: str


_PREPARED: dict[str, Annotator] = {}  # in a worker process: the annotator of the current token


def _run_batch(batch: _Batch) -> tuple[int, list[dict]]:
    ann = _PREPARED.get(batch.token)
    if ann is None:
        ann = pickle.loads(batch.annotator)
        ann.prepare()
        _PREPARED.clear()
        _PREPARED[batch.token] = ann
    return batch.index, ann.run(batch.rows, Path(batch.out))


def _computed(ann: Annotator, batches: list[list[dict]], out: Path, pool: WorkerPool) -> Iterator[tuple[list[dict], list[dict]]]:
    """(batch, model results for its rows without hand labels), batches in any order."""
    by_model = [[r for r in b if ann.hand(r) is None] for b in batches]
    if ann.cpu_bound and pool.parallel and len(batches) > 1:
        blob, token = pickle.dumps(ann), f"{ann.name}-{uuid.uuid4().hex}"
        tasks = [_Batch(token, blob, i, rows, str(out.resolve())) for i, rows in enumerate(by_model) if rows]
        done = set()
        for i, results in pool.run(tasks, _run_batch):
            done.add(i)
            yield batches[i], results
        for i, b in enumerate(batches):  # batches of hand labels only
            if i not in done:
                yield b, []
        return
    for b, rows in zip(batches, by_model):
        yield b, ann.run(rows, out) if rows else []


def annotate(
    out: Path,
    annotators: Sequence[Annotator],
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
) -> AnnotateSummary:
    """Run ``annotators`` in order over ``<out>/entities.parquet``; see the module doc.

    ``workers`` processes (or a Ray cluster at ``address`` with ``executor="ray"``) run the
    batches of the ``cpu_bound`` annotators; the output is the same for any number.
    """
    out = Path(out)
    manifest = ENTITIES.path(out)
    if not manifest.is_file():
        raise ValueError(f"{manifest} not found; run `refmatte ingest` into {out} first.")
    with exclusive(out), WorkerPool(workers, executor, address) as pool:  # workers start once, for every annotator
        remove_stale_temps(out)
        rows = read_rows(manifest, ENTITY_SCHEMA)
        by_id = {r["entity_id"]: r for r in rows}
        kept = [r for r in rows if r["reject_reason"] is None]
        summary = AnnotateSummary(manifest, entities=len(kept))
        parts_dir = out / PARTS_DIR
        used_parts: list[Path] = []
        for ann in annotators:
            prefix = f"annotate-{ann.name}-"
            parts = sorted(parts_dir.glob(f"{prefix}*.parquet")) if parts_dir.is_dir() else []
            try:
                ann.prepare()
                ready = True
            except WeightsMissing as e:  # its flushed parts stay for the run that has the weights
                summary.skipped[ann.name] = str(e)
                ready = False
            if ready:
                used_parts += parts
                _apply_parts(ann, parts, by_id)
            for r in kept:  # a row this annotator no longer applies to loses its old values
                if not ann.applies(r) and r[ann.by_column] is not None:
                    r.update(dict.fromkeys((ann.by_column, *ann.columns)))
            todo = [r for r in kept if ann.applies(r) and r[ann.by_column] != full_key(ann, r)]
            if not ready:  # without its model an annotator can still apply hand labels, and drop withdrawn ones
                for r in todo:
                    if (r[ann.by_column] or "").startswith("hand") and ann.hand(r) is None:
                        r.update(dict.fromkeys((ann.by_column, *ann.columns)))
                todo = [r for r in todo if ann.hand(r) is not None]
            if ann.warning:
                summary.notes[ann.name] = ann.warning
            if ready:
                summary.reused[ann.name] = sum(ann.applies(r) for r in kept) - len(todo)
            pending, seq, last, n = [], len(parts), time.monotonic(), 0
            if progress:
                progress(ann.name, 0, len(todo))
            size = ann.batch_size
            if ann.cpu_bound and pool.parallel:  # several batches per worker: balanced load
                size = max(1, min(size, -(-len(todo) // (4 * max(1, workers)))))
            batches = [todo[i:i + size] for i in range(0, len(todo), size)]
            for batch, results in _computed(ann, batches, out, pool):
                computed = iter(results)
                for row in batch:
                    hand = ann.hand(row)
                    row.update(hand if hand is not None else next(computed))
                    row[ann.by_column] = full_key(ann, row)
                    pending.append({k: row[k] for k in _part_schema(ann).names})
                n += len(batch)
                if progress:
                    progress(ann.name, n, len(todo))
                if time.monotonic() - last > FLUSH_SECONDS:
                    parts_dir.mkdir(exist_ok=True)
                    part = parts_dir / f"{prefix}{seq:06d}.parquet"
                    write_rows(part, pending, _part_schema(ann), "entity_id")
                    used_parts.append(part)
                    pending, seq, last = [], seq + 1, time.monotonic()
            summary.done[ann.name] = len(todo)
        write_rows(manifest, rows, ENTITY_SCHEMA, "entity_id")
        for part in used_parts:
            part.unlink(missing_ok=True)
    return summary
