"""``refmatte export``: a composite manifest as a Hugging Face dataset, WebDataset shards or refer-style JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from refmatte.cliutil import console, fail


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)


def export_cmd(
    manifest: Path = typer.Argument(..., help="Composite manifest (refmatte compose: manifests/train.parquet)."),
    format: str = typer.Option(..., "--format", help="hf: a datasets dataset (load_from_disk), Image features, every "
                               "column, a dataset card from the datasheet; webdataset: tar shards, one sample per image "
                               "(KEY.jpg, KEY.SLOT.png, KEY.json); refcoco: instances.json with COCO RLE masks and "
                               "refs.json, as refer-style grounding tools read them."),
    out: Path = typer.Option(..., "--out", help="Folder to write; replaced whole at the end (a failed run keeps the last "
                             "good export). Never the manifest's own folder."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1, help="webdataset: images per tar shard."),
) -> None:
    """Export a composite manifest for other tools (Hugging Face datasets, WebDataset, refer / COCO)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from refmatte.export import FORMATS, ExportError, export

    if format not in FORMATS:
        fail(f"unknown --format {format!r}; choose {', '.join(FORMATS)}")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a folder")
    root = manifest.resolve().parent
    if out.resolve() == root or root.is_relative_to(out.resolve()):
        fail(f"--out {out} holds the manifest's folder; exporting there would replace it. Give a new folder")
    try:
        import pyarrow.parquet as pq

        total = pq.ParquetFile(manifest).metadata.num_rows if manifest.is_file() else 0
    except Exception:  # unreadable: export names it
        total = 0
    try:
        with Progress(TextColumn(f"export {format}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as bar:
            task = bar.add_task("export", total=total or None)
            summary = export(manifest, format, out, shard_size, progress=lambda n: bar.advance(task, n))
    except (ExportError, OSError) as e:
        fail(str(e))
    extra = ", ".join(f"{k} {v}" for k, v in summary.items() if k not in ("format", "out", "rows", "images"))
    console.print(f"{summary['images']} images, {summary['rows']} entity rows -> {out} ({format}{'; ' + extra if extra else ''})",
                  soft_wrap=True)
