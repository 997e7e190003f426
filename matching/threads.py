"""Blocks of merchants side by side on threads, their results in order: how ranking, the
training windows' candidate sampling and the validation of ``fit`` use ``ranking.n_jobs``
cores. Most of a block's work is numpy, faiss and compiled trees that release the GIL, much
of it single-threaded otherwise.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["in_order", "openmp_threads"]

T = TypeVar("T")
R = TypeVar("R")


def in_order(
    fn: Callable[[T], R], items: Iterable[T], n_jobs: int, *, side_by_side: bool = True
) -> Iterator[R]:
    """``fn(item)`` of each item, in the items' order.

    The first item runs alone with ``n_jobs`` BLAS/OpenMP threads: it builds what the later
    ones share (indexes, compiled trees, cached arrays). With ``side_by_side``, the rest run
    ``n_jobs`` at a time on threads of one BLAS/OpenMP thread each (OpenMP's limit is a
    thread's own: each worker sets it, or faiss and the compiled trees would start
    ``n_jobs`` threads in every worker and spin on shared cores), at most ``n_jobs`` ahead
    of the caller (whose work on a yielded result runs under that limit too); without, one
    at a time with ``n_jobs`` threads (for work sized to fit in memory one at a time). ``fn``
    must give the same result on any number of threads, so the results do not depend on
    ``n_jobs``.
    """
    from threadpoolctl import threadpool_limits

    items = list(items)
    if not items:
        return
    with threadpool_limits(n_jobs):
        first = fn(items[0])
    yield first
    workers = min(n_jobs, len(items) - 1)
    if side_by_side and workers > 1:
        ahead: deque = deque()

        def one_thread():
            threadpool_limits(1, user_api="openmp")  # this worker's, for its lifetime

        with threadpool_limits(1), ThreadPoolExecutor(workers, initializer=one_thread) as pool:
            try:
                for item in items[1:]:
                    ahead.append(pool.submit(fn, item))
                    if len(ahead) > workers:  # results ranked ahead are held: so few
                        yield ahead.popleft().result()
                while ahead:
                    yield ahead.popleft().result()
            finally:  # a caller that stops early waits for the running items only
                for future in ahead:
                    future.cancel()
    else:
        for item in items[1:]:
            with threadpool_limits(n_jobs):
                result = fn(item)
            yield result


_OPENMP: list = []
"""The process's OpenMP libraries, found once (threadpoolctl's scan of the loaded libraries
takes ~1 ms, and ranking asks a few times per block)."""


def openmp_threads() -> int:
    """The OpenMP threads the calling thread is allowed (threadpoolctl's limit, or
    :func:`in_order`'s worker limit), for libraries that take a thread count. Read from the
    OpenMP libraries loaded when first asked (a limit applies to all of them, so they tell
    it as well as any loaded later)."""
    if not _OPENMP:
        from threadpoolctl import ThreadpoolController

        _OPENMP.extend(ThreadpoolController().select(user_api="openmp").lib_controllers)
    return int(min(lib.num_threads for lib in _OPENMP)) if _OPENMP else 1
