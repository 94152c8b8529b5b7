"""``clipmat predict``: one image and phrase, or many (a folder, a CSV / JSONL list, a manifest) with one model load."""

from __future__ import annotations

from pathlib import Path

import typer

from clipmat.cli_run import REFINER_OPTION, _errors, _load_models
from refmatte.cliutil import check_outputs, console, fail


def predict_cmd(
    checkpoint: Path = typer.Argument(..., help="A clipmat checkpoint (.safetensors), or a cascade by name or JSON "
                                      "config (grounded-vitmatte: no training; clipmat list-models), a model folder, "
                                      "or hf:REPO_ID (the Hub)."),
    image: Path = typer.Argument(..., help="An RGB image; or, for many: a folder of images (with --text), a .csv / "
                                 ".jsonl list of image,text[,id] rows, or a composite manifest (.parquet)."),
    phrase: str = typer.Argument(None, help='What to extract in a single image: a keyword ("cat") or an expression.'),
    out: Path = typer.Option(Path("alpha.png"), "--out", help="Single image: the alpha matte at the image's size, 8-bit "
                             "grey, in the format its suffix names (.png, .webp lossless, .tif, .jpg). Never an input file."),
    cutout: Path = typer.Option(None, "--cutout", help="Single image: also write the object as RGBA (.png, .webp or "
                                ".tif; foreground colours estimated with pymatting)."),
    out_dir: Path = typer.Option(None, "--out-dir", help="Many images: the folder for ID.png (alpha), cutout/ID.png and "
                                 "composite/ID.jpg; a manifest's IDs are its matte names, so clipmat score reads it."),
    text: list[str] = typer.Option(None, "--text", help="Many images, a folder: the phrase for every image (repeat "
                                   "for several; outputs STEM_0, STEM_1, ...)."),
    cutouts: bool = typer.Option(False, "--cutouts", help="Many images: also write cutout/ID.png (RGBA)."),
    composite: str = typer.Option(None, "--composite", help="Many images: also write composite/ID.jpg over a colour "
                                  "(white, #00ff00) or a background image file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Many images: predict again where ID.png exists "
                                   "(default: skip it, so an interrupted run resumes)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Phrases of one image per forward pass."),
    setting: str = typer.Option("auto", "--setting", help="keyword, expression, or auto: keyword for one or two words "
                                "(a manifest: which of its texts)."),
    long_side: int = typer.Option(None, "--long-side", help="Inference long side, snapped to 32 (default: model input size)."),
    refiner: Path = REFINER_OPTION,
    device: str = typer.Option(None, "--device", help="Default: cuda when available."),
) -> None:
    """Predict the alpha matte of the object PHRASE names in IMAGE, or of every phrase of many images.

    Many images load the model once, show a progress bar, skip what exists (resumable),
    and end with a summary of what was written, skipped and why.
    """
    if image.is_dir() or (image.is_file() and image.suffix.lower() in (".csv", ".jsonl", ".parquet")):
        if phrase:
            fail(f"{image} holds many images: give the phrase with --text, not as an argument")
        _predict_many(checkpoint, image, out_dir, text or [], cutouts, composite, overwrite, batch_size, setting,
                      long_side, refiner, device)
        return
    if phrase is None:
        fail("give the PHRASE to extract after the image, e.g. clipmat predict CKPT photo.jpg \"the black dog\"")
    if out_dir or text or cutouts or composite:
        fail("--out-dir, --text, --cutouts and --composite are for a folder or list of images; for one image use "
             "--out and --cutout")
    _predict_one(checkpoint, image, phrase, out, cutout, setting, long_side, refiner, device)


def _predict_one(checkpoint, image, phrase, out, cutout, setting, long_side, refiner, device) -> None:
    import cv2
    import numpy as np

    from clipmat.batch import prompt, truncation_note, write_outputs
    from clipmat.cascade import NoMatch
    from clipmat.infer import predict_alpha
    from refmatte.imaging import ImageReadError, encode_as, read_cv2

    if not " ".join(phrase.split()):
        fail("the phrase is empty: say what to extract, e.g. \"the black dog\"")
    check_outputs({"--out": (out, ()), "--cutout": (cutout, ())}, {"input image": image, "checkpoint": checkpoint,
                                                                   **({"refiner": refiner} if refiner else {})})
    try:
        encode_as(out, np.zeros((1, 1), np.uint8))  # a suffix that cannot be written fails now, not after the model ran
        if cutout:
            encode_as(cutout, np.zeros((1, 1, 4), np.uint8))
        bgr = read_cv2(image, cv2.IMREAD_COLOR, "image")
    except (ValueError, ImageReadError) as e:
        fail(str(e))
    try:
        model, second = _load_models(checkpoint, refiner, device)
        setting, text = prompt(model, phrase, setting)
        if note := truncation_note(model, setting, text):
            console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        alpha = predict_alpha(model, rgb, [text], setting, long_side, second)[0]
    except NoMatch as e:
        fail(f"{e}; nothing was written (lower box_threshold in a cascade config to accept weaker boxes)")
    except _errors() as e:
        fail(str(e))
    try:
        write_outputs(rgb, alpha, {"alpha": out, **({"cutout": cutout} if cutout else {})}, None)
    except (OSError, ValueError) as e:
        fail(f"cannot write the output ({e})")
    a8 = np.round(alpha * 255)
    console.print(f"{setting} {text!r}: alpha -> {out} ({a8.shape[1]}x{a8.shape[0]}, "
                  f"{(a8 > 127).mean():.1%} of pixels above 0.5)" + (f"; cutout -> {cutout}" if cutout else ""),
                  soft_wrap=True)


