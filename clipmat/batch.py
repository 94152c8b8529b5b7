"""Prediction over many images and phrases with one model load (``clipmat predict`` on a folder or list).

Inputs become :class:`Job` s (image, text, output name): a folder of images with one or more
phrases, a CSV or JSONL list of ``image, text[, id]`` rows (relative paths are taken from the
list's folder), or a composite manifest (each entity with the text ``clipmat eval`` uses,
named as its matte file, so ``clipmat score OUT MANIFEST`` reads the results directly).
Every phrase of one image goes through the model in chunks of ``batch_size`` after one
decode. Per job: ``OUT/ID.png`` (the alpha), with ``cutout`` ``OUT/cutout/ID.png`` (RGBA,
foreground colours from pymatting) and with ``composite`` ``OUT/composite/ID.jpg`` (over a
colour or a background image). Outputs are written atomically; a job whose alpha exists is
skipped unless ``overwrite`` (so a killed run resumes), and an output that would land on an
input is refused before anything runs. An output name read from a list is data: letters,
digits, '.', '_' and '-' only, so nothing is written outside OUT.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from clipmat.data import DataError

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
LIST_SUFFIXES = (".csv", ".jsonl", ".parquet")


@dataclass(frozen=True)
class Job:
    image: Path
    text: str  # the phrase as given (a keyword or an expression)
    name: str  # output file stem
    setting: str | None = None  # keyword / expression when the input says (a manifest); else --setting
    truth: Path | None = None  # a manifest's true matte of this entity: never an output


@dataclass
class Summary:
    written: int = 0
    existing: int = 0  # skipped: their alpha was there already
    failed: list[str] = field(default_factory=list)  # one sentence each, naming the image


def prompt(model, phrase: str, setting: str = "auto") -> tuple[str, str]:
    """(setting, text the model reads) for ``phrase``: auto is keyword for one or two words; a keyword
    goes into the model's matting template when it was trained with one."""
    from clipmat.model import keyword_prompt

    phrase = " ".join(phrase.split())
    if setting == "auto":
        setting = "keyword" if len(phrase.split()) <= 2 else "expression"
    if setting not in ("keyword", "expression"):
        raise DataError(f"--setting must be keyword, expression or auto, got {setting!r}")
    return setting, keyword_prompt(phrase, templates=model.config.pre_context) if setting == "keyword" else phrase


