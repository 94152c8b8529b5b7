"""Paths and names read from data (manifests, label files, checkpoints) are data, never trusted.

A command writes and deletes only inside its output folder. Any stored path it would write
or delete through is checked with :func:`inside` (absolute paths and ``..`` that leave the
folder are refused, in one sentence naming the row); any identifier that becomes part of a
file name goes through :func:`safe_name`. Reading a source file outside the manifest
folder stays allowed: the datasets live elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UnsafePath(ValueError):
    """A stored path that would leave the folder it must stay in."""


def inside(root: str | os.PathLike, rel: str, where: str) -> Path:
    """``root / rel`` when ``rel`` is relative and stays inside ``root``; else :class:`UnsafePath`.

    ``where`` names the row and column for the message, e.g. ``"entities.parquet row sample-1a2b, rgba_path"``.
    Both the text (absolute paths, ``..``) and the real path are checked: a symbolic link
    inside ``root`` that points out of it (``images -> /home/me``, shipped in a shared
    folder) is refused too. To keep outputs on another disk, link the whole folder instead.
    """
    text = str(rel)
    parts = PurePosixPath(text.replace("\\", "/"))
    if not text or parts.is_absolute() or Path(text).is_absolute() or "\0" in text:
        raise UnsafePath(f"{where}: {text!r} is not a path inside {root}; refusing to write or delete through it.")
    normal = os.path.normpath(os.path.join("root", *parts.parts))
    if not normal.startswith("root" + os.sep):
        raise UnsafePath(f"{where}: {text!r} leaves {root}; refusing to write or delete through it.")
    path = Path(root) / Path(*parts.parts)
    if not _resolves_inside(root, path):
        raise UnsafePath(f"{where}: {text!r} leads out of {root} through a symbolic link (to "
                         f"{os.path.realpath(path)}); refusing to write or delete through it.")
    return path


def _resolves_inside(root: str | os.PathLike, path: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


def own_folder(root: str | os.PathLike, rel: str) -> Path:
    """``root / rel``, a folder a command writes or deletes in, after checking that it does not
    lead out of ``root`` through a symbolic link (:class:`UnsafePath` otherwise)."""
    return inside(root, rel, f"folder {rel}")


def safe_name(identifier: str, max_length: int = 80) -> str:
    """A file-name-safe form of ``identifier``: ``[A-Za-z0-9._-]`` only, no leading dot, bounded length.

    Identifiers that are already safe are kept as they are; others are mapped to a cleaned
    prefix plus a hash of the original, so two different identifiers never share a name.
    """
    text = str(identifier)
    clean = _UNSAFE.sub("_", text).lstrip(".") or "_"
    if clean == text and len(text) <= max_length:
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{clean[:max_length - 11]}-{digest}"
