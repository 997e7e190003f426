"""Files written whole or not at all: one file (:func:`replace_file`) or several files of
one folder as a unit (:func:`publish`), under an exclusive lock of the folder, with a
journal that makes a kill between two renames recoverable (:func:`recover`). A file too big
to hold in memory is staged in the folder over time (:func:`stage`) and published with the
others.

This is the machinery behind every write of ``matching``: the input tables of
``simulate``, the model directory of ``train`` and the outputs of ``match``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from matching.data.messages import first_line
from matching.errors import DataError

__all__ = ["JOURNAL", "Staged", "publish", "recover", "replace_file", "stage", "writer_of"]

logger = logging.getLogger(__name__)


def _write_temp(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write to a hidden temporary file next to ``path``, fsync it, return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(folder: Path) -> None:
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _commit(pairs: list[tuple[Path, Path]]) -> None:
    """Rename every temporary file onto its target; on failure remove the rest."""
    done = 0
    try:
        for tmp, target in pairs:
            os.replace(tmp, target)
            done += 1
    except BaseException:
        for tmp, _ in pairs[done:]:
            tmp.unlink(missing_ok=True)
        raise
    for folder in {target.parent for _, target in pairs}:
        _fsync_dir(folder)


JOURNAL = ".commit.json"
"""Left in a folder only by a writer killed while renaming its files into place."""


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock of ``folder`` (POSIX ``flock`` on the folder itself: no lock
    file; the kernel releases it when the process dies, however it dies)."""
    if os.name != "posix":
        yield
        return
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the duration (they are delivered right after), so an
    interrupt never lands between two renames. Only the main thread can do this; elsewhere
    the block runs unprotected (a journal still makes it recoverable)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in held
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


def _stale_temps(folder: Path, names: Iterable[str]) -> list[Path]:
    return sorted(p for name in names for p in folder.glob(f".{name}.*.tmp"))


_STAGED = ".staged"
"""The suffix of a staged file (:func:`stage`): not ``.tmp``, so the clean-up of a publish's
own temporary files never takes a staged file that publish is about to commit."""


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock of an open file without waiting; False if another open file
    holds it (a live writer's staged file). Always True where there is no ``flock``."""
    if os.name != "posix":
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _remove_stale_staged(folder: Path, names: Iterable[str], keep: Iterable[Path] = ()) -> None:
    """Remove the staged files of ``names`` no live writer holds (a killed run's), but never
    those of ``keep``."""
    keep = {p.name for p in keep}
    for path in sorted(p for name in names for p in folder.glob(f".{name}.*{_STAGED}")):
        if path.name in keep:
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            if _try_lock(fd):
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _finish(folder: Path) -> list[str]:
    """Complete an interrupted publish of ``folder`` from its journal; the caller holds the lock."""
    journal = folder / JOURNAL
    if not journal.is_file():
        return []
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{journal}: cannot read json: {first_line(exc)}") from None
    if not (
        isinstance(entries, list)
        and all(
            isinstance(e, list)
            and len(e) == 2
            and all(isinstance(n, str) and "/" not in n for n in e)
            for e in entries
        )
    ):
        raise DataError(f"{journal}: not a journal written by matching; remove it by hand")
    for tmp, target in entries:
        if (folder / tmp).is_file():
            os.replace(folder / tmp, folder / target)
    _fsync_dir(folder)
    journal.unlink()
    _fsync_dir(folder)
    return [target for _, target in entries]


def recover(folder: str | os.PathLike, names: Iterable[str] = ()) -> None:
    """Make ``folder`` whole after a writer was killed: complete an interrupted publish
    (see :func:`publish`) and remove stale temporary files of ``names`` (and of the files
    a journal names). A no-op on a folder that needs nothing, or does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    with _locked(folder):
        _recover(folder, names)


def _recover(folder: Path, names: Iterable[str], keep: Iterable[Path] = ()) -> None:
    names = list(names)
    finished = _finish(folder)
    if finished:
        logger.warning("%s: completed the interrupted write of %s", folder, ", ".join(finished))
    for stale in _stale_temps(folder, [*names, *finished, JOURNAL]):
        stale.unlink(missing_ok=True)
    _remove_stale_staged(folder, [*names, *finished], keep)


class Staged:
    """One file being written into ``folder`` over time, outside the folder's lock, to be
    published later with other files (:func:`publish`, ``staged=``): made by :func:`stage`.

    It lives as the hidden ``.<name>.<random>.staged`` and holds an exclusive ``flock`` of
    itself while open, so a concurrent :func:`recover` leaves it alone while a killed
    writer's is removed by the next one. :meth:`discard` removes it (unless published).
    """

    def __init__(self, name: str, path: Path, file: IO[bytes]):
        self.name = name
        self.path = path
        self.file = file
        self.published = False

    def discard(self) -> None:
        """Close the file; remove it unless :func:`publish` committed it."""
        if not self.published:
            self.path.unlink(missing_ok=True)
        if not self.file.closed:
            self.file.close()


def stage(path: str | os.PathLike) -> Staged:
    """Start writing the file ``path`` (of a folder, created if needed) in place, hidden and
    locked; write to ``.file``, then :func:`publish` it or :meth:`Staged.discard` it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{path.parent}: cannot create the folder: {exc.strerror or exc}") from None
    while True:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_STAGED)
        file = os.fdopen(fd, "wb")
        # a recover running in another process between mkstemp and the lock may take the
        # new file for a killed writer's and remove it: then start again
        if _try_lock(fd):
            try:
                if os.stat(name).st_ino == os.fstat(fd).st_ino:
                    os.chmod(name, 0o644)
                    return Staged(path.name, Path(name), file)
            except FileNotFoundError:
                pass
        file.close()
        Path(name).unlink(missing_ok=True)


