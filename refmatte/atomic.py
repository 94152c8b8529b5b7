"""Atomic file output and the folder lock every writing command takes.

A file is written to a hidden temporary in the same folder, then renamed over its target:
a run killed at any moment leaves either the old file or the new one, never half of one.
Temporaries are named ``.refmatte-tmp-<host>-<pid>-<name>``; :func:`remove_stale_temps`
deletes only files of that shape whose process (on this host) is no longer running, so a
user's own ``.something.123.tmp`` is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".refmatte-tmp-"
LOCK_FILE = ".lock"
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_TEMP_RE = re.compile(rf"^{re.escape(TEMP_PREFIX)}([0-9a-f]{{6}})-(\d+)-.+")


class OutputError(ValueError):
    """An output folder that cannot be written (read-only, a file, or held by another run)."""


def _temp_path(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{_HOST}-{os.getpid()}-{path.name}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete temporaries this tool left in ``folder`` (recursively) from runs that died; return how many.

    Only names of this module's shape, made on this host by a process that is gone, are removed.
    """
    folder = Path(folder)
    if not folder.exists():
        return 0
    count = 0
    for p in folder.rglob(f"{TEMP_PREFIX}*"):
        m = _TEMP_RE.match(p.name)
        if m and m.group(1) == _HOST and p.is_file() and not _running(int(m.group(2))):
            p.unlink()
            count += 1
    return count


def writable_folder(folder: str | os.PathLike, what: str = "--out folder") -> Path:
    """``folder``, created when missing; :class:`OutputError` in one sentence when that is impossible.

    ``what`` names the folder for the message ("--out folder", "manifest folder")."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {folder} is a file; give a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {what} {folder} ({e.strerror}); give a folder you can write to.") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {folder} is not writable; give a folder you can write to.")
    return folder


@contextlib.contextmanager
def exclusive(folder: str | os.PathLike, what: str = "--out folder") -> Iterator[Path]:
    """Hold ``<folder>/.lock`` so two runs never write the same folder at once (created when missing).

    Every command that rewrites a folder (ingest, backgrounds, annotate, compose, express,
    labels import, the importers, clipmat train) takes this lock, so they exclude each other.
    """
    folder = writable_folder(folder, what)
    try:
        lock = open(folder / LOCK_FILE, "a")
    except OSError as e:
        raise OutputError(f"cannot write {folder / LOCK_FILE} ({e.strerror}); give a folder you can write to.") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"another run is writing to {folder}; wait for it to finish or use another {what}.") from None
        yield folder
