"""``refmatte annotate``, ``refmatte labels`` and ``refmatte synonyms`` (paper 3.1)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table as RichTable

from refmatte.annotate import ANNOTATORS, annotate
from refmatte.annotate.base import AnnotateSummary
from refmatte.atomic import atomic_write_bytes
from refmatte.cliutil import OUT, check_outputs, console, fail

labels_app = typer.Typer(help="Review categories and attributes by hand: export a CSV, edit it, import it.", no_args_is_help=True)
synonyms_app = typer.Typer(help="The reviewed category synonyms table (WordNet + hand checks).", no_args_is_help=True)


def make_annotators(out: Path, only: list[str], detector_weights, detector_arch, detector_min_score, detector_size,
                    age_gender_backend, age_gender_models, clip_model, clip_weights, device: str = "cpu"):
    from refmatte.annotate.category import CategoryAnnotator
    from refmatte.annotate.clothes import ClothesAnnotator
    from refmatte.annotate.color import ColorAnnotator
    from refmatte.annotate.people import PeopleAnnotator
    from refmatte.annotate.synonyms import SynonymsAnnotator
    from refmatte.annotate.traits import TraitsAnnotator

    make = {
        "category": lambda: CategoryAnnotator(out, detector_weights, detector_arch, detector_min_score, detector_size, device),
        "synonyms": SynonymsAnnotator,
        "color": ColorAnnotator,
        "traits": TraitsAnnotator,
        "people": lambda: PeopleAnnotator(out, age_gender_backend, age_gender_models),
        "clothes": lambda: ClothesAnnotator(out, clip_model, clip_weights, device),
    }
    return [make[name]() for name in ANNOTATORS if name in only]


def run_annotate(out: Path, annotators, workers: int = 1, executor: str = "local", address: str | None = None) -> AnnotateSummary:
    columns = [TextColumn("annotate [bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        return annotate(out, annotators, progress, workers, executor, address)


def print_annotate_summary(s: AnnotateSummary, annotators, rows: list[dict]) -> None:
    from refmatte.annotate.truth import agreement

    t = RichTable()
    for c, j in (("annotator", "left"), ("annotated now", "right"), ("up to date", "right"), ("note", "left")):
        t.add_column(c, justify=j)
    notes = []
    for a in annotators:
        note = ""
        if a.name in s.skipped:
            note, _ = "skipped: no weights", notes.append(f"[yellow]{a.name}:[/] {s.skipped[a.name]}")
        elif a.name in s.notes:
            note, _ = "partly: no weights", notes.append(f"[yellow]{a.name}:[/] {s.notes[a.name]}")
        if a.name == "category" and getattr(a, "waiting", 0):
            note, _ = "some need review", notes.append(
                f"[yellow]category:[/] {a.waiting} entities have no usable source label: give --detector-weights PATH "
                "(or official when online), or hand labels (refmatte labels export / import).")
        t.add_row(a.name, str(s.done.get(a.name, 0)), str(s.reused[a.name]) if a.name in s.reused else "-", note)
    console.print(f"annotate {s.manifest}: {s.entities} kept entities", soft_wrap=True)
    console.print(t)
    for line in notes:
        console.print(line, soft_wrap=True)
    agree = agreement(rows)
    if agree:
        console.print("agreement with the source's ground truth: " + ", ".join(f"{w} {a}/{n} ({a / n:.0%})" for w, a, n in agree), soft_wrap=True)


@synonyms_app.command("build")
def synonyms_build(
    out: Optional[Path] = typer.Option(None, help="Where to write the table.", show_default="the package's data/synonyms.csv"),
    check: bool = typer.Option(False, "--check", help="Do not write: exit 1 when the committed table differs from a rebuild."),
) -> None:
    """Rebuild the synonyms table from WordNet and the reviewed overrides (data/synonyms_overrides.csv)."""
    from refmatte.synonyms import WordNetMissing, build_table, render_table, table_path

    try:
        text = render_table(build_table())
    except (WordNetMissing, ValueError) as e:
        fail(str(e))
    _write_or_check(out or table_path(), text, check, "refmatte synonyms build")


def _write_or_check(path: Path, text: str, check: bool, command: str) -> None:
    """Write a rebuilt data table, or with ``check`` exit 1 when the committed one differs."""
    if check:
        same = path.is_file() and path.read_text() == text
        console.print(f"{path} is up to date." if same else f"{path} differs from a rebuild: run `{command}`.")
        raise typer.Exit(0 if same else 1)
    atomic_write_bytes(path, text.encode())
    console.print(f"wrote {path}")


@synonyms_app.command("taxonomy")
def synonyms_taxonomy(
    check: bool = typer.Option(False, "--check", help="Do not write: exit 1 when the committed table differs from a rebuild."),
) -> None:
    """Rebuild data/taxonomy.csv (which names are broader than which: woman -> person) from WordNet
    and the reviewed overrides (data/taxonomy_overrides.csv)."""
    from refmatte.synonyms import WordNetMissing
    from refmatte.taxonomy import build_taxonomy, render_taxonomy, table_path

    try:
        text = render_taxonomy(build_taxonomy())
    except (WordNetMissing, ValueError) as e:
        fail(str(e))
    _write_or_check(table_path(), text, check, "refmatte synonyms taxonomy")


@synonyms_app.command("install-wordnet")
def synonyms_install_wordnet(
    source: Path = typer.Option(Path("/usr/share/wordnet"), help="WordNet 3.0 database files (Debian: apt install wordnet-base wordnet-sense-index)."),
) -> None:
    """Make WordNet usable by nltk offline: copy Debian's files into <venv>/nltk_data and add lexnames."""
    from refmatte.synonyms import WordNetMissing, install_wordnet

    try:
        console.print(f"WordNet installed in {install_wordnet(source)}")
    except WordNetMissing as e:
        fail(str(e))


