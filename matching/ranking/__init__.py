"""Ranking: the ranker, its learners, compiled trees and the reference rankers."""

from matching.faces import lazy_face

_NAMES = {
    "MatchRanker": "ranker",
    "Ranker": "ranker",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_face(__name__, _NAMES)
