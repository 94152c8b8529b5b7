"""``clipmat train / eval / score / predict``: thin typer commands over clipmat's library."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import typer

from refmatte.cliutil import check_outputs, console, fail

SETTING_HELP = "keyword: the entity's category name in a matting template; expression: one of its expressions."


def _errors():
    from clipmat import CheckpointError, ConfigError, WeightsError
    from clipmat.data import DataError
    from refmatte.atomic import OutputError
    from refmatte.imaging import ImageReadError

    return (CheckpointError, ConfigError, WeightsError, DataError, OutputError, ImageReadError, OSError)


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("eval")(eval_cmd)
    app.command("score")(score_cmd)
    from clipmat.cli_predict import predict_cmd, serve_cmd

    app.command("predict")(predict_cmd)
    app.command("serve")(serve_cmd)
    app.command("export")(export_cmd)
    app.command("push")(push_cmd)


def train_cmd(
    manifest: Path = typer.Argument(..., help="Composite manifest to train on (refmatte compose: manifests/train.parquet)."),
    out: Path = typer.Option(Path("runs/clipmat"), "--out", help="Run folder: log.jsonl, checkpoints/, final.safetensors."),
    setting: str = typer.Option("keyword", "--setting", help=SETTING_HELP),
    model: str = typer.Option("ViT-B-16", "--model", help="Architecture (clipmat list-models) or a JSON config file."),
    clip_weights: str = typer.Option(None, "--clip-weights", "--weights", help="Pretrained weights. CLIPMat: an open_clip "
                                     "tag (e.g. openai: downloaded when online) or a local CLIP .pt/.safetensors file "
                                     "(OpenAI's TorchScript .pt files too); CLIPSeg: a hub id (CIDAS/clipseg-rd64-refined) "
                                     "or a local folder; refiner: imagenet or a torchvision .pth file. Nothing: random weights."),
    quick_gelu: bool = typer.Option(None, "--quick-gelu/--no-quick-gelu", help="CLIP's activation; default: as the weights "
                                    "say (QuickGELU for the openai tag and for OpenAI's TorchScript files, else GELU).",
                                    show_default=False),
    augment: str = typer.Option("stored", "--augment", help="stored: the composites as written, with their background "
                                "swapped for a texture; rssn: every sample composed anew over a background of "
                                "backgrounds.parquet with GFM's RSSN steps, and GFM's composition loss."),
    ablate: str = typer.Option("", "--ablate", help="Table 3: modules to turn off, comma-separated: tsp, mde, "
                               "pre-context, post-context (docs/ablations.md says what each means)."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Images per step and process; default: the model "
                                   "config's (paper: 12 for ViT-B/16, 4 for ViT-L/14).", show_default=False),
    accumulate: int = typer.Option(1, "--accumulate", min=1, help="Optimiser step every N batches (gradient accumulation)."),
    epochs: int = typer.Option(50, "--epochs", min=1, help="Passes over the manifest (paper: 50)."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after this many optimiser steps."),
    lr: float = typer.Option(1e-4, "--lr", help="Adam learning rate (paper: 1e-4, fixed)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the epoch order and every augmentation draw."),
    workers: int = typer.Option(2, "--workers", help="Data-loading processes."),
    checkpoint_every: int = typer.Option(1000, "--checkpoint-every", min=1, help="Optimiser steps between checkpoints."),
    val: Path = typer.Option(None, "--val", help="Manifest evaluated (SAD/MSE/MAD, referring accuracy) after each epoch."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --out (without it, an --out that holds a run is refused)."),
    trimap_kernel: int = typer.Option(25, "--trimap-kernel", help="Erosion kernel of the online trimaps, px at 512 px."),
    coarse_from: Path = typer.Option(None, "--coarse-from", help="Refiner only: a CLIPMat or CLIPSeg checkpoint whose "
                                     "predictions are half of the coarse inputs (the other half: the true matte degraded)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)."),
) -> None:
    """Train CLIPMat, the refiner or CLIPSeg (--model; clipmat list-models): Adam, bf16 autocast on GPU.

    Multi-GPU: torchrun --nproc-per-node N -m clipmat.cli train ...

    Checkpoints (safetensors weights, optimiser state and a JSON of the training state)
    go to OUT/checkpoints; --resume picks up the newest, with the same batches as an
    uninterrupted run. Losses go to OUT/log.jsonl, one line per step.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from clipmat.data import read_manifest
    from clipmat.train import TrainOptions, checked_config, train, with_batch_size

    opts = TrainOptions(manifest=str(manifest), out=str(out), setting=setting, model=model, clip_weights=clip_weights, quick_gelu=quick_gelu,
                        ablate=tuple(a.strip() for a in ablate.split(",") if a.strip()), augment=augment,
                        batch_size=batch_size, accumulate=accumulate, epochs=epochs, max_steps=max_steps, lr=lr,
                        seed=seed, workers=workers, checkpoint_every=checkpoint_every,
                        val_manifest=str(val) if val else None, resume=resume, trimap_kernel=trimap_kernel,
                        coarse_from=str(coarse_from) if coarse_from else None, device=device)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    try:
        opts = with_batch_size(opts)
        checked_config(opts)  # a bad name or option is refused before the progress bar starts
        batch_size = opts.batch_size
        rows = len(read_manifest(manifest, setting))
        total = math.ceil(rows / (batch_size * world) / accumulate) * epochs
        total = min(total, max_steps) if max_steps else total
        with Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                      TimeRemainingColumn(), console=console, disable=rank != 0) as bar:
            task = bar.add_task("train", total=total, info="")
            final = train(opts, progress=lambda step, r: bar.update(
                task, completed=step, info=f"loss {r['loss']:.4f}  {r['img_per_s']:.1f} img/s"),
                          log=lambda message: console.print(message, soft_wrap=True))  # paths stay whole
    except _errors() as e:
        fail(str(e))
    if rank == 0:
        console.print(f"trained: {final} (log: {out / 'log.jsonl'})", soft_wrap=True)


