"""``clipmat serve``: a web page and a JSON HTTP API over one loaded model.

:class:`Matter` answers (image, phrase) with the alpha, the RGBA cut-out and a composite,
one request at a time (the model is shared). :func:`create_app` puts it behind

* a Gradio page at ``/``: upload an image, type a phrase, see the three side by side and
  download them (Gradio's own API for the same call is ``/gradio_api/`` with api_name ``matte``);
* ``GET /api/info`` (the model) and ``POST /api/matte``: JSON ``{"image": base64 or data URL,
  "text": ..., "setting": "auto", "composite": "#ffffff", "background": base64}`` or the same
  fields as a multipart form (``curl -F image=@photo.jpg -F text="the dog"``); the answer is JSON
  with base64 PNGs (alpha, cutout) and a JPEG (composite).

Uploads are data: an image over :data:`MAX_UPLOAD_BYTES` or a request over
:data:`MAX_REQUEST_BYTES` is refused (counted as it arrives, chunked or not), every image is
decoded behind the pixel cap (``--max-pixels``), the composite is a colour or an uploaded
image, never a path on the server, and the page takes only files uploaded through it
(:mod:`clipmat.serve_page`). One request is decoded, predicted and rendered at a time; at most
:data:`MAX_WAITING` API requests wait, later ones get 503. ``app.py`` at the repository root
runs this as a Hugging Face Space.
"""

from __future__ import annotations

import asyncio
import base64
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import Request  # at module level: FastAPI resolves the route's annotations here

from clipmat.data import DataError
from refmatte.imaging import max_pixels

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a page that may run offline

MAX_UPLOAD_BYTES = 40 * 2**20  # one image
MAX_REQUEST_BYTES = 3 * MAX_UPLOAD_BYTES  # a whole request: two images in base64 and the fields
MAX_WAITING = 8  # API requests queued behind the one running
SETTINGS = ("auto", "keyword", "expression")
OUTPUTS = ("alpha", "cutout", "composite")
def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n:,} bytes"


@dataclass
class Matte:
    setting: str  # keyword / expression
    text: str  # what the model read (a keyword inside its template)
    images: dict[str, np.ndarray]  # alpha (H, W), cutout (H, W, 4), composite (H, W, 3), uint8
    seconds: float  # model and rendering
    note: str | None = None  # e.g. that the phrase was cut to the model's text length

    @property
    def coverage(self) -> float:
        """Share of pixels with alpha above 0.5."""
        return float((self.images["alpha"] > 127).mean())


class Matter:
    """One loaded model (any family of :func:`clipmat.cli_run._load_models`) answering requests in turn.
    ``source``: what it was loaded from; the page and /api/info show its file name only (or hf:REPO).
    ``lock`` is held from decoding to rendering, by the page and the API alike."""

    def __init__(self, model, refiner=None, long_side: int | None = None, source: str | Path = ""):
        self.model, self.refiner, self.long_side = model, refiner, long_side
        self.name = str(source) if str(source).startswith("hf:") else Path(source).name
        self.lock = threading.RLock()
        self.waiting = 0  # API requests admitted and not yet answered (event loop only)
        self.turn: asyncio.Semaphore | None = None  # made in the server's event loop

    def info(self) -> dict:
        c = self.model.config
        return {"model": self.name, "family": c.family, "input_size": c.image_size, "long_side": self.long_side,
                "refiner": self.refiner is not None, "settings": list(SETTINGS),
                "max_upload_bytes": MAX_UPLOAD_BYTES, "max_request_bytes": MAX_REQUEST_BYTES,
                "max_pixels": max_pixels()}

    def __call__(self, rgb: np.ndarray, phrase: str, setting: str = "auto", composite: str | np.ndarray = "#ffffff",
                 outputs=OUTPUTS) -> Matte:
        """The matte of ``phrase`` in ``rgb`` (H, W, 3 uint8) and the other ``outputs``; DataError for an empty
        phrase, an unknown setting or a phrase a cascade finds nothing for."""
        from clipmat.batch import colour, prompt, render, truncation_note
        from clipmat.cascade import NoMatch
        from clipmat.infer import predict_alpha

        if not " ".join((phrase or "").split()):
            raise DataError('the phrase is empty: say what to extract, e.g. "the black dog"')
        if (setting or "auto") not in SETTINGS:
            raise DataError(f"setting must be one of {', '.join(SETTINGS)}, not {str(setting)[:40]!r}")
        if not isinstance(composite, np.ndarray):
            composite = colour(composite)
        with self.lock:
            t0 = time.perf_counter()
            setting, text = prompt(self.model, phrase, setting or "auto")
            note = truncation_note(self.model, setting, text)
            try:
                alpha = predict_alpha(self.model, rgb, [text], setting, self.long_side, self.refiner)[0]
            except NoMatch as e:
                raise DataError(str(e)) from None
            images = render(rgb, alpha, "cutout" in outputs, composite if "composite" in outputs else None)
            return Matte(setting, text, images, time.perf_counter() - t0, note)


