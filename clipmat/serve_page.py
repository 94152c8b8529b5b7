"""The Gradio page of ``clipmat serve``: upload an image, type a phrase; alpha, cut-out and composite side by side.

The handler gets Gradio's raw file payloads (``preprocess=False``) and reads an image only
when its path lies in Gradio's upload folder, where the page's own uploads land: a call to
Gradio's API naming any other file on the server, or carrying a data: URL that Gradio would
decode without our pixel cap, is refused in one sentence. Download files live in a private
temporary folder, the newest :data:`KEEP_DOWNLOADS` requests only, removed at exit (or, when the
server was killed, by the next one to start).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from clipmat.data import DataError
from clipmat.batch import colour
from clipmat.serve import Matte, Matter, encode, read_upload

CSS = "#cutout img { background: repeating-conic-gradient(#d8d8d8 0% 25%, #ffffff 0% 50%) 50% / 16px 16px; }"
KEEP_DOWNLOADS = 4  # requests whose download files stay in our folder (Gradio serves its own cached copies)


def uploaded(payload, what: str) -> Path | None:
    """The path of a file the page uploaded (None when none was); DataError for anything else."""
    from gradio.utils import get_upload_folder

    if payload is None:
        return None
    path = payload.get("path") if isinstance(payload, dict) else None
    if not isinstance(path, str) or not path:
        raise DataError(f"the {what} must be a file uploaded through the page")
    folder = Path(get_upload_folder()).resolve()
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(folder) or not resolved.is_file():
        raise DataError(f"the {what} must be a file uploaded through the page, not a path on the server")
    return resolved


def build_demo(matter: Matter):
    """The page: the image and the phrase on top, alpha / cut-out / composite side by side, downloads below."""
    import gradio as gr

    downloads = _Downloads()

    def run(image, phrase, setting, picked, background):
        try:
            image_path, background_path = uploaded(image, "image"), uploaded(background, "background")
            if image_path is None:
                raise DataError("upload an image first")
            name = image.get("orig_name") or image_path.name
            with matter.lock:  # decoding, the model and rendering: one request at a time
                rgb = read_upload(image_path, "image")
                composite = read_upload(background_path, "background") if background_path else \
                    colour(picked or "#ffffff")
                result = matter(rgb, phrase, setting, composite)
            files = downloads.write(Path(str(name)).stem, result)
        except DataError as e:
            raise gr.Error(str(e)) from None
        images = result.images
        status = (f"**{result.setting}** `{result.text}`: {result.coverage:.1%} of pixels above 0.5; "
                  f"{images['alpha'].shape[1]}x{images['alpha'].shape[0]} px in {result.seconds:.2f} s"
                  + (f". Note: {result.note}" if result.note else ""))
        return images["alpha"], images["cutout"], images["composite"], files, status

    info = matter.info()
    with gr.Blocks(title="CLIPMat: referring image matting", analytics_enabled=False, delete_cache=(600, 600)) as demo:
        gr.Markdown(f"## CLIPMat: referring image matting\nUpload an image and say which object to cut out: a keyword "
                    f"(*girl*) or an expression (*the girl on the left of the sheep*). Model: "
                    f"`{info['model']}` ({info['family']}, {info['input_size']} px input"
                    f"{', with refiner' if info['refiner'] else ''}). JSON API: `POST /api/matte` "
                    "([docs](/api/docs)).")
        with gr.Row():
            image = gr.Image(type="filepath", image_mode=None, label="Image", sources=["upload", "clipboard"],
                             elem_id="image", height=320, scale=3)
            with gr.Column(scale=2):
                phrase = gr.Textbox(label="Phrase", placeholder="the black dog behind the woman", elem_id="phrase",
                                    max_lines=2)
                button = gr.Button("Extract", variant="primary", elem_id="extract")
                status = gr.Markdown(elem_id="status")
                with gr.Accordion("Options", open=False):
                    setting = gr.Radio(["auto", "keyword", "expression"], value="auto", label="Setting",
                                       info="auto: keyword for one or two words, else expression")
                    picked = gr.ColorPicker(value="#ffffff", label="Composite over this colour")
                    background = gr.Image(type="filepath", image_mode=None, label="... or over this background",
                                          sources=["upload"], elem_id="background", height=160)
        with gr.Row():
            alpha = gr.Image(label="Alpha matte", format="png", image_mode="L", elem_id="alpha", interactive=False,
                             buttons=["download", "fullscreen"])
            cutout = gr.Image(label="Cut-out", format="png", image_mode="RGBA", elem_id="cutout", interactive=False,
                              buttons=["download", "fullscreen"])
            comp = gr.Image(label="Composite", format="jpeg", elem_id="composite", interactive=False,
                            buttons=["download", "fullscreen"])
        files = gr.File(label="Downloads", file_count="multiple", elem_id="downloads", interactive=False)
        inputs, outputs = [image, phrase, setting, picked, background], [alpha, cutout, comp, files, status]
        # preprocess=False: the handler checks where each file is before anything decodes it (module doc)
        button.click(run, inputs, outputs, api_name="matte", concurrency_limit=1, preprocess=False)
        phrase.submit(run, inputs, outputs, api_name=False, concurrency_limit=1, preprocess=False)
    return demo


def _remove_dead_servers_folders() -> None:
    """Download folders of servers that are gone (SIGTERM and kill -9 skip atexit), this user's only."""
    from refmatte.atomic import _running

    for folder in Path(tempfile.gettempdir()).glob("clipmat-serve-*-*"):
        m = re.fullmatch(r"clipmat-serve-(\d+)-.+", folder.name)
        try:
            mine = folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid()
        except OSError:
            continue
        if m and mine and not _running(int(m.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


class _Downloads:
    """Per request a folder with STEM_alpha.png, STEM_cutout.png, STEM_composite.jpg."""

    def __init__(self):
        _remove_dead_servers_folders()
        self.root = Path(tempfile.mkdtemp(prefix=f"clipmat-serve-{os.getpid()}-"))
        atexit.register(shutil.rmtree, self.root, True)  # a clean exit; a killed server's goes at the next start
        self.count = 0
        self._lock = threading.Lock()

    def write(self, stem: str, matte: Matte) -> list[str]:
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", stem)[:60] or "image"
        with self._lock:
            self.count += 1
            folder = self.root / f"{self.count:06d}"
            old = self.root / f"{self.count - KEEP_DOWNLOADS:06d}"
        folder.mkdir()
        shutil.rmtree(old, ignore_errors=True)
        paths = []
        for kind, suffix in (("alpha", ".png"), ("cutout", ".png"), ("composite", ".jpg")):
            path = folder / f"{stem}_{kind}{suffix}"
            path.write_bytes(encode(kind, matte.images[kind]))
            paths.append(str(path))
        return paths
