"""One call in a fresh process, beside the caller's own work: how ``match`` runs the greedy
baseline while it solves the exact allocation. Both solvers hold the GIL, so a thread would
not run beside them; a spawned process does (and starts clean of the caller's threads and
OpenMP state, which a fork would copy mid-flight).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

__all__ = ["BackgroundError", "InProcess"]


class BackgroundError(RuntimeError):
    """The process running a background call ended before it answered."""


def _answer(conn, fn: Callable[..., Any], args: tuple) -> None:
    try:
        out = (True, fn(*args))
    except BaseException as exc:  # handed to the caller, which raises it
        out = (False, exc)
    conn.send(out)
    conn.close()


class InProcess:
    """``fn(*args)`` in a spawned process, started at once; :meth:`result` waits for it.

    ``fn`` must be a module-level function and ``args`` must pickle; an exception ``fn``
    raises is raised again by :meth:`result`. Used as a context manager, a call still
    running when the block ends (the caller failed, or never asked) is stopped.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "background call"):
        ctx = multiprocessing.get_context("spawn")
        self.name = name
        self._conn, child = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_answer, args=(child, fn, args), daemon=True)
        self._process.start()
        child.close()
        self._answer: tuple[bool, Any] | None = None

    @property
    def pid(self) -> int | None:
        """The process's id."""
        return self._process.pid

    def result(self) -> Any:
        """What ``fn`` returned (waiting for it), or its exception raised here."""
        if self._answer is None:
            try:
                self._answer = self._conn.recv()
            except EOFError:  # the process ended without answering: killed, or crashed
                self._process.join()
                raise BackgroundError(
                    f"the {self.name} stopped without an answer "
                    f"(exit code {self._process.exitcode})"
                ) from None
            finally:
                self._conn.close()
            self._process.join()
        ok, value = self._answer
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Stop the call if it still runs."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._conn.close()

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