REFINER_OPTION = typer.Option(None, "--refiner", help="A refiner checkpoint (clipmat train --model refiner) that "
                              "refines every matte the model predicts (Table 2's 'Refiner: yes').")


def _load_models(checkpoint: Path, refiner: Path | None, device: str | None):
    """(text model, refiner or None), on ``device``; CheckpointError when either is the wrong kind."""
    import torch

    from clipmat import CheckpointError, load_checkpoint

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if str(checkpoint).startswith("hf:") or checkpoint.is_dir():  # a Hub repository or a model folder
        from clipmat.hub import from_pretrained

        model = from_pretrained(str(checkpoint)[3:] if str(checkpoint).startswith("hf:") else checkpoint, device=device)
    elif checkpoint.suffix == ".onnx":  # clipmat export --format onnx, run on onnxruntime
        from clipmat.export import OnnxMatte

        model = OnnxMatte(checkpoint, device)
    elif checkpoint.suffix not in (".safetensors", ".pt", ".pth"):  # a registered name or a JSON config
        from clipmat.cascade import Cascade
        from clipmat.config import get_config

        config = get_config(str(checkpoint))
        if config.family != "cascade":
            raise CheckpointError(f"{checkpoint} names a {config.family} architecture, not trained weights: train it "
                                  f"(clipmat train MANIFEST --model {checkpoint}) and pass the .safetensors it writes")
        if refiner:
            raise CheckpointError("--refiner refines a CLIPMat or CLIPSeg checkpoint's mattes, not a cascade's")
        return Cascade(config, device), None
    else:
        model = load_checkpoint(checkpoint, device)
    if model.config.family == "refiner":
        raise CheckpointError(f"{checkpoint} is a refiner: it refines another model's mattes; pass a CLIPMat or "
                              f"CLIPSeg checkpoint, and this one as --refiner")
    second = load_checkpoint(refiner, device) if refiner else None
    if second is not None and second.config.family != "refiner":
        raise CheckpointError(f"--refiner {refiner} is a {second.config.family} model, not a refiner "
                              "(clipmat train --model refiner makes one)")
    return model, second


