"""Where jobs run: :class:`InlineExecutor` (this process), :class:`ProcessExecutor` (local processes)
and, in :mod:`ballast.execution.ray_cluster`, Ray tasks. Each returns ``concurrent.futures.Future``
objects, so the driver loops of ``tune`` and ``bench`` are the same whatever runs the jobs."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol


class Executor(Protocol):
    """Runs picklable ``fn(*args)`` somewhere; ``slots`` is how many may run at once."""

    slots: int

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs each job in this process when it is submitted (``--jobs 1``): no start-up cost."""

    slots = 1

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as err:  # handed to the caller through the future, as the others do
            future.set_exception(err)
        return future

    def close(self) -> None:
        pass


class ProcessExecutor:
    """``jobs`` local worker processes, started with ``spawn`` (a forked process would share torch's
    thread pools and the parent's open files)."""

    def __init__(self, jobs: int) -> None:
        self.slots = jobs
        self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def local_executor(jobs: int) -> Executor:
    """The inline executor for one job at a time, local processes for more."""
    return InlineExecutor() if jobs <= 1 else ProcessExecutor(jobs)


def first_done(futures: Iterable[Future]) -> set[Future]:
    """Block until at least one of ``futures`` is done; return those that are."""
    done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
    return done
