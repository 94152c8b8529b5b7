"""What every refmatte command shares: the console, one-sentence errors, common options."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)
OUT = typer.Option(Path("manifests"), "--out", "-o", help="Manifest folder (tables, caches).")


def fail(message: str) -> None:
    """Print ``message`` as the one-sentence error of the command and exit with status 2."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(2)
