"""Local process pools shared by the batch stages (ingest, compose)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _init_worker() -> None:
    # One process per core: keep each process single-threaded so N workers use N cores.
    import cv2

    cv2.setNumThreads(1)
    try:
        import numba

        numba.set_num_threads(1)
    except ImportError:  # pragma: no cover - numba comes with pymatting
        pass


def run_pool(tasks: list[T], fn: Callable[[T], R], workers: int) -> Iterator[R]:
    """``fn`` over ``tasks`` in ``workers`` spawned processes (in this one when 1), results as they finish."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(fn, tasks)
        return
    ctx = mp.get_context("spawn")  # numba's thread pools do not survive fork
    with ctx.Pool(min(workers, len(tasks)), initializer=_init_worker) as pool:
        yield from pool.imap_unordered(fn, tasks, chunksize=1)
