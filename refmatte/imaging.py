"""Robust image and alpha decoding, and fast PNG encoding.

Matting datasets in the wild hold CMYK and grayscale JPEGs, EXIF-rotated photographs,
16-bit and 3-channel alpha mattes, animated files and truncated downloads. Every reader here
either returns a clean array (noting what it had to normalise) or raises
:class:`ImageReadError` with a machine-readable reason, so a batch job can record the
problem and go on.

Every reader checks the image's size in its header against one pixel cap before decoding
anything (:func:`max_pixels`): a 400 KB PNG that claims 20000 x 20000 pixels is refused
instead of costing gigabytes. The cap is ``DEFAULT_MAX_PIXELS`` unless the environment
variable ``REFMATTE_MAX_PIXELS`` (set by the ``--max-pixels`` option of both command lines,
and inherited by worker processes) says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")

MAX_PIXELS_ENV = "REFMATTE_MAX_PIXELS"
# No matting dataset states its largest image. Their mean sizes (the dataset table of the
# authors' matting survey, github.com/JizhiziLi/matting-survey) are 1.4-4.3 MP for DIM, AM-2k,
# P3M-10k, AIM-500, D646, SIM and RefMatte, 14 MP for Transparent-460, and UHR-395 (MEMatte)
# averages 29 MP. 100 MP (10000 x 10000) leaves room above all of them; a decoded 100 MP
# image costs 300 MB as RGB, where a 20000 x 20000 bomb would cost 1.2 GB before any work.
DEFAULT_MAX_PIXELS = 100_000_000
# Our own check (before decoding, with a reason code) replaces PIL's warning-only guard.
Image.MAX_IMAGE_PIXELS = None


class ImageReadError(Exception):
    """A file could not be decoded. ``reason`` is a short code, the message names the file."""

    def __init__(self, reason: str, path: Path | str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.reason = reason
        self.path = str(path)
        self.detail = detail

    def __reduce__(self):  # picklable: it crosses process boundaries from compose/ingest workers
        return (type(self), (self.reason, self.path, self.detail))


@dataclass
class Decoded:
    """A decoded array plus the normalisations applied to reach it (e.g. ``"exif-rotated"``)."""

    array: np.ndarray
    fixes: list[str] = field(default_factory=list)


def max_pixels() -> int:
    """The pixel cap: ``REFMATTE_MAX_PIXELS`` when set to a positive integer, else ``DEFAULT_MAX_PIXELS``."""
    value = os.environ.get(MAX_PIXELS_ENV, "")
    return int(value) if value.strip().isdigit() and int(value) > 0 else DEFAULT_MAX_PIXELS


def set_max_pixels(value: int | None) -> None:
    """Set the pixel cap of this process and of the worker processes it starts (None: keep it)."""
    if value is not None:
        if value <= 0:
            raise ValueError(f"--max-pixels must be positive, not {value}.")
        os.environ[MAX_PIXELS_ENV] = str(int(value))


def check_pixels(width: int, height: int, path: Path | str) -> None:
    """Raise :class:`ImageReadError` (reason ``too_many_pixels``) when width x height is over the cap."""
    cap = max_pixels()
    if width * height > cap:
        raise ImageReadError("too_many_pixels", path, f"{width}x{height} px is over the pixel cap of {cap:,} "
                             f"({width * height / 1e6:.3g} MP > {cap / 1e6:.3g} MP); raise it with --max-pixels "
                             f"or {MAX_PIXELS_ENV} if the image is real")


def check_file_pixels(path: str | os.PathLike, reason: str = "unreadable_image") -> None:
    """Read only ``path``'s header and apply :func:`check_pixels`.

    A file whose header PIL cannot parse is refused too (``reason``): OpenCV decodes formats
    PIL does not know (Radiance HDR, PFM, ...), and a size we cannot read first is a size we
    cannot cap. A missing file passes, for the caller's own missing-file message.
    """
    try:
        with Image.open(path) as img:
            size = img.size
    except FileNotFoundError:
        return
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(reason, path, f"missing or not a readable image (its header: {e})") from None
    check_pixels(*size, path)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _open(path: Path, reason: str, fixes: list[str]) -> Image.Image:
    """The decoded first frame of ``path``; the size is checked against the cap before decoding."""
    try:
        img = Image.open(path)  # reads the header only
        check_pixels(*img.size, path)
        frames = getattr(img, "n_frames", 1)
        if frames > 1:  # animated GIF / APNG / WebP, multi-page TIFF: the first frame is the picture
            fixes.append(f"first-of-{frames}-frames")
        img.load()  # forces a full decode: truncated files fail here, not later
    except FileNotFoundError:
        raise ImageReadError("missing_file", path, "file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise ImageReadError(reason, path, f"cannot decode ({e})") from None
    return img


def _orient(img: Image.Image, fixes: list[str]) -> Image.Image:
    orientation = img.getexif().get(0x0112, 1)
    if orientation not in (None, 1):
        img = ImageOps.exif_transpose(img)
        fixes.append(f"exif-orientation-{orientation}")
    return img


def read_rgb(path: str | os.PathLike, reason: str = "unreadable_image") -> Decoded:
    """Decode an image as ``uint8`` RGB of shape (H, W, 3) in display orientation.

    CMYK, grayscale, palette and 16-bit images are converted; an alpha channel, if any, is
    dropped (foreground files carry their alpha in a separate matte).
    """
    path = Path(path)
    fixes: list[str] = []
    img = _orient(_open(path, reason, fixes), fixes)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        fixes.append("image-16bit-to-8bit")
        return Decoded(np.repeat(arr[:, :, None], 3, axis=2), fixes)
    if img.mode != "RGB":
        fixes.append(f"image-{img.mode.lower()}-to-rgb")
        img = img.convert("RGB")
    return Decoded(np.asarray(img, dtype=np.uint8), fixes)


# Float mattes may overshoot [0, 1] by rounding; more is not a matte. A maximum between 1 and 2
# fits neither 0..1 nor 0..255 (that would be an all but empty matte): refused, not guessed.
FLOAT_TOLERANCE = 1e-3


def read_alpha(path: str | os.PathLike, reason: str = "unreadable_alpha") -> Decoded:
    """Decode an alpha matte as ``uint8`` of shape (H, W), 0 = background, 255 = opaque.

    16-bit mattes are rescaled (v / 257, rounded); an ``LA``/``RGBA`` file whose colour is
    flat uses its alpha channel; otherwise 3- or 4-channel mattes use their first channel
    when the colour channels agree, else their luma, and an ``LA`` matte uses ``L``.
    """
    path = Path(path)
    fixes: list[str] = []
    img = _orient(_open(path, reason, fixes), fixes)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        fixes.append("alpha-16bit-to-8bit")
        return Decoded(arr, fixes)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ImageReadError(reason, path, f"float matte holds {int((~np.isfinite(arr)).sum())} NaN or infinite values")
        low, high = arr.min(initial=0.0), arr.max(initial=0.0)
        if -FLOAT_TOLERANCE <= low and high <= 1.0 + FLOAT_TOLERANCE:
            scale = 255.0  # the usual float matte: 0..1
        elif -255 * FLOAT_TOLERANCE <= low and 2.0 < high <= 255.0 * (1 + FLOAT_TOLERANCE):
            scale = 1.0  # 0..255 stored as float
        else:
            raise ImageReadError(reason, path, f"float matte values span {low:g} to {high:g}; a matte holds 0 to 1 "
                                 "(or 0 to 255), so this is not one")
        fixes.append("alpha-float-to-8bit")
        return Decoded(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8), fixes)
    if mode == "L":
        return Decoded(np.asarray(img, dtype=np.uint8), fixes)
    if mode in ("LA", "RGBA"):
        arr = np.asarray(img, dtype=np.uint8)
        colour, a = arr[:, :, :-1], arr[:, :, -1]
        if (colour == colour.flat[0]).all() and not (a == a.flat[0]).all():
            # a cut-out stored as the alpha channel of a flat-coloured image
            fixes.append(f"alpha-{mode.lower()}-alpha-channel")
            return Decoded(a.copy(), fixes)
    if mode == "LA":
        fixes.append("alpha-la-to-l")
        return Decoded(np.asarray(img, dtype=np.uint8)[:, :, 0].copy(), fixes)
    if mode in ("RGB", "RGBA"):
        arr = np.asarray(img, dtype=np.uint8)
        rgb = arr[:, :, :3]
        if np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2]):
            fixes.append(f"alpha-{mode.lower()}-first-channel")
            return Decoded(rgb[:, :, 0].copy(), fixes)
        fixes.append(f"alpha-{mode.lower()}-to-luma")
        return Decoded(np.asarray(img.convert("RGB").convert("L"), dtype=np.uint8), fixes)
    fixes.append(f"alpha-{mode.lower()}-to-l")
    return Decoded(np.asarray(img.convert("L"), dtype=np.uint8), fixes)


def read_rgba(path: str | os.PathLike) -> np.ndarray:
    """Read an RGBA PNG written by :func:`encode_rgba_png` as ``uint8`` (H, W, 4)."""
    check_file_pixels(path, "unreadable_cache")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:
        raise ImageReadError("missing_file", path, e.strerror or "cannot be read") from None
    bgra = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
        raise ImageReadError("unreadable_cache", path, "not an RGBA PNG")
    return cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)


def encode_rgba_png(rgb: np.ndarray, alpha: np.ndarray, compression: int = 3) -> bytes:
    """Encode (H, W, 3) ``uint8`` colour and (H, W) ``uint8`` alpha as one RGBA PNG.

    ``compression`` is zlib's level 0-9; 3 is about 3x faster than PIL's default 6 for a
    few percent more bytes on matting foregrounds.
    """
    bgra = np.dstack([rgb[:, :, ::-1], alpha])
    ok, buf = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:  # pragma: no cover - OpenCV only fails on invalid shapes
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def read_cv2(path: str | os.PathLike, flags: int = cv2.IMREAD_COLOR, what: str = "image") -> np.ndarray:
    """``cv2.imread(path, flags)`` behind the pixel cap; :class:`ImageReadError` naming the file when it fails.

    For readers of files refmatte wrote itself (composites, mattes) and of users' photos,
    where OpenCV's decoder (and its EXIF handling) is what the model was trained with.
    """
    check_file_pixels(path, f"unreadable_{what}")
    array = cv2.imread(str(path), flags)
    if array is None:
        reason = "missing_file" if not Path(path).is_file() else f"unreadable_{what}"
        raise ImageReadError(reason, path, "missing or not a readable image")
    return array


ALPHA_FORMATS = ("PNG", "WEBP", "TIFF")  # formats that keep an alpha channel


def encode_as(path: str | os.PathLike, array: np.ndarray) -> bytes:
    """``array`` (H, W) grey or (H, W, 4) RGBA ``uint8`` encoded in the format ``path``'s suffix names.

    ValueError in one sentence for a suffix no format has, or RGBA into a format without
    alpha (JPEG, BMP): the caller writes the bytes atomically.
    """
    import io

    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        named = f"the suffix {suffix!r}" if suffix else "no suffix"
        raise ValueError(f"{path} has {named}, so its image format is unknown; end it in .png, .webp, .tif or .jpg.")
    if array.ndim == 3 and fmt not in ALPHA_FORMATS:
        raise ValueError(f"{path}: a cut-out has an alpha channel, which {fmt} cannot hold; use .png, .webp or .tif.")
    buf = io.BytesIO()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "WEBP":
        options["lossless"] = True  # a matte is data: no lossy WebP
    try:
        Image.fromarray(array).save(buf, format=fmt, **options)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path}: cannot write {fmt} ({e}); use .png.") from None
    return buf.getvalue()