def _predict_many(checkpoint, source, out_dir, texts, cutouts, composite, overwrite, batch_size, setting, long_side,
                  refiner, device) -> None:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from clipmat import batch
    from refmatte.atomic import remove_stale_temps

    if out_dir is None:
        fail(f"{source} holds many images: say where their mattes go with --out-dir")
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out-dir {out_dir} is a file; give a folder")
    try:
        if source.is_dir():
            jobs, problems = batch.jobs_from_folder(source, texts), []
        else:
            if texts:
                fail("--text is for a folder of images; a list or manifest carries its own texts")
            jobs, problems = batch.jobs_from_list(source, setting)
        if not jobs:
            fail(f"{source} gives nothing to predict" + (f"; first problem: {problems[0]}" if problems else ""))
        batch.check_plan(jobs, out_dir, cutouts, composite, source)
        if composite:
            batch.backdrop(composite, 2, 2)  # a colour or image that cannot be used fails now
        model, second = _load_models(checkpoint, refiner, device)
        stale = remove_stale_temps(out_dir)  # half-written files of a killed run (never a finished output)
        if stale:
            console.print(f"removed {stale} temporary file{'s' if stale > 1 else ''} a killed run left in {out_dir}")
        t0 = time.perf_counter()
        with Progress(TextColumn("predict"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as bar:
            task = bar.add_task("predict", total=len(jobs))
            summary = batch.run(model, jobs, out_dir, refiner=second, setting=setting, cutout=cutouts,
                                composite=composite, long_side=long_side, batch_size=batch_size, overwrite=overwrite,
                                progress=lambda n: bar.advance(task, n))
    except _errors() as e:
        fail(str(e))
    seconds = time.perf_counter() - t0
    failed = summary.failed + problems
    console.print(f"{summary.written} mattes written to {out_dir} in {seconds:.1f} s"
                  + (f" ({summary.written / seconds:.2f} per s)" if summary.written and seconds > 0 else "")
                  + f", {summary.existing} already there (kept; --overwrite redoes them), {len(failed)} failed",
                  soft_wrap=True)
    for line in failed[:10]:
        console.print(f"[yellow]failed:[/] {line}", soft_wrap=True)
    if len(failed) > 10:
        console.print(f"... and {len(failed) - 10} more", soft_wrap=True)
    if failed and not summary.written and not summary.existing:
        fail(f"nothing could be predicted; first: {failed[0]}")


def serve_cmd(
    checkpoint: Path = typer.Argument(..., help="What clipmat predict takes: a checkpoint, a model folder, hf:REPO_ID, "
                                      "an exported .onnx, or a cascade by name."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 lets other machines in."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port (Gradio's usual 7860)."),
    long_side: int = typer.Option(None, "--long-side", help="Inference long side, snapped to 32 (default: model input size)."),
    refiner: Path = REFINER_OPTION,
    device: str = typer.Option(None, "--device", help="Default: cuda when available."),
) -> None:
    """Serve a model as a web page (upload an image, type a phrase; alpha, cut-out and composite side by
    side, with downloads) and as a JSON HTTP API: POST /api/matte, GET /api/info, docs at /api/docs.

    Example: curl -F image=@photo.jpg -F text="the black dog" http://127.0.0.1:7860/api/matte
    (the answer holds base64 PNGs). Needs the serve extra: pip install "refmatte\\[serve]".
    """
    import socket

    try:
        from clipmat.serve import Matter, create_app, serve
    except ImportError as e:
        fail(f"clipmat serve needs gradio ({e.name or e} is missing): pip install \"refmatte[serve]\"")
    try:  # a taken port or an unknown host fails now, not after the model loaded
        family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(address)
    except OSError as e:
        fail(f"cannot listen on {host}:{port} ({e.strerror or e}); give another --host or --port")
    try:
        model, second = _load_models(checkpoint, refiner, device)
        app = create_app(Matter(model, second, long_side, source=checkpoint))
    except _errors() as e:
        fail(str(e))
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    console.print(f"serving {checkpoint} on http://{shown}:{port}/ (page) and http://{shown}:{port}/api/matte "
                  f"(JSON API, docs at /api/docs); Ctrl+C stops", soft_wrap=True)
    serve(app, host, port)