EXPORT_COLUMNS = ["entity_id", "source", "source_key", "source_label", "category", "supercategory", "category_source",
                  "category_confidence", "detector_label", "needs_review", "gender", "age_group", "clothes"]


@labels_app.command("export")
def labels_export(
    out: Path = OUT,
    file: Path = typer.Option(Path("review.csv"), "--file", "-f", help="CSV to write; a preview page with the same rows is written next to it (.html)."),
    all_rows: bool = typer.Option(False, "--all", help="Every kept entity, not only those that need review."),
) -> None:
    """Write the entities to review (needs_review first) as a CSV to edit, plus their preview page.

    Edit the category, gender, age_group or clothes cells (clothes: words separated by ;),
    then `refmatte labels import FILE`: only the cells you changed become hand labels.
    """
    from refmatte.ingest import ENTITIES, read_rows
    from refmatte.preview import render_preview
    from refmatte.schema import ENTITY_SCHEMA

    check_outputs({"--file": (file, (".csv",)), "its preview page": (file.with_suffix(".html"), (".html",))},
                  {"manifest": ENTITIES.path(out)})
    try:
        rows = [r for r in read_rows(ENTITIES.path(out), ENTITY_SCHEMA) if r["reject_reason"] is None]
    except (ValueError, OSError) as e:
        fail(str(e))
    if not all_rows:
        rows = [r for r in rows if r["needs_review"] or r["category"] is None]
    rows.sort(key=lambda r: (not r["needs_review"], r["entity_id"]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "clothes": ";".join(r["clothes"] or [])})
    try:
        atomic_write_bytes(file, buf.getvalue().encode())
        page = render_preview(ENTITIES.path(out), file.with_suffix(".html"), ids={r["entity_id"] for r in rows})
    except (OSError, ValueError) as e:
        fail(f"cannot write {file} or its preview page ({e}); give a writable --file")
    console.print(f"wrote {file} ({len(rows)} entities) and {page.html}")


@labels_app.command("import")
def labels_import(file: Path = typer.Argument(..., help="A reviewed CSV (from `labels export`, or entity_id plus any of category, gender, age_group, clothes)."), out: Path = OUT) -> None:
    """Record the corrections of FILE in OUT/hand_labels.csv; they win over every annotator."""
    from refmatte.annotate.hand import FILE as HAND_FILE
    from refmatte.annotate.hand import merge
    from refmatte.ingest import ENTITIES, read_rows
    from refmatte.schema import ENTITY_SCHEMA

    from refmatte.atomic import exclusive

    try:
        if not ENTITIES.path(out).is_file():
            raise ValueError(f"{ENTITIES.path(out)} not found; give the manifest folder with --out.")
        with exclusive(out):  # never while annotate or ingest rewrites the folder
            rows = {r["entity_id"]: r for r in read_rows(ENTITIES.path(out), ENTITY_SCHEMA)}
            n, unknown = merge(out, file, rows)
    except (ValueError, OSError) as e:
        fail(str(e))
    if unknown:
        console.print(f"[yellow]skipped {len(unknown)} rows whose entity_id is not in {ENTITIES.path(out)}:[/] {', '.join(unknown[:5])}", soft_wrap=True)
    console.print(f"recorded {n} corrections in {out / HAND_FILE}; run `refmatte annotate --out {out}` to apply them.")
