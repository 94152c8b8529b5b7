"""The ``refmatte compose`` runner: plan, render in parallel, resume, write ``<split>.parquet``.

Images are rendered by :func:`refmatte.compose.render.render`, a pure function of its task,
in worker processes (any number gives the same bytes). Rows of finished images are
flushed every few seconds to ``.parts/compose-<split>-*.parquet``; a re-run skips images
whose rows are in a part and whose files exist, so a killed run ends with exactly the
output of an uninterrupted one. The manifest is written last, atomically, rows sorted by
(image, slot). Images that cannot be placed are reported, not fatal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from refmatte.atomic import atomic_path, exclusive, remove_stale_temps
from refmatte.compose.plan import ComposeOptions, Plan, plan_split
from refmatte.compose.render import ENTITY_ATTRIBUTES, PlacementError, Task, render, task_key
from refmatte.express.run import express_rows
from refmatte.parallel import run_pool
from refmatte.ingest import BACKGROUNDS, ENTITIES, FLUSH_SECONDS, PARTS_DIR, read_rows
from refmatte.schema import BACKGROUND_SCHEMA, COMPOSITE_SCHEMA, ENTITY_SCHEMA, conform


@dataclass
class ComposeSummary:
    manifest: Path
    plan: Plan
    rendered: int = 0
    reused: int = 0
    failed: list[str] = field(default_factory=list)  # placement errors, one sentence each
    removed: int = 0  # image and matte files of this split no longer in the manifest
    unannotated: int = 0  # kept entities left out because they have no category yet


def _render_safe(task: Task) -> tuple[str, list[dict] | None, str | None]:
    """Render one image; any failure comes back as one sentence (never an exception across processes)."""
    try:
        return task.plan.image_id, render(task), None
    except PlacementError as e:
        return task.plan.image_id, None, str(e)
    except Exception as e:  # a cache or background that vanished or broke since ingest, ...
        return task.plan.image_id, None, f"{task.plan.image_id}: {type(e).__name__}: {e}"


def _run_ray(tasks: list[Task], workers: int, address: str | None) -> Iterator[tuple[str, list[dict] | None, str | None]]:
    """The same per-image function on a Ray cluster (or a local Ray instance when no address).

    Every node must see the manifest folder at the same path (a shared filesystem): the
    tasks read the caches and write the images there, as local workers do.
    """
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'refmatte[ray]'.") from None
    started = not ray.is_initialized()
    if started:
        kwargs = dict(address=address) if address else dict(num_cpus=max(1, workers), include_dashboard=False)
        ray.init(log_to_driver=False, configure_logging=False, **kwargs)
    remote = ray.remote(num_cpus=1)(_render_safe)
    try:
        window = max(2, 4 * workers)  # bounded in-flight tasks: bounded memory on the driver
        pending, queue = [], list(tasks)
        while queue or pending:
            while queue and len(pending) < window:
                pending.append(remote.remote(queue.pop(0)))
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        if started:
            ray.shutdown()


def _run(tasks: list[Task], workers: int, executor: str = "local", address: str | None = None) -> Iterator[tuple[str, list[dict] | None, str | None]]:
    if executor == "ray":
        yield from _run_ray(tasks, workers, address)
        return
    yield from run_pool(tasks, _render_safe, workers)


def _write(path: Path, rows: list[dict]) -> None:
    rows = sorted(rows, key=lambda r: (r["image_id"], r["slot"]))
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=COMPOSITE_SCHEMA), tmp, compression="zstd")


def _prune(out: Path, split: str, rows: list[dict]) -> int:
    """Delete images and mattes of ``split`` that the manifest no longer names (a smaller re-run)."""
    keep = {r["image_path"] for r in rows} | {r["matte_path"] for r in rows}
    removed = 0
    for folder in (out / "images" / split, out / "mattes" / split):
        for f in folder.glob("*") if folder.is_dir() else []:
            if f.is_file() and not f.name.startswith(".") and f.relative_to(out).as_posix() not in keep:
                f.unlink()
                removed += 1
    return removed


def compose(
    out: Path,
    opts: ComposeOptions,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    executor: str = "local",
    address: str | None = None,
) -> ComposeSummary:
    """Compose ``opts.split`` from ``<out>/entities.parquet`` and ``<out>/backgrounds.parquet``.

    ``executor``: ``local`` (``workers`` processes) or ``ray`` (a cluster at ``address``,
    or a local Ray instance with ``workers`` CPUs). The output is the same either way.
    """
    out = Path(out)
    for table in (ENTITIES, BACKGROUNDS):
        if not table.path(out).is_file():
            raise ValueError(f"{table.path(out)} not found; run `refmatte ingest`/`refmatte backgrounds` and `refmatte annotate` into {out} first.")
    with exclusive(out):
        remove_stale_temps(out)
        entities = [r for r in read_rows(ENTITIES.path(out), ENTITY_SCHEMA) if r["reject_reason"] is None]
        unannotated = [r["entity_id"] for r in entities if r["supercategory"] is None]
        if len(unannotated) == len(entities):
            raise ValueError(f"no entity of {ENTITIES.path(out)} has a category yet; run `refmatte annotate --out {out}` first.")
        skipped_unannotated = len(unannotated)
        entities = [r for r in entities if r["supercategory"] is not None]  # the rest need review before composing
        backgrounds = [r for r in read_rows(BACKGROUNDS.path(out), BACKGROUND_SCHEMA) if r["reject_reason"] is None]
        plan = plan_split(entities, backgrounds, opts)
        manifest = out / f"{opts.split}.parquet"
        summary = ComposeSummary(manifest, plan, unannotated=skipped_unannotated)
        by_id = {e["entity_id"]: e for e in entities}
        bg_by_id = {b["background_id"]: b for b in backgrounds}

        parts_dir = out / PARTS_DIR
        prefix = f"compose-{opts.split}-"
        parts = sorted(parts_dir.glob(f"{prefix}*.parquet")) if parts_dir.is_dir() else []
        done: dict[str, list[dict]] = {}  # image id -> rows: the previous manifest, then newer parts
        sources = ([manifest] if manifest.is_file() else []) + parts
        for path in sources:
            by_image: dict[str, list[dict]] = {}
            for r in conform(pq.read_table(path), COMPOSITE_SCHEMA, str(path)).to_pylist():
                by_image.setdefault(r["image_id"], []).append(r)
            done.update(by_image)
        all_tasks = [Task(p, tuple(by_id[i] for i in p.entity_ids), bg_by_id[p.background_id], str(out.resolve()), opts) for p in plan.images]

        def finished(task: Task) -> bool:
            rows = done.get(task.plan.image_id)
            return (bool(rows) and len({r["slot"] for r in rows}) == len(rows) == len(task.plan.entity_ids)
                    and all(r["compose_key"] == task_key(task) for r in rows)
                    and (out / rows[0]["image_path"]).is_file() and all((out / r["matte_path"]).is_file() for r in rows))

        tasks = [t for t in all_tasks if not finished(t)]
        rows = []
        for t in all_tasks:
            if finished(t):  # reused: plan-level fields and entity attributes are refreshed
                for r in done[t.plan.image_id]:
                    e = by_id[r["entity_id"]]
                    rows.append(r | {"group": t.plan.group} | {c: e.get(c) for c in ENTITY_ATTRIBUTES})
        # Before any file is overwritten, the manifest names only what stays valid and the
        # parts are gone: a run killed now leaves nothing that points at redrawn files.
        _write(manifest, rows)
        for part in parts:
            part.unlink()
        parts = []
        summary.reused = len(plan.images) - len(tasks)
        pending, seq, last, n = [], len(parts), time.monotonic(), summary.reused
        if progress:
            progress(n, len(plan.images))
        for image_id, image_rows, error in _run(tasks, workers, executor, address):
            n += 1
            if error:
                summary.failed.append(error)
            else:
                rows += image_rows
                pending += image_rows
                summary.rendered += 1
            if progress:
                progress(n, len(plan.images))
            if pending and time.monotonic() - last > FLUSH_SECONDS:
                parts_dir.mkdir(exist_ok=True)
                _write(parts_dir / f"{prefix}{seq:06d}.parquet", pending)
                pending, seq, last = [], seq + 1, time.monotonic()
        _write(manifest, express_rows(rows, opts.seed, opts.expressions_per_entity, opts.colour_style))
        for part in parts_dir.glob(f"{prefix}*.parquet") if parts_dir.is_dir() else []:
            part.unlink()
        summary.removed = _prune(out, opts.split, rows)
    return summary
