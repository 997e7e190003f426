"""Jobs: train and match (local and Spark), backtests, MLflow tracking, plots and text reports."""

from matching.faces import lazy_face

_NAMES = {
    "train": "pipeline",
    "match": "pipeline",
    "backtest": "backtest",
    "format_summary": "report",
    "summarize_inputs": "report",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