def decode_upload(data: bytes, what: str = "image") -> np.ndarray:
    """RGB uint8 of uploaded bytes, through the same reader as files (:func:`read_upload`)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"the uploaded {what} is over the limit of {_size(MAX_UPLOAD_BYTES)}")
    if not data:
        raise DataError(f"the uploaded {what} is empty")
    with tempfile.TemporaryDirectory(prefix="clipmat-upload-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        return read_upload(path, what)


def read_upload(path: Path, what: str = "image") -> np.ndarray:
    """RGB uint8 of an uploaded file, the pixel cap checked before decoding; DataError naming it as "the
    uploaded image", not by its temporary path."""
    import cv2

    from refmatte.imaging import ImageReadError, read_cv2

    try:
        return cv2.cvtColor(read_cv2(path, cv2.IMREAD_COLOR, what), cv2.COLOR_BGR2RGB)
    except ImageReadError as e:
        detail = e.detail.replace(str(path), what).replace(f"'{path.name}'", what)
        raise DataError(f"the uploaded {what}: {detail}") from None


def _b64decode(value, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise DataError(f"{what} must be a base64 string (or a data: URL)")
    if value.startswith("data:"):
        value = value.split(",", 1)[-1]
    if len(value) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise DataError(f"the {what} is over the limit of {_size(MAX_UPLOAD_BYTES)}")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise DataError(f"{what} is not valid base64") from None


def encode(kind: str, image: np.ndarray) -> bytes:
    """The bytes served for one output: PNG for the alpha and the cut-out, JPEG (quality 95) for the composite."""
    from clipmat.batch import encode_jpeg
    from refmatte.imaging import encode_as

    return encode_jpeg(image) if kind == "composite" else encode_as("x.png", image)


def create_app(matter: Matter):
    """A FastAPI app: the JSON API under /api and the Gradio page at /."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from clipmat.serve_page import CSS, build_demo

    app = FastAPI(title="CLIPMat", docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    app.state.matter = matter

    @app.get("/api/info")
    def info() -> dict:
        """The model this server runs and its limits."""
        return matter.info()

    @app.post("/api/matte")
    async def matte(request: Request):
        """Matte the object a phrase names: JSON with base64 images, or a multipart form with files."""
        if matter.waiting >= MAX_WAITING + 1:
            return JSONResponse({"error": f"busy: {matter.waiting} requests are ahead; try again shortly"},
                                status_code=503, headers={"Retry-After": "5"})
        matter.turn = matter.turn or asyncio.Semaphore(1)
        matter.waiting += 1
        try:
            async with matter.turn:  # bodies of waiting requests stay unread
                fields = await _fields(request)
                return await run_in_threadpool(_answer, matter, fields)  # decoding and the model off the event loop
        except _TooLarge as e:
            return JSONResponse({"error": str(e)}, status_code=413)
        except DataError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        finally:
            matter.waiting -= 1

    demo = build_demo(matter)
    app = gr.mount_gradio_app(app, demo, path="/", max_file_size=MAX_UPLOAD_BYTES, ssr_mode=False,
                              footer_links=["api"], css=CSS, theme=gr.themes.Default(  # system fonts: no CDN
                                  font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]))
    demo.has_launched = True  # what launch() sets: Gradio then takes input files only from its upload folder
    return app


class _TooLarge(DataError):
    pass


def _answer(matter: Matter, fields: dict) -> dict:
    with matter.lock:
        rgb = decode_upload(fields["image"], "image")
        composite = decode_upload(fields["background"], "background") if fields.get("background") else \
            fields.get("composite") or "#ffffff"
        wanted = tuple(fields.get("outputs") or OUTPUTS)
        result = matter(rgb, fields.get("text") or "", fields.get("setting") or "auto", composite, wanted)
    h, w = result.images["alpha"].shape
    return {"setting": result.setting, "text": result.text, "width": w, "height": h,
            "coverage": round(result.coverage, 6), "seconds": round(result.seconds, 3),
            **({"note": result.note} if result.note else {}),
            **{k: base64.b64encode(encode(k, result.images[k])).decode("ascii") for k in OUTPUTS if k in wanted}}


async def _body(request: Request) -> bytes:
    """The whole body, counted as it arrives (a chunked request has no length to check first)."""
    declared = request.headers.get("content-length", "")
    too_large = f"the request is over the limit of {_size(MAX_REQUEST_BYTES)} ({_size(MAX_UPLOAD_BYTES)} per image)"
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise _TooLarge(too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            raise _TooLarge(too_large)
    return bytes(body)


async def _fields(request: Request) -> dict:
    """The request's fields, images as bytes; DataError for anything else than JSON or a form."""
    import json

    from starlette.requests import Request as Replayed

    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/json", "multipart/form-data"):
        raise DataError("send JSON (Content-Type: application/json) or a multipart form")
    body = await _body(request)
    if kind == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise DataError("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise DataError("the body must be a JSON object with image and text")
        fields = {k: data.get(k) for k in ("text", "setting", "composite", "outputs")}
        fields["image"] = _b64decode(data.get("image"), "image")
        if data.get("background"):
            fields["background"] = _b64decode(data["background"], "background")
    else:
        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Replayed(request.scope, replay).form(max_files=2, max_fields=8)
        except Exception as e:  # starlette's parser errors (bad boundary, too many parts)
            raise DataError(f"the form cannot be read ({getattr(e, 'detail', e)})") from None
        fields = {k: form.get(k) for k in ("text", "setting", "composite")}
        if isinstance(form.get("outputs"), str):
            fields["outputs"] = [o.strip() for o in form["outputs"].split(",") if o.strip()]
        for k in ("image", "background"):
            if hasattr(form.get(k), "read"):
                fields[k] = await form[k].read(MAX_UPLOAD_BYTES + 1)
        if "image" not in fields:
            raise DataError("the form needs an image file field: curl -F image=@photo.jpg -F text=\"the dog\"")
    for k in ("text", "setting", "composite"):
        if fields.get(k) is not None and not isinstance(fields[k], str):
            raise DataError(f"{k} must be a string")
    outputs = fields.get("outputs")
    if outputs is not None and (not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs)
                                or not set(outputs) <= set(OUTPUTS)):
        raise DataError("outputs must be a list drawn from alpha, cutout, composite")
    return fields


def serve(app, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")


def run_space() -> None:
    """``python app.py`` (a Hugging Face Space): the model CLIPMAT_MODEL names (a checkpoint, a model folder or
    hf:REPO; default ./model, as ``clipmat export CKPT --format hf --out model`` writes it) on
    GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default 0.0.0.0:7860, what Spaces expect)."""
    import sys

    from clipmat.cli_run import _errors, _load_models

    source = os.environ.get("CLIPMAT_MODEL", "model")
    if not source.startswith("hf:") and not Path(source).exists():
        sys.exit(f"app.py serves the model in ./model or the one CLIPMAT_MODEL names (a checkpoint, a model folder or "
                 f"hf:REPO); {source!r} does not exist: write one with clipmat export CKPT --format hf --out model")
    try:
        model, refiner = _load_models(Path(source) if not source.startswith("hf:") else source,
                                      Path(os.environ["CLIPMAT_REFINER"]) if os.environ.get("CLIPMAT_REFINER") else None,
                                      os.environ.get("CLIPMAT_DEVICE"))
    except _errors() as e:
        sys.exit(f"app.py: {e}")
    app = create_app(Matter(model, refiner, source=source))
    serve(app, os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