def _results_path(csv: Path, inputs: dict[str, Path]) -> Path:
    """``--csv``, after checking that neither it nor its ``.json`` summary replaces an input or another kind of file."""
    check_outputs({"--csv": (csv, (".csv",)), "its summary": (csv.with_suffix(".json"), (".json",))}, inputs)
    return csv


def _report(scored, setting: str, manifest: Path, csv: Path, what: str, region: str = "whole",
            conventions: str = "dim") -> None:
    """Per-entity CSV and summary JSON (atomically), the table; exit 1 when no entity could be scored."""
    from rich.table import Table

    from clipmat.metrics import protocol
    from refmatte.atomic import atomic_path

    said = protocol(region, conventions)

    summary = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in scored.summary().items()}
    try:
        with atomic_path(csv) as tmp:
            scored.table.to_csv(tmp, index=False)
        with atomic_path(csv.with_suffix(".json")) as tmp:  # strict JSON: an undefined mean is null, never NaN
            tmp.write_text(json.dumps({"setting": setting, "manifest": str(manifest), **summary, "region": region, "conventions": conventions,
                                       "protocol": said},
                                      allow_nan=False))
    except OSError as e:
        fail(f"cannot write {csv} ({e.strerror}); give a writable --csv")
    table = Table("metric", "mean over entities", title=f"{what} on {manifest} ({setting} setting)")
    for k, v in summary.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else "-" if v is None else str(v))
    console.print(table)
    console.print(f"protocol: {said}; referring accuracy: share of entities whose prediction overlaps "
                  "their own matte (soft IoU) more than any other entity's in the image", soft_wrap=True)
    if scored.skipped:
        console.print(f"[yellow]{len(scored.skipped)} entities skipped[/]; first: {scored.skipped[0]}", soft_wrap=True)
    console.print(f"per entity: {csv}; summary: {csv.with_suffix('.json')}", soft_wrap=True)
    if not summary["entities"]:
        why = f"{len(scored.skipped)} skipped; first: {scored.skipped[0]}" if scored.skipped else \
            f"the manifest has no entity usable in the {setting} setting"
        fail(f"no entity of {manifest} could be scored ({why})")


def _metrics_option(value: str) -> tuple[str, ...]:
    from clipmat.metrics import METRICS

    names = tuple(m.strip().lower() for m in value.split(",") if m.strip())
    bad = [m for m in names if m not in METRICS]
    if bad:
        raise typer.BadParameter(f"unknown metric(s) {', '.join(bad)}; choose from {', '.join(METRICS)}")
    return names


METRICS_OPTION = typer.Option("sad,mse,mad,grad,conn", "--metrics", help="Comma-separated: sad, mse, mad, grad, conn.")
REGION_OPTION = typer.Option("whole", "--region", help="whole: every pixel (the paper's protocol); unknown: the "
                             "transition band of a trimap made from the true matte (ViTMatte's, Matte-Anything's).")


CONVENTIONS_OPTION = typer.Option("dim", "--protocol", help="Grad and Conn conventions: dim (Deep Image Matting's "
                                  "definitions, /1000) or gfm (GFM's evaluation code exactly: Grad /10, its Conn).")


def _conventions_option(value: str) -> str:
    from clipmat.metrics import CONVENTIONS

    if value not in CONVENTIONS:
        raise typer.BadParameter(f"unknown protocol {value!r}; choose {' or '.join(CONVENTIONS)}")
    return value


def _region_option(value: str) -> str:
    from clipmat.metrics import REGIONS

    if value not in REGIONS:
        raise typer.BadParameter(f"unknown region {value!r}; choose {' or '.join(REGIONS)}")
    return value


