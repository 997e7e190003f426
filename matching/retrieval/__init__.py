"""Retrieval: profiles of merchants and creators, the history snapshot, factors, ANN search
and the candidates each merchant is ranked over."""

from matching.faces import lazy_face

_NAMES = {
    "CandidateRetriever": "candidates",
    "Snapshot": "snapshot",
    "build_snapshot": "snapshot",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
