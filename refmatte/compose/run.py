"""The ``refmatte compose`` runner: plan, render in parallel, resume, commit ``<split>.parquet``.

Images are rendered by :func:`refmatte.compose.render.render`, a pure function of its task,
in worker processes (any number gives the same bytes). The previous output is never
touched until the new run has succeeded:

1. every file the plan reads (entity caches, backgrounds) is checked first: a missing one
   stops the run, naming it, before anything is written;
2. new images and mattes go to ``.staging/<split>/<compose_key>/``: a file staged for other
   options can never pass for this image; rows of finished images are flushed every few
   seconds to ``.parts/compose-<split>-*.parquet``, so a killed or failed run resumes with
   what it staged;
3. a render that fails for another reason than placement (a broken cache, a full disk)
   fails the run after the others finished: exit non-zero with the count and the reasons,
   the previous manifest, images and mattes intact;
4. otherwise the run commits: the new manifest is written to the staging folder (the
   journal), the staged files are moved into ``images/`` and ``mattes/``, the journal
   replaces ``<split>.parquet``, and only then are files of the split that the manifest no
   longer names pruned. A run killed during the commit finishes it on the next start (or
   ``refmatte express`` does); until then readers refuse the manifest
   (:func:`check_committed`), whose files are half old, half new.

Images that cannot be placed (no placement within ``max_trials``) are reported, not fatal:
they are a property of the plan, and the rest is committed. A plan none of whose images
could be placed commits nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from refmatte.atomic import atomic_path, exclusive, remove_stale_temps
from refmatte.compose.plan import ComposeOptions, Plan, plan_split
from refmatte.compose.render import ENTITY_ATTRIBUTES, SIZE_CACHE, PlacementError, Task, render, size_cache_path, task_key
from refmatte.express.run import express_rows
from refmatte.parallel import run_tasks
from refmatte.ingest import BACKGROUNDS, ENTITIES, FLUSH_SECONDS, PARTS_DIR, read_rows
from refmatte.paths import inside, own_folder, safe_name
from refmatte.schema import BACKGROUND_SCHEMA, COMPOSITE_SCHEMA, ENTITY_SCHEMA, conform

STAGING_DIR = ".staging"
JOURNAL = "commit.parquet"
SHOW_ERRORS = 5


class ComposeError(ValueError):
    """The run could not finish: nothing of the previous output was changed (one-sentence message)."""


@dataclass
class ComposeSummary:
    manifest: Path
    plan: Plan
    rendered: int = 0
    reused: int = 0
    failed: list[str] = field(default_factory=list)  # placement errors, one sentence each (not fatal)
    errors: list[str] = field(default_factory=list)  # other render failures: the run did not commit
    removed: int = 0  # image and matte files of this split no longer in the manifest
    cache_pruned: int = 0  # size-cache files of entities whose cache or pixels changed, or that are gone
    unannotated: int = 0  # kept entities left out because they have no category yet


Outcome = tuple[str, list[dict] | None, str | None, bool]  # image id, rows, error sentence, placement error?


def _render_safe(task: Task) -> Outcome:
    """Render one image; any failure comes back as one sentence (never an exception across processes)."""
    try:
        return task.plan.image_id, render(task), None, False
    except PlacementError as e:
        return task.plan.image_id, None, str(e), True
    except Exception as e:  # a cache or background that broke since ingest, a full disk, ...
        return task.plan.image_id, None, f"{task.plan.image_id}: {type(e).__name__}: {e}", False


def _write(path: Path, rows: list[dict]) -> None:
    rows = sorted(rows, key=lambda r: (r["image_id"], r["slot"]))
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=COMPOSITE_SCHEMA), tmp, compression="zstd")


def _prune(out: Path, split: str, rows: list[dict]) -> int:
    """Delete images and mattes of ``split`` that the manifest no longer names (a smaller re-run).

    Only files of the names compose writes (``<split>-NNNNNN.jpg``, ``<split>-NNNNNN_K.png``)
    are candidates: anything else a user keeps in those folders is theirs. A folder that is
    a symbolic link leading out of ``out`` is refused by :func:`own_folder`.
    """
    keep = {r["image_path"] for r in rows} | {r["matte_path"] for r in rows}
    ours = re.compile(rf"{re.escape(split)}-\d+(\.jpg|_\d+\.png)")
    removed = 0
    for folder in (own_folder(out, f"images/{split}"), own_folder(out, f"mattes/{split}")):
        for f in folder.iterdir() if folder.is_dir() else []:
            if ours.fullmatch(f.name) and not f.is_symlink() and f.is_file() \
                    and f.relative_to(out).as_posix() not in keep:
                f.unlink()
                removed += 1
    return removed


SIZE_CACHE_NAME = re.compile(r"(?P<entity>.+)-(?P<long>\d+)-[0-9a-f]{12}\.(png|json)")


def prune_size_cache(out: Path) -> int:
    """Delete size-cache files that no entity of ``entities.parquet`` would read again: made from
    an entity cache or source that has changed since (another key for the same entity and
    size), or of an entity no longer in the manifest. Files of other canvas sizes of a current
    entity stay (another split may use them). Only names compose writes are candidates."""
    folder = own_folder(out, SIZE_CACHE)
    if not folder.is_dir():
        return 0
    by_name = {safe_name(e["entity_id"]): e for e in read_rows(ENTITIES.path(out), ENTITY_SCHEMA)}
    removed = 0
    for f in folder.iterdir():
        m = SIZE_CACHE_NAME.fullmatch(f.name)
        if not m or f.is_symlink() or not f.is_file():
            continue
        entity = by_name.get(m["entity"])
        if entity is None or size_cache_path(entity, out, int(m["long"])).stem != f.stem:
            f.unlink()
            removed += 1
    return removed


def finish_commit(out: Path, split: str) -> int:
    """Finish a commit whose journal exists: move the staged files it names into place, then the
    journal over the manifest; prune. Idempotent, so a run killed half-way calls it again.
    The caller holds the folder's lock. Returns the files pruned (0 when nothing was pending).
    """
    staging = out / STAGING_DIR / split
    journal = staging / JOURNAL
    if not journal.is_file():
        return 0
    rows = read_rows(journal, COMPOSITE_SCHEMA)
    for r in rows:
        for column in ("matte_path", "image_path"):  # the image last, as render writes it
            target = inside(out, r[column], f"{journal} row {r['image_id']}, {column}")
            staged = staging / str(r["compose_key"]) / target.relative_to(out)
            if staged.is_file():  # staged for exactly this key: the same bytes a render would give
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
    os.replace(journal, out / f"{split}.parquet")
    parts_dir = out / PARTS_DIR
    for part in parts_dir.glob(f"compose-{split}-*.parquet") if parts_dir.is_dir() else []:
        part.unlink()
    removed = _prune(out, split, rows)
    shutil.rmtree(staging, ignore_errors=True)
    return removed


def plan_from(out: Path, opts: ComposeOptions) -> tuple[Plan, list[dict], list[dict], int]:
    """(plan, kept annotated entities, kept backgrounds, entities left out for want of a category)
    read from ``out``'s manifests; writes nothing (``refmatte compose --dry-run`` stops here)."""
    for table in (ENTITIES, BACKGROUNDS):
        if not table.path(out).is_file():
            raise ValueError(f"{table.path(out)} not found; run `refmatte ingest`/`refmatte backgrounds` and `refmatte annotate` into {out} first.")
    entities = [r for r in read_rows(ENTITIES.path(out), ENTITY_SCHEMA) if r["reject_reason"] is None]
    unannotated = sum(r["supercategory"] is None for r in entities)
    if unannotated == len(entities):
        raise ValueError(f"no entity of {ENTITIES.path(out)} has a category yet; run `refmatte annotate --out {out}` first.")
    entities = [r for r in entities if r["supercategory"] is not None]  # the rest need review before composing
    for e in entities:  # caches are read through these paths: they belong to the folder
        inside(out, e["rgba_path"] or "", f"{ENTITIES.path(out).name} row {e['entity_id']}, rgba_path")
    backgrounds = [r for r in read_rows(BACKGROUNDS.path(out), BACKGROUND_SCHEMA) if r["reject_reason"] is None]
    return plan_split(entities, backgrounds, opts), entities, backgrounds, unannotated


