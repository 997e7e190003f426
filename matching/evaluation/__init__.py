"""Evaluation: rankers against the simulator's truth, and what-if analyses of the allocation."""

from matching.faces import lazy_face

_NAMES = {
    "evaluate": "offline",
    "lift_over_baselines": "offline",
    "priority_tradeoff": "offline",
    "what_if": "scenarios",
    "fill_sweep": "scenarios",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