def is_list(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in LIST_SUFFIXES


def jobs_from_folder(folder: Path, texts: list[str]) -> list[Job]:
    """Every image directly in ``folder`` (sorted) with each text; names ``STEM`` (one text) or ``STEM_K``."""
    from refmatte.imaging import is_image_file

    if not texts:
        raise DataError(f"{folder} is a folder: say what to extract in each image with --text (repeat it for several)")
    images = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
    if not images:
        raise DataError(f"{folder} holds no image files (.jpg, .png, .webp, ...)")
    return [Job(p, t, p.stem if len(texts) == 1 else f"{p.stem}_{k}") for p in images for k, t in enumerate(texts)]


def jobs_from_list(path: Path, setting: str = "keyword") -> tuple[list[Job], list[str]]:
    """(jobs, one sentence per unusable row) of a CSV / JSONL list or a composite manifest."""
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        from clipmat.data import eval_text, read_manifest

        use = "keyword" if setting == "auto" else setting
        rows = read_manifest(path, use)  # each entity with the text clipmat eval gives it (the template added later)
        return [Job(Path(r.image_file), r.keyword if use == "keyword" else eval_text(r, use), Path(r.matte_path).stem, use,
                    Path(r.matte_file)) for _, r in rows.iterrows()], []
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            missing = {"image", "text"} - set(table.columns)
            records = table.to_dict("records")
        else:
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            missing = set() if records else {"image", "text"}
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not a readable {path.suffix[1:].upper()} list: {e}") from None
    if missing:
        raise DataError(f"{path} needs the columns image and text (and optionally id); it lacks {', '.join(sorted(missing))}")
    jobs, problems = [], []
    for i, r in enumerate(records, start=1):
        if not isinstance(r, dict):
            problems.append(f"{path} row {i}: not an object with image and text")
            continue
        value = lambda k: r.get(k) if isinstance(r.get(k), str) else ""  # noqa: E731  (a number or null is no text)
        image, text = value("image").strip(), " ".join(value("text").split())
        name = value("id").strip() or f"{Path(image).stem}_{i}"
        if not image or not text:
            problems.append(f"{path} row {i}: image and text must both be given")
        elif not SAFE_NAME.match(name):
            problems.append(f"{path} row {i}: id {name[:60]!r} is not a plain file name (letters, digits, '.', '_', '-')")
        else:
            jobs.append(Job((path.parent / image) if not Path(image).is_absolute() else Path(image), text, name))
    return jobs, problems


def outputs(job: Job, out: Path, cutout: bool, composite: str | None) -> dict[str, Path]:
    paths = {"alpha": out / f"{job.name}.png"}
    if cutout:
        paths["cutout"] = out / "cutout" / f"{job.name}.png"
    if composite:
        paths["composite"] = out / "composite" / f"{job.name}.jpg"
    return paths


def check_plan(jobs: list[Job], out: Path, cutout: bool, composite: str | None, source: Path | None = None) -> None:
    """DataError before anything runs when two jobs share an output or an output is an input (an image, a
    manifest's true matte, the list itself)."""
    inputs = {j.image.resolve() for j in jobs} | {j.truth.resolve() for j in jobs if j.truth is not None}
    if source is not None:
        if source.is_dir() and out.resolve() == source.resolve():
            raise DataError(f"--out-dir {out} is the folder of input images; give another folder (the mattes "
                            "would be read as images next time)")
        inputs.add(source.resolve())
    seen: dict[Path, Job] = {}
    for job in jobs:
        for path in outputs(job, out, cutout, composite).values():
            resolved = path.resolve()
            if resolved in inputs:
                raise DataError(f"{path} would overwrite an input (an image, a true matte or the list); give "
                                "another --out-dir")
            if resolved in seen:
                raise DataError(f"{seen[resolved].image} ({seen[resolved].text!r}) and {job.image} ({job.text!r}) would "
                                f"both be written to {path}; give each row its own id")
            seen[resolved] = job


_RGB_FUNCTION = re.compile(r"^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*[\d.]+\s*)?\)$")


def colour(value: str) -> str:
    """``value`` as #rrggbb: a CSS name, #hex or rgb()/rgba() (what colour pickers send); DataError otherwise."""
    import webcolors

    value = (value or "").strip().lower()[:100]
    try:
        if m := _RGB_FUNCTION.match(value):
            r, g, b = (max(0, min(255, round(float(v)))) for v in m.groups())
            return f"#{r:02x}{g:02x}{b:02x}"
        return webcolors.normalize_hex(value) if value.startswith("#") else webcolors.name_to_hex(value)
    except (ValueError, OverflowError):
        raise DataError(f"composite {value[:40]!r} is not a colour: give a CSS name (white) or #rrggbb") from None


def truncation_note(model, setting: str, text: str) -> str | None:
    """A sentence when ``text`` is longer than the model reads (its end is cut off), else None."""
    from clipmat.model.prompt import token_count

    length = model.config.text_length(setting)
    if model.config.family == "cascade" or token_count(text) <= length:
        return None
    return (f"the {setting} text is {token_count(text)} tokens long; the model reads {length} (start and end "
            "tokens included), so its end is cut off")


def backdrop(composite: str | np.ndarray, h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8 RGB: a colour (:func:`colour`), or an image (a file, or RGB uint8 already decoded)
    scaled to cover and centre-cropped."""
    if isinstance(composite, np.ndarray):
        bg = composite
    else:
        import webcolors

        try:
            rgb = webcolors.hex_to_rgb(colour(composite))
            return np.broadcast_to(np.array(tuple(rgb), np.uint8), (h, w, 3)).copy()
        except DataError:
            pass
        from clipmat.data import read_image

        bg = read_image(composite)
    s = max(h / bg.shape[0], w / bg.shape[1])
    bg = cv2.resize(bg, (max(w, round(bg.shape[1] * s)), max(h, round(bg.shape[0] * s))), interpolation=cv2.INTER_AREA)
    y, x = (bg.shape[0] - h) // 2, (bg.shape[1] - w) // 2
    return bg[y:y + h, x:x + w]


def render(rgb: np.ndarray, alpha: np.ndarray, cutout: bool, composite: str | np.ndarray | None
           ) -> dict[str, np.ndarray]:
    """uint8 images of one prediction: ``alpha`` (H, W), with ``cutout`` the RGBA cut-out (foreground colours
    estimated by pymatting) and with ``composite`` the RGB composite over a colour or background image."""
    from refmatte.foreground import estimate_foreground

    a8 = np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8)
    out = {"alpha": a8}
    if cutout or composite is not None:
        fg = estimate_foreground(rgb, a8)
        if cutout:
            out["cutout"] = np.dstack([fg, a8])
        if composite is not None:
            a = a8[..., None].astype(np.float32) / 255
            out["composite"] = np.round(a * fg + (1 - a) * backdrop(composite, *a8.shape)).astype(np.uint8)
    return out


def encode_jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:  # pragma: no cover - OpenCV only fails on invalid shapes
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def write_outputs(rgb: np.ndarray, alpha: np.ndarray, paths: dict[str, Path], composite: str | None) -> None:
    """The alpha (8-bit grey), and the cut-out and composite when asked, each written atomically."""
    from refmatte.atomic import atomic_write_bytes
    from refmatte.imaging import encode_as

    images = render(rgb, alpha, "cutout" in paths, composite if "composite" in paths else None)
    for kind in ("cutout", "composite", "alpha"):  # the alpha last: its presence marks the job done
        if kind in paths:
            paths[kind].parent.mkdir(parents=True, exist_ok=True)
            data = encode_jpeg(images[kind]) if kind == "composite" else encode_as(paths[kind], images[kind])
            atomic_write_bytes(paths[kind], data)


def run(model, jobs: list[Job], out: Path, *, refiner=None, setting: str = "auto", cutout: bool = False,
        composite: str | None = None, long_side: int | None = None, batch_size: int = 8, overwrite: bool = False,
        progress: Callable[[int], None] | None = None) -> Summary:
    """Predict every job (see the module doc); the same model for all, each image decoded once."""
    from clipmat.data import read_image
    from clipmat.infer import predict_alpha

    summary = Summary()
    by_image: dict[Path, list[Job]] = {}
    for job in jobs:
        by_image.setdefault(job.image, []).append(job)
    for image, group in by_image.items():
        todo = [j for j in group if overwrite or not (out / f"{j.name}.png").exists()]
        summary.existing += len(group) - len(todo)
        if not todo:
            if progress:
                progress(len(group))
            continue
        try:
            rgb = read_image(str(image))
        except DataError as e:
            summary.failed += [f"{j.image} ({j.text!r}): {e}" for j in todo]
            if progress:
                progress(len(group))
            continue
        prompts: dict[str, list[tuple[Job, str]]] = {}
        for job in todo:
            s, text = prompt(model, job.text, job.setting or setting)
            prompts.setdefault(s, []).append((job, text))
        for s, items in prompts.items():
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                try:
                    alphas = predict_alpha(model, rgb, [t for _, t in chunk], s, long_side, refiner)
                except ValueError:  # a cascade's phrase that matches nothing: that chunk one by one
                    alphas = _one_by_one(model, rgb, chunk, s, long_side, refiner, summary)
                for (job, _), alpha in zip(chunk, alphas):
                    if alpha is None:
                        continue
                    try:
                        write_outputs(rgb, alpha, outputs(job, out, cutout, composite), composite)
                        summary.written += 1
                    except (OSError, ValueError, DataError) as e:
                        summary.failed.append(f"{job.image} ({job.text!r}): cannot write its outputs ({e})")
        if progress:
            progress(len(group))
    return summary


def _one_by_one(model, rgb, chunk, setting, long_side, refiner, summary: Summary) -> list:
    from clipmat.infer import predict_alpha

    alphas = []
    for job, text in chunk:
        try:
            alphas.append(predict_alpha(model, rgb, [text], setting, long_side, refiner)[0])
        except ValueError as e:
            summary.failed.append(f"{job.image} ({job.text!r}): {e}")
            alphas.append(None)
    return alphas