def check_committed(manifest: Path) -> None:
    """ValueError when a compose of ``manifest``'s split was killed while committing (its files are mixed)."""
    manifest = Path(manifest)
    if (manifest.parent / STAGING_DIR / manifest.stem / JOURNAL).is_file():
        raise ValueError(f"{manifest}: a refmatte compose of this split was killed while committing, so its images "
                         f"are half old, half new; run that compose again (or `refmatte express {manifest}`) to finish "
                         "the commit first.")


def _check_inputs(out: Path, tasks: list[Task]) -> None:
    """Stop, naming the file, when a cache or background the renders need is not there."""
    caches, backgrounds = {}, {}
    for t in tasks:
        for e in t.entities:
            caches[e["entity_id"]] = e["rgba_path"]
        backgrounds[t.background["background_id"]] = t.background
    gone = [(i, out / rel) for i, rel in sorted(caches.items()) if not rel or not (out / rel).is_file()]
    if gone:
        raise ComposeError(f"{len(gone)} entity caches named by {ENTITIES.path(out)} are missing (first: {gone[0][1]}, "
                           f"row {gone[0][0]}); re-run `refmatte ingest` into {out} to rebuild them.")
    gone = [b for _, b in sorted(backgrounds.items()) if not b["image_path"] or not (out / b["image_path"]).is_file()]
    if gone:
        b = gone[0]
        where = "" if b["source"] == "sample" else " <their folder>"
        raise ComposeError(
            f"{len(gone)} background images named by {BACKGROUNDS.path(out)} are not there (first: "
            f"{os.path.normpath(out / (b['image_path'] or ''))}, row {b['background_id']}); paths are relative to the "
            f"manifest folder, so it or the backgrounds moved: run `refmatte backgrounds {b['source']}{where} --out {out}` "
            "to point it at them again (nothing is decoded again).")


