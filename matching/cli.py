"""The thin command line: parse, load the config, call the library, map known errors.

Exit codes (each failure is one line on stderr, ``error: ...``; warnings are ``warning: ...``):

===  =====================================================================================
0    success (an as-of date outside the program is a warning, not a failure)
1    an unexpected failure: a bug; the traceback is shown
2    bad input: data, config, command-line arguments, a model directory, an output path
     that is not a folder, or an unusable MLflow tracking store; nothing is written
3    not enough memory for these inputs even streamed, found before the heavy work
4    an I/O failure while writing (disk full, permissions); previous outputs are intact
130  interrupted (SIGINT / Ctrl-C); 143 terminated (SIGTERM); previous outputs are intact
===  =====================================================================================
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from matching import data
from matching.config import load_config
from matching.errors import ConfigError, DataError, InsufficientMemory
from matching.jobs.report import format_backtest, format_summary, summarize_inputs

EXIT_BAD_INPUT = 2
EXIT_MEMORY = 3
EXIT_IO = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Creator-merchant matching and free short-video allocation for the TOP Program.",
)
log = logging.getLogger("matching")


def _print_version(value: bool) -> None:
    if value:
        from matching import __version__

        typer.echo(f"matching {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Creator-merchant matching and free short-video allocation for the TOP Program."""


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="A YAML file laid over the defaults, or a folder of them."),
]


@app.command("simulate")
def simulate_cmd(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the three input tables and truth/.")
    ],
    merchants: Annotated[
        int | None, typer.Option(min=1, help="Merchants (default: config).")
    ] = None,
    creators: Annotated[int | None, typer.Option(min=1, help="Creators (default: config).")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Random seed (default: config).")] = None,
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            help="A preset market laid over the config's simulate section, e.g. crowded.",
        ),
    ] = None,
) -> None:
    """Generate a marketplace with ground truth (truth/ beside the inputs)."""
    from matching.simulate import scenario_config, simulate, write_marketplace

    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter(f"--format must be parquet or csv, not {fmt!r}")
    cfg = load_config(config)
    if scenario is not None:
        cfg = scenario_config(cfg, scenario)
    mk = simulate(cfg, merchants=merchants, creators=creators, seed=seed, progress=True)
    write_marketplace(mk, out, fmt=fmt)
    inputs = data.read_inputs(out)
    typer.echo(summarize_inputs(inputs, cfg))


@app.command("validate")
def validate_cmd(
    data_dir: Annotated[Path, typer.Option("--data", help="Folder with the three input tables.")],
    config: ConfigOpt = None,
    drop_unknown: Annotated[bool, typer.Option(help="Drop collaborations of unknown ids.")] = False,
) -> None:
    """Check a data folder against the contract and print a summary."""
    cfg = load_config(config)
    inputs = data.read_inputs(data_dir, drop_unknown=drop_unknown)
    typer.echo(summarize_inputs(inputs, cfg))


@app.command("train")
def train_cmd(
    data_dir: Annotated[Path, typer.Option("--data", help="Folder with the three input tables.")],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Where to save the model.")] = Path(
        "models/latest"
    ),
    config: ConfigOpt = None,
    tracking: Annotated[
        bool, typer.Option("--tracking/--no-tracking", help="Log the run to MLflow.")
    ] = True,
) -> None:
    """Fit profiles, retrieval and the ranker on the history; evaluate; save and track the model."""
    from matching.jobs.pipeline import train

    cfg = load_config(config)
    res = train(data_dir, cfg, model_dir, track=tracking, progress=True)
    typer.echo(
        f"model saved to {model_dir}" + (f" and logged as {res.model_uri}" if res.model_uri else "")
    )
    if res.report is not None:
        from matching.evaluation.offline import lift_over_baselines

        typer.echo("\nNDCG@10 against the ground truth over all creators:")
        typer.echo(lift_over_baselines(res.report).round(3).to_string())
        typer.echo("\nCertified-weight sweep (the price of priority):")
        typer.echo(res.tradeoff.round(3).to_string(index=False))
    typer.echo("\nMetrics:")
    for key, value in sorted(res.metrics.items()):
        typer.echo(f"  {key:42s} {value:.4f}")


@app.command("tune")
def tune_cmd(
    data_dir: Annotated[Path, typer.Option("--data", help="Folder with the three input tables.")],
    out: Annotated[
        Path, typer.Option("--out", help="The YAML to write the best settings to.")
    ] = Path("tuned.yaml"),
    trials: Annotated[
        int | None, typer.Option("--trials", help="Settings to try (default: tune.trials).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Start no trial after this many seconds."),
    ] = None,
    config: ConfigOpt = None,
    tracking: Annotated[
        bool, typer.Option("--tracking/--no-tracking", help="Log the search to MLflow.")
    ] = True,
) -> None:
    """Search the model's settings on the newest training window; write the best as a config."""
    from matching.jobs.tune import tune

    cfg = load_config(config)
    res = tune(data_dir, cfg, out, trials=trials, timeout_s=timeout, track=tracking, progress=True)
    typer.echo(res.trials.round(4).to_string(index=False))
    typer.echo(
        f"\nbest {res.metric} {res.best_value:.4f} (the settings tuned from: "
        f"{res.baseline_value:.4f}); written to {res.path}: train with --config {res.path}"
    )


