"""The ``clipmat`` command line. Model, training and evaluation commands join as they land."""

from __future__ import annotations

import platform
from typing import Optional

import typer

from clipmat import __version__, cli_run
from refmatte.cliutil import MAX_PIXELS, apply_max_pixels

app = typer.Typer(help="CLIPMat: the reference Referring Image Matting model.", no_args_is_help=True, add_completion=False)


@app.callback()
def _main(max_pixels: Optional[int] = MAX_PIXELS) -> None:
    """CLIPMat reference model (Li et al., Referring Image Matting, section 4)."""
    apply_max_pixels(max_pixels)


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


@app.command("list-models")
def list_models_cmd(
    params: bool = typer.Option(False, "--params", help="Build each trainable model (random weights) and count its "
                                "parameters; takes a few seconds per large model."),
) -> None:
    """List every registered architecture (clipmat/configs/*.json): CLIPMat, the refiner, CLIPSeg and the
    zero-training cascade, with what each needs. Any of them, or a JSON file with the same fields,
    can be passed where a command takes --model (train) or a checkpoint (a cascade: predict, eval)."""
    from rich.console import Console
    from rich.table import Table

    from clipmat.config import get_config, list_models

    table = Table("model", "family", "backbone", "input px", "needs", *(["parameters"] if params else []))
    for name in list_models():
        c = get_config(name)
        backbone = {"clipmat": lambda: f"{c.clip_model} (CLIP)", "refiner": lambda: f"{c.backbone} (torchvision)",
                    "clipseg": lambda: "CLIP ViT-B/16" if c.hf_config.get("vision_config", {}).get("hidden_size") == 768
                    else "tiny CLIP", "cascade": lambda: "Grounding DINO + SAM + ViTMatte"}[c.family]()
        row = [name, c.family, backbone, str(c.image_size) if c.family != "cascade" else f"{c.image_size} long side", c.needs]
        if params:
            if c.family == "cascade":
                row.append("-")
            else:
                from clipmat.build import build_model

                row.append(f"{sum(p.numel() for p in build_model(c).parameters()) / 1e6:.1f} M")
        table.add_row(*row)
    Console(width=150).print(table)


cli_run.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
