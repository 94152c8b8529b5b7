"""Atomic file output: write to a hidden temporary file in the same folder, then rename.

A run killed at any moment leaves either the old file or the new one, never half of one.
Temporaries are named ``.<name>.<pid>.tmp`` so that :func:`remove_stale_temps` can sweep
what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

TEMP_SUFFIX = ".tmp"
LOCK_FILE = ".lock"


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


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


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete temporaries left in ``folder`` (recursively) by killed runs; return how many."""
    folder = Path(folder)
    if not folder.exists():
        return 0
    count = 0
    for p in folder.rglob(f".*{TEMP_SUFFIX}"):
        pid = p.name[: -len(TEMP_SUFFIX)].rsplit(".", 1)[-1]
        if p.is_file() and pid.isdigit():
            p.unlink()
            count += 1
    return count


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold ``<folder>/.lock`` so two runs never rewrite the same manifests at once."""
    with open(Path(folder) / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another refmatte run is writing to {folder}; wait for it or use another --out.") from None
        yield
