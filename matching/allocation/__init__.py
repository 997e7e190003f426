"""Allocation: the program's rules, repeat returns, value calibration, the allocation problem,
its exact and dual solvers, the pool, and the run summary."""

from matching.faces import lazy_face

_NAMES = {
    "AllocationProblem": "problem",
    "AllocationResult": "flow",
    "allocate": "flow",
    "greedy_allocate": "flow",
    "lp_allocate": "flow",
    "dual_allocate": "decomposition",
    "RunSummary": "summary",
    "AllocationReport": "summary",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