@app.command("match")
def match_cmd(
    data_dir: Annotated[
        str,
        typer.Option(
            "--data",
            help="Folder with the three input tables (with --engine spark, any path Spark reads).",
        ),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="A model directory saved by `matching train`, or a model in MLflow: "
            "models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for matches, allocation and summary.")],
    top_k: Annotated[
        int | None, typer.Option("--top-k", min=1, help="Creators per merchant.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD (default: today).")
    ] = None,
    config: ConfigOpt = None,
    min_fill: Annotated[
        float | None,
        typer.Option(
            "--min-fill",
            help="Share of each eligible seller's remaining quota placed first, 0..1 "
            "(default: allocation.min_fill).",
        ),
    ] = None,
    pool_cap: Annotated[
        int | None,
        typer.Option(
            "--pool-cap",
            help="Most creators in one seller's allocation pool (default: allocation.pool_cap).",
        ),
    ] = None,
    tracking: Annotated[
        bool,
        typer.Option(
            "--tracking/--no-tracking",
            help="Log the summary and pictures to MLflow (a store that cannot be used is a warning).",
        ),
    ] = True,
    engine: Annotated[
        str, typer.Option("--engine", help="local (this process) or spark (Apache Spark).")
    ] = "local",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            help="Spark master URL with --engine spark (default: spark-submit's, else local[*]).",
        ),
    ] = None,
) -> None:
    """Rank creators for every merchant and allocate the free short videos."""
    from matching.jobs.pipeline import match

    if engine not in ("local", "spark"):
        raise typer.BadParameter(f"must be local or spark, not {engine!r}", param_hint="'--engine'")
    if spark_master is not None and engine != "spark":
        raise typer.BadParameter("needs --engine spark", param_hint="'--spark-master'")
    if "://" in str(out) or str(out).split("/")[0].endswith(":"):
        raise typer.BadParameter(
            "the outputs are published atomically to a local or mounted folder, not a URI",
            param_hint="'--out'",
        )
    cfg = load_config(config) if config is not None else None
    day = _date(as_of)
    with _engine(engine, spark_master) as runner:
        summary = match(
            data_dir,
            model,
            out,
            cfg,
            top_k=top_k,
            as_of=day,
            min_fill=min_fill,
            pool_cap=pool_cap,
            progress=True,
            track=tracking,
            engine=runner,
        )
    typer.echo(format_summary(summary))


@contextmanager
def _engine(name: str, master: str | None) -> Iterator[object | None]:
    """The engine of ``match`` (None: the local one); a Spark session started here is
    stopped after."""
    if name != "spark":
        yield None
        return
    from matching.jobs import spark

    active = spark.active_session()
    session = spark.session(master)
    try:
        yield spark.SparkEngine(session)
    finally:
        if active is None:  # a session the caller started is theirs to stop
            session.stop()


# --------------------------------------------------------------------------- plumbing


@app.command("backtest")
def backtest_cmd(
    data_dir: Annotated[Path, typer.Option("--data", help="Folder with the three input tables.")],
    model: Annotated[
        Path, typer.Option("--model", help="A model directory saved by `matching train`.")
    ],
    as_of: Annotated[str, typer.Option("--as-of", help="YYYY-MM-DD: allocate as of this day.")],
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, help="Days valued after it (default: the program window)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Allocate as of an earlier date and value it with what the history shows afterwards."""
    from matching.jobs.backtest import backtest

    cfg = load_config(config) if config is not None else None
    day = _date(as_of)
    res = backtest(data_dir, model, day, cfg, days=days, progress=True)
    typer.echo(format_backtest(res))


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"not a date (YYYY-MM-DD): {value!r}", param_hint="'--as-of'"
        ) from None


class _Stopped(BaseException):
    """SIGINT or SIGTERM, raised as an exception so temporary files are removed on the way
    out (typer would turn a KeyboardInterrupt into a silent exit)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame) -> None:
    raise _Stopped(signum)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split())
        return f"{record.levelname.lower()}: {text}" if record.levelno >= logging.WARNING else text


@contextmanager
def _reporting() -> Iterator[None]:
    """For one call of :func:`main`: the package's log on stderr (warnings as one
    ``warning: ...`` line), SIGINT and SIGTERM raised as :class:`_Stopped` (main thread only)."""
    logger = logging.getLogger("matching")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    main_thread = threading.current_thread() is threading.main_thread()
    stops = (signal.SIGINT, signal.SIGTERM) if main_thread else ()
    previous = {sig: signal.signal(sig, _on_signal) for sig in stops}
    try:
        yield
    finally:
        for sig, before in previous.items():  # None: the handler was not set from Python
            signal.signal(sig, signal.SIG_DFL if before is None else before)
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _fail(message: object, code: int) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (callable from tests)."""
    with _reporting():
        try:
            rv = app(args=argv, prog_name="matching", standalone_mode=False)
        except typer.Exit as exc:
            return exc.exit_code
        except (
            typer.TyperException
        ) as exc:  # usage: a missing or invalid option, an unknown command
            message = exc.format_message()
            if not message:  # no arguments at all: the help was printed
                return EXIT_BAD_INPUT
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            return _fail(message + hint, EXIT_BAD_INPUT)
        except (DataError, ConfigError) as exc:
            return _fail(exc, EXIT_BAD_INPUT)
        except InsufficientMemory as exc:
            return _fail(exc, EXIT_MEMORY)
        except OSError as exc:
            return _fail(exc, EXIT_IO)
        except _Stopped as exc:
            if exc.signum == signal.SIGINT:
                return _fail("interrupted", EXIT_INTERRUPTED)
            return _fail("terminated (SIGTERM)", EXIT_TERMINATED)
    return rv if isinstance(rv, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
