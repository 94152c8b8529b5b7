"""Process pools shared by the batch stages (ingest, annotate, compose): local spawned
processes, or tasks on a Ray cluster. Both run the same picklable function per task and
yield results as they finish; callers never depend on the order."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "ray")


def _init_worker() -> None:
    # One process per core: keep each process single-threaded so N workers use N cores.
    import cv2

    cv2.setNumThreads(1)
    try:
        import numba

        numba.set_num_threads(1)
    except ImportError:  # pragma: no cover - numba comes with pymatting
        pass


class WorkerPool:
    """Worker processes (``local``) or a Ray connection (``ray``) kept for several task lists, so the
    workers start once: ``with WorkerPool(2) as pool: pool.run(tasks, fn)``. One worker and
    ``local``: tasks run in this process."""

    def __init__(self, workers: int, executor: str = "local", address: str | None = None):
        if executor not in EXECUTORS:
            raise ValueError(f"unknown executor {executor!r}; choose {' or '.join(EXECUTORS)}.")
        self.workers, self.executor, self.address = max(1, workers), executor, address
        self._pool = None
        self._ray_started = False

    @property
    def parallel(self) -> bool:
        return self.workers > 1 or self.executor != "local"

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.terminate() if exc[0] is not None else self._pool.close()
            self._pool.join()
            self._pool = None
        if self._ray_started:
            import ray

            ray.shutdown()
            self._ray_started = False

    def run(self, tasks: list[T], fn: Callable[[T], R]) -> Iterator[R]:
        """``fn`` over ``tasks``, results as they finish."""
        if self.executor == "ray":
            yield from self._run_ray(tasks, fn)
        elif self.workers <= 1 or len(tasks) <= 1:
            yield from map(fn, tasks)
        else:
            if self._pool is None:
                ctx = mp.get_context("spawn")  # numba's thread pools do not survive fork
                self._pool = ctx.Pool(self.workers, initializer=_init_worker)
            yield from self._pool.imap_unordered(fn, tasks, chunksize=1)

    def _run_ray(self, tasks: list[T], fn: Callable[[T], R]) -> Iterator[R]:
        """Every node must see the manifest folder at the same path (a shared filesystem): the tasks
        read and write there, as local workers do. At most ``4 * workers`` tasks are in flight, so
        the driver's memory stays bounded."""
        try:
            import ray
        except ImportError:
            raise ValueError("--executor ray needs Ray: pip install 'refmatte[ray]'.") from None
        if not ray.is_initialized():
            import os

            from refmatte.imaging import MAX_PIXELS_ENV, max_pixels
            from refmatte.vocabulary import VOCABULARY_ENV

            env = {MAX_PIXELS_ENV: str(max_pixels())}  # the same pixel cap and vocabulary on every node
            if os.environ.get(VOCABULARY_ENV):
                env[VOCABULARY_ENV] = os.environ[VOCABULARY_ENV]
            kwargs = dict(address=self.address) if self.address else dict(num_cpus=self.workers, include_dashboard=False)
            ray.init(log_to_driver=False, configure_logging=False, **kwargs, runtime_env={"env_vars": env})
            self._ray_started = True
        remote = ray.remote(num_cpus=1)(_ray_call)
        window = max(2, 4 * self.workers)
        pending, queue = [], list(reversed(tasks))
        while queue or pending:
            while queue and len(pending) < window:
                pending.append(remote.remote(fn, queue.pop()))
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])


def _ray_call(fn: Callable[[T], R], task: T) -> R:
    _init_worker()
    return fn(task)


def run_tasks(tasks: list[T], fn: Callable[[T], R], workers: int, executor: str = "local",
              address: str | None = None) -> Iterator[R]:
    """``fn`` over ``tasks`` with ``executor`` (``local`` processes or ``ray``), results as they finish."""
    with WorkerPool(workers, executor, address) as pool:
        yield from pool.run(tasks, fn)


def run_pool(tasks: list[T], fn: Callable[[T], R], workers: int) -> Iterator[R]:
    """``fn`` over ``tasks`` in ``workers`` spawned local processes (in this one when 1), results as they finish."""
    return run_tasks(tasks, fn, workers)