def eval_cmd(
    checkpoint: Path = typer.Argument(..., help="A clipmat checkpoint (.safetensors), or a cascade by name or JSON "
                                      "config (grounded-vitmatte: no training; clipmat list-models), a model folder, "
                                      "or hf:REPO_ID (the Hub)."),
    manifest: Path = typer.Argument(..., help="Composite manifest to evaluate on (e.g. manifests/test.parquet)."),
    setting: str = typer.Option("keyword", "--setting", help=SETTING_HELP),
    csv: Path = typer.Option(None, "--csv", help="Per-entity results, a .csv; the summary goes to the .json beside it "
                         "(default: next to the checkpoint)."),
    long_side: int = typer.Option(None, "--long-side", help="Inference long side, snapped to 32 (default: model input size)."),
    metrics: str = METRICS_OPTION,
    region: str = REGION_OPTION,
    conventions: str = CONVENTIONS_OPTION,
    refiner: Path = REFINER_OPTION,
    device: str = typer.Option(None, "--device", help="Default: cuda when available."),
) -> None:
    """Evaluate a checkpoint: SAD, MSE, MAD, Grad, Conn per entity at the original resolution, averaged."""
    from rich.progress import Progress

    from clipmat.infer import model_predictor, score, scoring_inputs

    which, region, conventions = _metrics_option(metrics), _region_option(region), _conventions_option(conventions)
    named = f"eval-{manifest.stem}-{setting}{'' if region == 'whole' else '-' + region}.csv"
    csv = _results_path(csv or (Path(named) if str(checkpoint).startswith("hf:") else checkpoint.with_name(named)),
                        {"checkpoint": checkpoint, "manifest": manifest})
    try:
        model, second = _load_models(checkpoint, refiner, device)
        rows, everyone, texts = scoring_inputs(manifest, setting, model.config.pre_context)
        no_match: list[str] = []
        with Progress(console=console) as bar:
            task = bar.add_task("eval", total=len(rows))
            scored = score(rows, everyone, model_predictor(model, setting, long_side, second, no_match), texts, which,
                           progress=lambda n: bar.advance(task, n), region=region, conventions=conventions)
    except _errors() as e:
        fail(str(e))
    if no_match:
        console.print(f"[yellow]{len(no_match)} phrases matched nothing[/] and were scored as empty mattes; first: "
                      f"{no_match[0]}", soft_wrap=True)
    what = f"{model.config.name} {checkpoint.name}" + (f" + refiner {refiner.name}" if refiner else "")
    _report(scored, setting, manifest, csv, what, region, conventions)


def score_cmd(
    predictions: Path = typer.Argument(..., help="Folder of predicted mattes: one 8-bit grey PNG per entity, at the "
                                       "image's original size, named as the entity's matte file (mattes/<split>/NAME)."),
    manifest: Path = typer.Argument(..., help="Composite manifest holding the ground truth."),
    setting: str = typer.Option("keyword", "--setting", help="Which entities are scored: " + SETTING_HELP),
    csv: Path = typer.Option(None, "--csv", help="Per-entity results, a .csv; the summary goes to the .json beside "
                         "it (default: PREDICTIONS/../score-<manifest>.csv)."),
    metrics: str = METRICS_OPTION,
    region: str = REGION_OPTION,
    conventions: str = CONVENTIONS_OPTION,
) -> None:
    """Score predictions of any method with the same metrics and protocol as clipmat eval."""
    from clipmat.infer import png_predictor, score, scoring_inputs

    which, region, conventions = _metrics_option(metrics), _region_option(region), _conventions_option(conventions)
    if not predictions.is_dir():
        fail(f"predictions folder {predictions} does not exist")
    csv = _results_path(csv or predictions.parent / f"score-{manifest.stem}-{setting}{'' if region == 'whole' else '-' + region}.csv",
                        {"manifest": manifest})
    try:
        rows, everyone, texts = scoring_inputs(manifest, setting)
        scored = score(rows, everyone, png_predictor(predictions), texts, which, region=region, conventions=conventions)
    except _errors() as e:
        fail(str(e))
    _report(scored, setting, manifest, csv, f"predictions in {predictions}", region, conventions)


