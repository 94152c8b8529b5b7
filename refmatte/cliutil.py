"""What every refmatte command shares: the console, one-sentence errors, common options."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

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
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # names from data are not markup
    raise typer.Exit(2)


def check_outputs(outputs: dict[str, tuple[Path | None, tuple[str, ...]]], inputs: dict[str, Path]) -> None:
    """Stop (:func:`fail`) unless every output can be written without destroying a user's file.

    ``outputs``: option -> (path, suffixes it may have; empty for any). An output is refused
    when it is a folder, has another suffix than its kind (``--csv train.parquet`` would
    replace a manifest), is one of ``inputs`` (same file, links included), or names the
    same file as another output.
    """
    seen: dict[Path, str] = {}
    for option, (path, suffixes) in outputs.items():
        if path is None:
            continue
        if path.is_dir():
            fail(f"{option} {path} is a folder: give a file name such as {path / ('out' + (suffixes or ('.png',))[0])}")
        if suffixes and path.suffix.lower() not in suffixes:
            fail(f"{option} {path} must end in {' or '.join(suffixes)} (it names the file written); refusing to "
                 f"write over a file of another kind")
        resolved = path.resolve()
        for what, given in inputs.items():
            if resolved == given.resolve() or (path.exists() and given.exists() and path.samefile(given)):
                fail(f"{option} {path} is the {what}: refusing to overwrite an input; give another file name")
        if resolved in seen:
            fail(f"{option} and {seen[resolved]} both name {path}; give two file names")
        seen[resolved] = option