def publish(
    folder: str | os.PathLike,
    files: Mapping[str, Callable[[IO[bytes]], Any]],
    staged: Iterable[Staged] = (),
) -> dict[str, Path]:
    """Write several files of one folder as a unit: afterwards, all are new or all are old.

    ``files`` maps each file name to a function writing its bytes; ``staged`` are files
    already written into the folder (:func:`stage`), published with them. Under an exclusive
    lock of the folder (a second writer waits):

    1. an interrupted publish is completed and stale temporary files of these names
       are removed (:func:`recover`; never the ``staged`` files);
    2. every file is written to a hidden temporary file and fsynced (the staged ones are
       fsynced);
    3. a journal (:data:`JOURNAL`) naming temporary file -> target is written: the
       commit point;
    4. every temporary file is renamed onto its target, the folder is fsynced, the
       journal is removed.

    A failure or a kill before 3 leaves the previous files untouched (a failure removes the
    staged files too; a kill may leave hidden ``.<name>.*.tmp`` and ``.staged`` files,
    removed by the next publish). After 3 the new files
    are complete on disk: a kill during 4 leaves the journal, and the next
    :func:`recover` or publish completes the renames. SIGINT and SIGTERM arriving
    during 3-4 are delivered once 4 is done.

    Returns
    -------
    The path of each file.
    """
    folder = Path(folder)
    staged = list(staged)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, no permission
        raise DataError(f"{folder}: cannot create the folder: {exc.strerror or exc}") from None
    if any(s.path.parent.resolve() != folder.resolve() or s.name in files for s in staged):
        for s in staged:
            s.discard()
        raise ValueError(f"{folder}: a staged file is of another folder, or also in files")
    targets = {name: folder / name for name in [*files, *(s.name for s in staged)]}

    def clean_up() -> None:  # holding the lock, every temporary file of these names is ours
        for tmp in _stale_temps(folder, [*files, JOURNAL]):
            tmp.unlink(missing_ok=True)
        for s in staged:
            s.discard()

    with _locked(folder):
        try:
            _recover(folder, targets, keep=[s.path for s in staged])
            pairs = [(s.path, targets[s.name]) for s in staged]
            for s in staged:
                s.file.flush()
                os.fsync(s.file.fileno())
            for name, write in files.items():
                pairs.append((_write_temp(targets[name], write), targets[name]))
            entries = [[tmp.name, target.name] for tmp, target in pairs]
            journal = _write_temp(
                folder / JOURNAL, lambda fh: fh.write(json.dumps(entries).encode())
            )
        except BaseException:
            clean_up()
            raise
        with _signals_held():
            try:
                os.replace(journal, folder / JOURNAL)
            except BaseException:
                clean_up()
                raise
            _fsync_dir(folder)  # the commit point
            for s in staged:
                s.published = True
            _finish(folder)
    return targets


def replace_file(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write one file atomically: ``write`` fills a hidden temporary file beside ``path``,
    which is fsynced, then renamed onto ``path``; on any error the temporary file is removed
    and ``path`` is untouched."""
    path = Path(path)
    _commit([(_write_temp(path, write), path)])
    return path


def writer_of(blob: bytes) -> Callable[[IO[bytes]], Any]:
    """A writer of ``blob``, for :func:`publish` and :func:`replace_file`."""
    return lambda fh: fh.write(blob)