def _read_composites(path: Path) -> dict[str, list[dict]]:
    """Rows of a composite manifest or part file by image id."""
    by_image: dict[str, list[dict]] = {}
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as e:
        raise ComposeError(f"{path} is not a readable Parquet file ({e}); move it away and re-run.") from None
    for r in conform(table, COMPOSITE_SCHEMA, str(path)).to_pylist():
        by_image.setdefault(r["image_id"], []).append(r)
    return by_image


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
    Raises :class:`ComposeError` when inputs are missing or renders failed; the previous
    output is then unchanged (see the module doc).
    """
    out = Path(out)
    for table in (ENTITIES, BACKGROUNDS):
        if not table.path(out).is_file():
            raise ValueError(f"{table.path(out)} not found; run `refmatte ingest`/`refmatte backgrounds` and `refmatte annotate` into {out} first.")
    with exclusive(out):
        remove_stale_temps(out)
        split = opts.split
        for folder in (f"{STAGING_DIR}/{split}", f"images/{split}", f"mattes/{split}", PARTS_DIR, SIZE_CACHE):
            own_folder(out, folder)  # every folder compose writes in stays inside out, links included
        staging = out / STAGING_DIR / split
        manifest = out / f"{split}.parquet"
        finish_commit(out, split)  # a run killed while committing: finish its commit first

        # --- plan
        plan, entities, backgrounds, unannotated = plan_from(out, opts)
        summary = ComposeSummary(manifest, plan, unannotated=unannotated)
        by_id = {e["entity_id"]: e for e in entities}
        bg_by_id = {b["background_id"]: b for b in backgrounds}
        all_tasks = [Task(p, tuple(by_id[i] for i in p.entity_ids), bg_by_id[p.background_id], str(out.resolve()), opts)
                     for p in plan.images]
        all_tasks = [replace(t, dest=str(staging.resolve() / task_key(t))) for t in all_tasks]

        # --- what is done: the committed manifest (files in place), then staged parts (files in staging)
        parts_dir = out / PARTS_DIR
        prefix = f"compose-{split}-"
        parts = sorted(parts_dir.glob(f"{prefix}*.parquet")) if parts_dir.is_dir() else []
        committed = _read_composites(manifest) if manifest.is_file() else {}
        staged: dict[str, list[dict]] = {}
        for part in parts:
            staged.update(_read_composites(part))

        def matches(rows: list[dict] | None, task: Task, root: Path) -> bool:
            return (bool(rows) and len({r["slot"] for r in rows}) == len(rows) == len(task.plan.entity_ids)
                    and all(r["compose_key"] == task_key(task) for r in rows)
                    and all(inside(root, r[c], f"{manifest.name} row {r['image_id']}, {c}").is_file()
                            for r in rows for c in ("image_path", "matte_path")))

        rows, tasks = [], []
        for t in all_tasks:
            image_id = t.plan.image_id
            if matches(staged.get(image_id), t, Path(t.dest)):
                found = staged[image_id]
            elif matches(committed.get(image_id), t, out):
                found = committed[image_id]
            else:
                tasks.append(t)
                continue
            for r in found:  # reused: plan-level fields and entity attributes are refreshed
                e = by_id[r["entity_id"]]
                rows.append(r | {"group": t.plan.group} | {c: e.get(c) for c in ENTITY_ATTRIBUTES})
        _check_inputs(out, tasks)
        summary.reused = len(plan.images) - len(tasks)

        # --- render into the staging folder
        seq = 1 + max((int(p.stem.rsplit("-", 1)[-1]) for p in parts if p.stem.rsplit("-", 1)[-1].isdigit()), default=-1)
        pending, last, n = [], time.monotonic(), summary.reused
        if progress:
            progress(n, len(plan.images))
        for image_id, image_rows, error, placement in run_tasks(tasks, _render_safe, workers, executor, address):
            n += 1
            if error:
                (summary.failed if placement else summary.errors).append(error)
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
        if pending:  # what was rendered is kept for the next run, whatever happens now
            parts_dir.mkdir(exist_ok=True)
            _write(parts_dir / f"{prefix}{seq:06d}.parquet", pending)
        if summary.errors:
            shown = "; ".join(summary.errors[:SHOW_ERRORS])
            raise ComposeError(f"{len(summary.errors)} of {len(tasks)} images could not be rendered, so nothing was "
                               f"committed and {manifest} is unchanged ({summary.rendered} rendered images are kept "
                               f"for the next run): {shown}")

        if plan.images and not rows:
            raise ComposeError(f"none of the {len(plan.images)} planned images could be placed, so nothing was "
                               f"committed and {manifest} is unchanged: {'; '.join(summary.failed[:SHOW_ERRORS])}")

        # --- commit: journal, files into place, manifest, prune
        _write(staging / JOURNAL, express_rows(rows, opts.seed, opts.expressions_per_entity, opts.colour_style,
                                                opts.expression_style))
        summary.removed = finish_commit(out, split)
        summary.cache_pruned = prune_size_cache(out)
    return summary
