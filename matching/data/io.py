"""Reading and writing the tables: the input folder, single tables, JSON, and the output
folder of ``match`` (validated, then published as one unit; the matches table may be
streamed into it block by block, :class:`MatchesStream`).

Reading never validates (:mod:`matching.data.validate` does, and :func:`read_inputs` calls
it); writing is always atomic (:mod:`matching.data.atomic`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from pandas.api import types as ptypes

from matching.data.atomic import Staged, publish, replace_file, stage, writer_of
from matching.data.contract import DATE_COLUMNS, TABLES
from matching.data.messages import first_line, one_line_error, problem_at
from matching.data.schema import OUTPUT_ARROW, SPECS
from matching.data.validate import (
    Inputs,
    validate_allocation,
    validate_inputs,
    validate_matches,
)
from matching.errors import DataError

__all__ = [
    "MATCH_PICTURES",
    "OUTPUT_FILES",
    "MatchesStream",
    "TableSize",
    "input_sizes",
    "json_default",
    "read_inputs",
    "read_json",
    "read_table",
    "write_json",
    "write_outputs",
    "write_table",
    "write_tables",
]

MATCH_PICTURES = (
    "score_distribution.png",
    "allocation_per_seller.png",
    "creator_utilisation.png",
    "greedy_gap.png",
    "fairness.png",
    "promise.png",
)
OUTPUT_FILES = ("matches.parquet", "allocation.parquet", "summary.json", *MATCH_PICTURES)
"""What ``match`` writes into its output folder, as one unit."""


# --------------------------------------------------------------------------- reading


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".csv"):
        return suffix[1:]
    raise DataError(f"{path}: unsupported file type {path.suffix!r}; expected .parquet or .csv")


def read_table(path: str | os.PathLike, *, text_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read one Parquet or CSV file as it is, without validation.

    CSV files are read as UTF-8 (a byte-order mark is dropped), header names are
    stripped of surrounding whitespace.

    Parameters
    ----------
    path : a ``.parquet`` or ``.csv`` file.
    text_columns : CSV columns to keep as text (``"string"``) rather than let pandas
        guess, so an id like ``007`` keeps its zeros. Ignored for Parquet.

    Raises
    ------
    DataError
        The file is missing, of another type, or cannot be parsed.
    """
    path = Path(path)
    fmt = _format_of(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if fmt == "parquet":
        try:
            return pd.read_parquet(path, engine="pyarrow")
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"{path}: cannot read parquet: {first_line(exc)}") from None
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            names = [name.strip() for name in next(csv.reader(fh), [])]
        header = pd.read_csv(path, encoding="utf-8-sig", nrows=0).columns
        wanted = set(text_columns)
        dtype = {raw: "string" for raw in header if str(raw).strip() in wanted}
        df = pd.read_csv(path, encoding="utf-8-sig", dtype=dtype or None)
    except (
        OSError,
        ValueError,
        csv.Error,
    ) as exc:  # ParserError, EmptyDataError, UnicodeDecodeError
        raise DataError(f"{path}: cannot read csv: {first_line(exc)}") from None
    dupes = sorted({name for name in names if names.count(name) > 1})
    if dupes:  # pandas would have renamed them "name.1"
        raise DataError(f"{path}: duplicate column names {dupes}")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _find_table(folder: Path, name: str) -> Path:
    for suffix in (".parquet", ".csv"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
        if path.is_dir():
            raise DataError(f"{path}: a folder (e.g. a partitioned dataset); one file is expected")
    raise DataError(f"{folder}: no {name}.parquet or {name}.csv")


def read_inputs(data_dir: str | os.PathLike, *, drop_unknown: bool = False) -> Inputs:
    """Read and validate the three input tables of a folder, and its ``offers`` table when
    it has one (an addition to the contract; :func:`validate_offers`).

    For each table ``<name>.parquet`` is used if present, else ``<name>.csv``.

    Parameters
    ----------
    data_dir : the folder holding the tables.
    drop_unknown : see :func:`validate_inputs`.

    Raises
    ------
    DataError
        A missing folder or table, an unreadable file, or a table that breaks the
        contract; one line.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: data folder not found")
    frames: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    for name in TABLES:
        path = _find_table(folder, name)
        text = [c for c, spec in SPECS[name].items() if spec.kind in ("id", "text")]
        frames[name] = read_table(path, text_columns=text)
        sources[name] = path.name
    offers = None
    if any((folder / f"offers{suffix}").exists() for suffix in (".parquet", ".csv")):
        path = _find_table(folder, "offers")
        text = [c for c, spec in SPECS["offers"].items() if spec.kind in ("id", "text")]
        offers = read_table(path, text_columns=text)
        sources["offers"] = path.name
    return validate_inputs(
        frames["merchants"],
        frames["creators"],
        frames["collaborations"],
        drop_unknown=drop_unknown,
        sources=sources,
        offers=offers,
    )


class Summary(Protocol):
    """What :func:`write_outputs` needs of a run summary (a frozen dataclass, as
    :class:`matching.allocation.summary.RunSummary`): an ``outputs`` field and its JSON."""

    def to_json(self) -> str: ...


SummaryT = TypeVar("SummaryT", bound=Summary)


@dataclass(frozen=True)
class OutputFile:
    """One table written by ``match``: its rows and the SHA-256 of its bytes."""

    rows: int
    sha256: str


@dataclass(frozen=True)
class TableSize:
    rows: int
    columns: int


def input_sizes(data_dir: str | os.PathLike) -> dict[str, TableSize]:
    """The size of each input table without loading it: Parquet metadata, or a count of
    a CSV file's lines (an upper bound when quoted values span lines).

    Raises
    ------
    DataError
        As :func:`read_inputs` would for a missing folder or table, or an unreadable file.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: data folder not found")
    sizes = {}
    for name in TABLES:
        path = _find_table(folder, name)
        if path.suffix.lower() == ".parquet":
            try:
                meta = pq.read_metadata(path)
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise DataError(f"{path}: cannot read parquet: {first_line(exc)}") from None
            sizes[name] = TableSize(meta.num_rows, meta.num_columns)
            continue
        try:
            with open(path, encoding="utf-8-sig", newline="") as fh:
                columns = len(next(csv.reader(fh), []))
            lines = 0
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    lines += chunk.count(b"\n")
        except (OSError, ValueError, csv.Error) as exc:
            raise DataError(f"{path}: cannot read csv: {first_line(exc)}") from None
        sizes[name] = TableSize(lines, columns)  # counts the header too: an upper bound
    return sizes


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file is a :class:`DataError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read json: {first_line(exc)}") from None


# --------------------------------------------------------------------------- writing


def _write_parquet(table: pa.Table, where: IO[bytes]) -> None:
    """The one call that writes Parquet bytes (kept separate so tests can break it)."""
    pq.write_table(table, where)


def _midnights(s: pd.Series) -> pd.Series:
    d = s if ptypes.is_datetime64_any_dtype(s.dtype) else pd.to_datetime(s)
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        d = d.dt.tz_localize(None)
    return d.dt.normalize()


def _with_dates(
    df: pd.DataFrame, date_columns: Iterable[str], path: Path
) -> tuple[pd.DataFrame, list[str]]:
    """A copy of ``df`` whose date columns are datetimes at midnight, and their names."""
    names = [c for c in dict.fromkeys((*DATE_COLUMNS, *date_columns)) if c in df.columns]
    updates = {}
    for column in names:
        try:
            updates[column] = _midnights(df[column])
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{path.name}: column {column!r}: cannot write as dates: {first_line(exc)}"
            ) from None
    return (df.assign(**updates) if updates else df), names


def _serialise(df: pd.DataFrame, path: Path, date_columns: Iterable[str]) -> Callable:
    """A function writing ``df`` to a binary file in the format of ``path``."""
    fmt = _format_of(path)
    frame, dates = _with_dates(df, date_columns, path)
    if fmt == "parquet":
        schema = pa.Schema.from_pandas(frame, preserve_index=False)
        for column in dates:
            schema = schema.set(schema.get_field_index(column), pa.field(column, pa.date32()))
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        return lambda fh: _write_parquet(table, fh)
    if dates:
        frame = frame.assign(**{c: frame[c].dt.strftime("%Y-%m-%d") for c in dates})
    text = frame.to_csv(index=False, lineterminator="\n")
    return lambda fh: fh.write(text.encode("utf-8"))


def write_table(
    df: pd.DataFrame, path: str | os.PathLike, *, date_columns: Iterable[str] = ()
) -> None:
    """Write one table atomically, as Parquet or CSV by the extension of ``path``.

    The table goes to a hidden temporary file in the same folder, is fsynced, then
    renamed onto ``path``; on any error the temporary file is removed and ``path``
    is untouched. Identical frames give byte-identical files. The index is not
    written. Columns of :data:`DATE_COLUMNS` and ``date_columns`` are written as
    Parquet ``date32`` (CSV: ``YYYY-MM-DD``).
    """
    path = Path(path)
    replace_file(path, _serialise(df, path, date_columns))


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    out_dir: str | os.PathLike,
    fmt: str = "parquet",
    *,
    date_columns: Iterable[str] = (),
) -> dict[str, Path]:
    """Write several tables as ``<out_dir>/<name>.<fmt>``, all or none
    (:func:`~matching.data.atomic.publish`).

    Every table is written to a temporary file first; only when all are written are
    they renamed into place, so a failure leaves the previous files intact and no
    temporary files behind.

    Returns
    -------
    The path written for each table.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    folder = Path(out_dir)
    names = {name: f"{name}.{fmt}" for name in tables}
    writers = {
        names[name]: _serialise(df, folder / names[name], date_columns)
        for name, df in tables.items()
    }
    paths = publish(folder, writers)
    return {name: paths[names[name]] for name in tables}


def json_default(obj: Any) -> Any:
    """What JSON cannot hold, made plain (``json.dumps(..., default=json_default)``): NumPy
    scalars and arrays, dates, paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as JSON atomically: sorted keys, indent 2, a trailing newline.

    NumPy scalars and arrays, dates and paths are converted; the output is the
    same bytes for the same object.
    """
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=json_default)
    replace_file(path, writer_of((text + "\n").encode("utf-8")))


def write_yaml(obj: Any, path: str | os.PathLike, header: str = "") -> None:
    """Write ``obj`` (plain mappings, lists and scalars) as YAML atomically, keys in the
    order given, under ``header`` (comment lines, each starting with ``#``)."""
    text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True)
    replace_file(path, writer_of((header + text).encode("utf-8")))


# --------------------------------------------------------------------------- outputs


_HASH_CHUNK = 2**20
"""Bytes read at a time when hashing a written file."""


def _parquet_bytes(df: pd.DataFrame, schema: pa.Schema) -> bytes:
    sink = pa.BufferOutputStream()
    _write_parquet(_arrow(df, schema), sink)
    return sink.getvalue().to_pybytes()


def _arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """An output table as Arrow, its columns and types fixed by ``schema``."""
    frame, _ = _with_dates(df[list(schema.names)], (), Path("output.parquet"))
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _sha256(file: IO[bytes]) -> str:
    file.seek(0)
    digest = hashlib.sha256()
    while chunk := file.read(_HASH_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


class MatchesStream:
    """``matches.parquet`` written into the output folder block by block, so the whole table
    is never in memory, then published with the other outputs (:func:`write_outputs`).

    Each block is validated (:func:`~matching.data.validate.validate_matches`; it must hold
    all the rows of its merchants, and no merchant may come back in a later block) and
    appended to a hidden staged file (:func:`~matching.data.atomic.stage`) in Parquet row
    groups of ``row_group_rows`` rows, cut at the same rows whatever the blocks, so the file's
    bytes depend on the rows only (None: each block as its own row groups, of at most
    pyarrow's default size). Memory: one block and one row group.

    Use it as a context manager: leaving it unpublished, by an error or not, removes the
    staged file. A killed run's staged file is removed by the next run's
    :func:`~matching.data.atomic.recover`.
    """

    name = "matches.parquet"

    def __init__(self, out_dir: str | os.PathLike, row_group_rows: int | None = None):
        if row_group_rows is not None and row_group_rows < 1:
            raise ValueError(f"row_group_rows must be at least 1, got {row_group_rows}")
        self.out_dir = Path(out_dir)
        self.row_group_rows = row_group_rows
        self.rows = 0
        self._schema = OUTPUT_ARROW["matches"]
        self._staged: Staged | None = None
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._merchants: set[str] = set()
        self._sha256: str | None = None

    def __enter__(self) -> MatchesStream:
        self._staged = stage(self.out_dir / self.name)
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def discard(self) -> None:
        """Remove the staged file, unless it was published."""
        if self._writer is not None and self._writer.is_open:
            # closed before its file is, or it writes a footer there when collected; the
            # file is removed below, so a failure to finish it does not matter
            with contextlib.suppress(Exception):
                self._writer.close()
        if self._staged is not None:
            self._staged.discard()

    def write(self, block: pd.DataFrame) -> None:
        """Validate one block of matches and append it."""
        if self._staged is None or self._sha256 is not None:
            raise RuntimeError("MatchesStream.write: not open (use it as a context manager)")
        validate_matches(block, first_row=self.rows)
        ids = block["merchant_id"].drop_duplicates()
        again = [m for m in ids if m in self._merchants]
        if again:  # its ranks would repeat the earlier block's, unchecked
            where = problem_at(
                "merchant_id",
                "of a merchant written in an earlier block",
                block["merchant_id"].isin(again),
                block["merchant_id"],
            )
            rows = tuple(self.rows + r for r in where.rows)
            raise one_line_error("matches", [dataclasses.replace(where, rows=rows)])
        self._merchants.update(ids)
        table = _arrow(block, self._schema)
        self.rows += len(block)
        if self._writer is None:  # the schema's pandas metadata is the first block's
            self._writer = pq.ParquetWriter(self._staged.file, table.schema)
        if self.row_group_rows is None:
            self._writer.write_table(table)
            return
        self._pending.append(table)
        self._flush(whole_groups_only=True)

    def _flush(self, whole_groups_only: bool) -> None:
        """Write the pending rows as row groups of ``row_group_rows`` (a last, shorter one
        too unless ``whole_groups_only``); each group contiguous, so its pages are cut at
        the same rows whatever the blocks it came in."""
        n = sum(len(t) for t in self._pending)
        size = self.row_group_rows
        whole = n // size * size if whole_groups_only else n
        if not whole:
            return
        pending = pa.concat_tables(self._pending)
        for start in range(0, whole, size):
            group = pending.slice(start, min(size, whole - start)).combine_chunks()
            self._writer.write_table(group, row_group_size=size)
        self._pending = [pending.slice(whole)] if whole < n else []

    def finish(self) -> OutputFile:
        """Write the last rows and the footer; the file's rows and SHA-256."""
        if self._staged is None:
            raise RuntimeError("MatchesStream.finish: not open (use it as a context manager)")
        if self._sha256 is None:
            if self._writer is None:  # no block: an empty table of the contract's columns
                empty = pd.DataFrame({c: [] for c in self._schema.names})
                table = _arrow(empty, self._schema)
                self._writer = pq.ParquetWriter(self._staged.file, table.schema)
                self._writer.write_table(table)
            if self.row_group_rows is not None:
                self._flush(whole_groups_only=False)
            self._writer.close()
            self._staged.file.flush()
            with open(self._staged.path, "rb") as fh:
                self._sha256 = _sha256(fh)
        return OutputFile(self.rows, self._sha256)

    def pairs_of(self, merchant_ids: Iterable[str]) -> pd.DataFrame:
        """The ``merchant_id``, ``creator_id`` pairs written for these merchants, read back
        from the staged file one row group at a time."""
        self.finish()
        wanted = pa.array(pd.unique(np.asarray(list(merchant_ids), dtype=object)), pa.string())
        frames = [pd.DataFrame({"merchant_id": [], "creator_id": []}, dtype=object)]
        with open(self._staged.path, "rb") as fh:
            parquet = pq.ParquetFile(fh)
            for i in range(parquet.num_row_groups):
                group = parquet.read_row_group(i, columns=["merchant_id", "creator_id"])
                mask = pc.is_in(group["merchant_id"], value_set=wanted)
                frames.append(group.filter(mask).to_pandas())
        return pd.concat(frames, ignore_index=True)

    @property
    def staged(self) -> Staged:
        """The staged file, for :func:`~matching.data.atomic.publish`."""
        if self._staged is None:
            raise RuntimeError("MatchesStream: not open (use it as a context manager)")
        return self._staged


def write_outputs(
    out_dir: str | os.PathLike,
    matches: pd.DataFrame | MatchesStream,
    allocation: pd.DataFrame,
    summary: SummaryT,
    pictures: Mapping[str, bytes] | None = None,
) -> SummaryT:
    """Validate and write ``matches``, ``allocation``, ``summary.json`` and the run's
    ``pictures`` (PNG bytes by file name) as one unit (:func:`~matching.data.atomic.publish`).
    ``matches`` is a table, or a :class:`MatchesStream` of this folder already written (its
    blocks were validated as they came; the allocation's pairs are checked against the file).
    The summary written, and returned, gains ``outputs``: the rows and SHA-256 of each table,
    so a reader can check that the files belong together.
    """
    if isinstance(matches, pd.DataFrame):
        validate_allocation(allocation, matches)
        with MatchesStream(out_dir) as stream:
            stream.write(matches)
            return write_outputs(out_dir, stream, allocation, summary, pictures)
    if matches.out_dir.resolve() != Path(out_dir).resolve():
        raise ValueError(f"the matches stream writes into {matches.out_dir}, not {out_dir}")
    matches_file = matches.finish()
    validate_allocation(allocation, matches.pairs_of(allocation["merchant_id"]))
    blob = _parquet_bytes(allocation, OUTPUT_ARROW["allocation"])
    summary = dataclasses.replace(
        summary,
        outputs={
            MatchesStream.name: matches_file,
            "allocation.parquet": OutputFile(len(allocation), hashlib.sha256(blob).hexdigest()),
        },
    )
    files = {"allocation.parquet": writer_of(blob)}
    pngs = {name: writer_of(blob) for name, blob in (pictures or {}).items()}
    publish(
        out_dir,
        {**files, **pngs, "summary.json": writer_of(summary.to_json().encode())},
        staged=[matches.staged],
    )
    return summary