EVAL_OPTION = typer.Option(None, "--eval", help="clipmat eval summaries (.json) to quote in the model card; repeatable.")


def export_cmd(
    checkpoint: Path = typer.Argument(..., help="A clipmat checkpoint (.safetensors)."),
    out: Path = typer.Option(..., "--out", help="hf: the folder to write (created; files in it are replaced "
                             "atomically); onnx: the .onnx file."),
    format: str = typer.Option("hf", "--format", help="hf: a Hugging Face model folder (model.safetensors, config.json, "
                               "README.md model card) that clipmat.hub.from_pretrained and clipmat predict read; onnx: "
                               "an ONNX graph (opset 18, dynamic batch, height, width and text length) that clipmat "
                               "predict / eval run on onnxruntime, checked against PyTorch at two sizes."),
    evals: list[Path] = EVAL_OPTION,
    license: str = typer.Option("apache-2.0", "--license", help="Licence named in the model card."),
) -> None:
    """Export a checkpoint for others: a Hugging Face model folder with a model card, or ONNX."""
    from clipmat.hub import save_pretrained

    if format == "onnx":
        _export_onnx(checkpoint, out)
        return
    if format != "hf":
        fail(f"unknown --format {format!r}; choose hf or onnx")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a folder")
    if out.resolve() == checkpoint.parent.resolve() and checkpoint.name == "model.safetensors":
        fail(f"--out {out} holds the checkpoint itself; give another folder")
    try:
        folder = save_pretrained(checkpoint, out, evals or [], license)
    except _errors() as e:
        fail(str(e))
    console.print(f"model folder: {folder} (model.safetensors, config.json, README.md); load it with "
                  f"clipmat predict {folder} IMAGE PHRASE, or push it with clipmat push", soft_wrap=True)


def _export_onnx(checkpoint: Path, out: Path) -> None:
    from clipmat import load_checkpoint
    from clipmat.export import ExportError, export_onnx, parity

    check_outputs({"--out": (out, (".onnx",))}, {"checkpoint": checkpoint})
    try:
        model = load_checkpoint(checkpoint)
        console.print(f"exporting {model.config.name} to {out} (torch.onnx dynamo exporter, opset 18; about a "
                      "minute for ViT-B-16 on a CPU)", soft_wrap=True)
        export_onnx(model, out)
        checked = parity(model, out)
    except ExportError as e:
        fail(str(e))
    except _errors() as e:
        fail(str(e))
    said = "; ".join(f"{w}x{h}: " + ", ".join(f"{k} {d:.1e}" for k, d in diffs.items()) for (h, w), diffs in checked.items())
    console.print(f"ONNX model: {out}; max |onnxruntime - PyTorch| {said}. Run it with clipmat predict "
                  f"{out} IMAGE PHRASE", soft_wrap=True)


def push_cmd(
    checkpoint: Path = typer.Argument(..., help="A clipmat checkpoint (.safetensors)."),
    repo_id: str = typer.Argument(..., help="Hub repository, e.g. you/clipmat-b16-refmatte (created when missing)."),
    evals: list[Path] = EVAL_OPTION,
    private: bool = typer.Option(False, "--private", help="Create the repository private."),
    license: str = typer.Option("apache-2.0", "--license", help="Licence named in the model card."),
) -> None:
    """Upload a checkpoint to the Hugging Face Hub as a model folder with a model card (needs a login:
    huggingface-cli login, or HF_TOKEN)."""
    from clipmat.hub import push_to_hub

    try:
        url = push_to_hub(checkpoint, repo_id, evals or [], private, license)
    except _errors() as e:
        fail(str(e))
    except Exception as e:  # the Hub's own errors: not logged in, no rights, offline
        fail(f"could not push to {repo_id} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    console.print(f"pushed: {url}", soft_wrap=True)
