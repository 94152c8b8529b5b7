"""``refmatte import-refmatte`` and ``import-rw100``: the official benchmarks as manifests."""

from __future__ import annotations

from pathlib import Path

import typer

from refmatte.cliutil import console, fail


def _report(summary) -> None:
    for path, n in summary.written.items():
        console.print(f"wrote {path}: {n} entities", soft_wrap=True)
    for title, lines in (("[yellow]{} skipped[/] (not imported)", summary.skipped), ("{} notes", summary.notes)):
        if lines:
            console.print(title.format(len(lines)) + ":")
            for line in lines[:20]:
                console.print(f"  {line}", soft_wrap=True)
            if len(lines) > 20:
                console.print(f"  ... and {len(lines) - 20} more")


def import_refmatte_cmd(
    path: Path = typer.Argument(..., help="The RefMatte release folder (holding train/ and test/)."),
    out: Path = typer.Option(Path("manifests/refmatte"), "--out", help="Folder for train.parquet and test.parquet."),
) -> None:
    """Convert the official RefMatte release (train/{img,mask} + refmatte_train_label.json, same for
    test) into manifests that clipmat train / eval read. Files stay where they are."""
    from refmatte.benchmarks import import_refmatte

    try:
        _report(import_refmatte(path, out))
    except (ValueError, OSError) as e:
        fail(str(e))


def import_rw100_cmd(
    path: Path = typer.Argument(..., help="The RefMatte-RW100 release folder (image/, mask/, label JSONs)."),
    out: Path = typer.Option(Path("manifests/rw100"), "--out", help="Folder for rw100.parquet."),
) -> None:
    """Convert RefMatte-RW100 into a manifest, keeping the official evaluation expression of each entity
    (eval_index_expression.json), so clipmat eval --setting expression runs the paper's protocol."""
    from refmatte.benchmarks import import_rw100

    try:
        _report(import_rw100(path, out))
    except (ValueError, OSError) as e:
        fail(str(e))


def register(app: typer.Typer) -> None:
    app.command("import-refmatte")(import_refmatte_cmd)
    app.command("import-rw100")(import_rw100_cmd)
