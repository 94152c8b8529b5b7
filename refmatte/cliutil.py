"""What every refmatte command shares: the console, one-sentence errors, common options."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)
OUT = typer.Option(Path("manifests"), "--out", "-o", help="Manifest folder (tables, caches).")
MAX_PIXELS = typer.Option(
    None, "--max-pixels", envvar="REFMATTE_MAX_PIXELS", min=1, show_default="100000000",
    help="Refuse any image larger than this many pixels, before decoding it (a decompression bomb); every "
    "command that reads images applies it. Give it before the command: refmatte --max-pixels N ingest ...")


def apply_max_pixels(value: int | None) -> None:
    """Make ``--max-pixels`` the cap of this process and the workers it starts."""
    from refmatte.imaging import set_max_pixels

    set_max_pixels(value)


def fail(message: str) -> None:
    """Print ``message`` as the one-sentence error of the command and exit with status 2."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(2)
