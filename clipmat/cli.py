"""The ``clipmat`` command line. Model, training and evaluation commands join as they land."""

from __future__ import annotations

import platform

import typer

from clipmat import __version__

app = typer.Typer(help="CLIPMat: the reference Referring Image Matting model.", no_args_is_help=True, add_completion=False)


@app.callback()
def _main() -> None:
    """CLIPMat reference model (Li et al., Referring Image Matting, section 4)."""


@app.command("env")
def env_cmd() -> None:
    """Print the versions and devices clipmat would run with (paste this into bug reports)."""
    import open_clip
    import torch

    print(f"clipmat {__version__}")
    print(f"python {platform.python_version()} on {platform.platform()}")
    print(f"torch {torch.__version__}, open_clip {open_clip.__version__}")
    cuda = torch.cuda.is_available()
    print(f"cuda available: {cuda}" + (f" ({torch.cuda.device_count()} x {torch.cuda.get_device_name(0)})" if cuda else ""))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
