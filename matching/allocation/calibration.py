"""The optimiser's curse: how far to trust the ranker's values before allocating.

An optimiser that maximises noisy predictions picks exactly the pairs whose predictions are
too high, and promises what they will not make. :class:`ValueCalibration` measures, on the
pairs that first worked together in a window before the as-of date (scored from the
history before that window), how the realised GMV follows the score, and shrinks the
scores accordingly: toward what each seller's candidates make on average, more where the
history says less. :func:`matching.jobs.pipeline.value_calibration` fits it; ``allocate_quota``
applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.allocation.returns import KAPPA, geometric_sum, nb_fit
from matching.data.contract import SHORT_VIDEO

__all__ = [
    "ValueCalibration",
    "fit_value_calibration",
    "offer_probability",
    "seller_means",
    "uncertainty",
]

_MIN_SCORE = 1e-6
"""Scores are floored here (USD) before their log."""
_FIT_CLIP = 1e-6
"""``fit`` is clipped to ``[_FIT_CLIP, 1 - _FIT_CLIP]`` before its logit."""
_MIN_CALIBRATION_ROWS = 50
"""Fewer held-out collaborations than this cannot calibrate the five coefficients."""


@dataclass(frozen=True)
class ValueCalibration:
    """How far to trust the ranker's values before an optimiser picks the largest.

    An optimiser that maximises noisy predictions picks exactly the pairs whose predictions
    are too high. Measured on collaborations the ranker did not see coming (a window before
    the as-of date, scored from the history before that window), the expected GMV of a
    pair's first short video given its score ``v``, its seller's mean log score over its
    candidates ``m`` and how uncertain the score is ``u`` is modelled as

        ``exp(intercept + seller_slope * m + new_seller * w
        + (slope + uncertain_slope * u) * (log v - m))``

    so a seller's values are pulled toward what its candidates make on average by a factor
    ``1 - (slope + uncertain_slope * u)`` (clipped to [0, 1]: never stretched), more for the
    pairs the history says less about, and each seller's level is calibrated, new sellers'
    apart (``seller_slope`` held in [0, 1]: sellers' levels are pulled together, never
    stretched apart). ``u = 1 / (1 + n)`` with ``n`` the creator's short-video collaborations before
    the date, ``w`` the same for the seller.

    Attributes
    ----------
    intercept, seller_slope, new_seller, slope, uncertain_slope : the fitted coefficients.
    slope_se : standard error of ``slope`` (clustered by merchant).
    rows : collaborations it was fitted on.
    """

    intercept: float
    seller_slope: float
    new_seller: float
    slope: float
    uncertain_slope: float
    slope_se: float
    rows: int

    def shrink(self, score, seller_mean, uncertainty, seller_uncertainty) -> np.ndarray:
        """The calibrated (shrunk) value of each pair, in USD."""
        log_v = np.log(np.maximum(np.asarray(score, dtype=np.float64), _MIN_SCORE))
        m = np.asarray(seller_mean, dtype=np.float64)
        w = np.asarray(seller_uncertainty, dtype=np.float64)
        b = np.clip(self.slope + self.uncertain_slope * np.asarray(uncertainty, float), 0.0, 1.0)
        return np.exp(
            self.intercept + self.seller_slope * m + self.new_seller * w + b * (log_v - m)
        )


def seller_means(seller, score) -> np.ndarray:
    """Per row, the mean log score of its seller's rows (the seller's candidates)."""
    seller = pd.factorize(np.asarray(seller))[0]
    log_v = np.log(np.maximum(np.asarray(score, dtype=np.float64), _MIN_SCORE))
    return (np.bincount(seller, log_v) / np.bincount(seller))[seller]


def uncertainty(ids, history: pd.DataFrame, column: str = "creator_id") -> np.ndarray:
    """``1 / (1 + n)``, ``n`` the short-video collaborations of each id (a ``column`` of
    ``history``: ``creator_id`` or ``merchant_id``) in ``history``."""
    sv = history.loc[history["content_type"] == SHORT_VIDEO, column]
    counts = sv.value_counts()
    n = counts.reindex(pd.Index(np.asarray(ids, dtype=object))).fillna(0).to_numpy()
    return 1.0 / (1.0 + n)


def fit_value_calibration(
    score, seller_mean, creator_uncertainty, seller_uncertainty, gmv, videos, *, decay, merchant
) -> ValueCalibration | None:
    """Fit :class:`ValueCalibration` on first collaborations the ranker scored beforehand.

    Parameters
    ----------
    score : the ranker's value of each pair (first short video, USD), from the history
        before the collaboration's window.
    seller_mean : per row, its merchant's mean log score over its candidates then.
    creator_uncertainty, seller_uncertainty : per row, :func:`uncertainty` of its creator
        and of its merchant, in the history before the window.
    gmv, videos : what the collaboration made and how many short videos it had.
    decay : the within-collaboration decay, to count ``videos`` in first videos.
    merchant : per row, for clustering.

    Returns None with too few collaborations or sales to fit its coefficients.
    """
    y = np.asarray(gmv, dtype=np.float64)
    n = np.asarray(videos, dtype=np.int64)
    if y.size < _MIN_CALIBRATION_ROWS or np.count_nonzero(y) < _MIN_CALIBRATION_ROWS // 2:
        return None
    m = np.asarray(seller_mean, dtype=np.float64)
    dev = np.log(np.maximum(np.asarray(score, dtype=np.float64), _MIN_SCORE)) - m
    u = np.asarray(creator_uncertainty, dtype=np.float64)
    w = np.asarray(seller_uncertainty, dtype=np.float64)
    scale = y.mean()
    full = np.column_stack([np.ones(y.size), m - np.log(scale), w, dev, u * dev])
    # a term that does not vary here (every seller new, say) cannot be fitted: it is left out
    cols = [0] + [k for k in range(1, full.shape[1]) if np.ptp(full[:, k]) > 0]
    if np.linalg.matrix_rank(full[:, cols]) < len(cols) or 3 not in cols:
        return None
    offset = np.log(geometric_sum(decay, n))
    b, cov = _fit(full, cols, y / scale, offset, np.asarray(merchant))
    if 1 in cols and not 0.0 <= b[1] <= 1.0:
        # sellers' levels are shrunk toward each other or kept, never stretched apart:
        # the seller slope is held at the bound and the rest fitted again
        b1 = float(np.clip(b[1], 0.0, 1.0))
        cols = [k for k in cols if k != 1]
        b, cov = _fit(full, cols, y / scale, offset + b1 * full[:, 1], np.asarray(merchant))
        b[1] = b1
    elif 1 not in cols:  # one seller level only: nothing to calibrate between sellers
        b[1] = 1.0
        b[0] -= float(np.mean(m - np.log(scale)))
    # back to USD: intercept + seller_slope * (m - log scale) + log scale
    return ValueCalibration(
        intercept=float(b[0] + (1.0 - b[1]) * np.log(scale)),
        seller_slope=float(b[1]),
        new_seller=float(b[2]),
        slope=float(b[3]),
        uncertain_slope=float(b[4]),
        slope_se=float(np.sqrt(max(cov[cols.index(3), cols.index(3)], 0.0))),
        rows=int(y.size),
    )


def _fit(full, cols, y, offset, merchant):
    """The coefficients of ``full[:, cols]`` (0 elsewhere) and their covariance (sandwich,
    clustered by merchant)."""
    X = full[:, cols]
    fitted, mu, inv = nb_fit(X, y, offset, KAPPA)
    cluster = pd.factorize(merchant)[0]
    score_rows = X * ((y - mu) / (1.0 + KAPPA * mu))[:, None]
    s = np.stack([np.bincount(cluster, score_rows[:, k]) for k in range(X.shape[1])], axis=1)
    b = np.zeros(full.shape[1])
    b[cols] = fitted
    return b, inv @ (s.T @ s) @ inv


def offer_probability(fit, acceptance: float, reference=None) -> tuple[np.ndarray, float]:
    """P(a creator takes a job the platform offers), from ``fit``, and the logit shift used.

    ``fit`` is the chance a merchant chooses *and gets* a creator within a window, unprompted:
    a rare event, most of whose rarity is search and exposure, which an offer removes. The
    assumption (there are no offers to learn from yet) is that an offer keeps the pair's
    compatibility, the part of ``fit``'s log-odds that differs between pairs, and changes only
    the base rate: a prior shift of the log-odds, as for a classifier moved to a population of
    another base rate. The shift puts the median of ``reference`` (by default ``fit`` itself:
    the sellers' candidate pairs) at ``acceptance``, the assumed acceptance of a typical
    candidate. The order of the pairs is ``fit``'s; only the scale changes, which is what the
    allocator trades against value.

    Examples
    --------
    >>> p, shift = offer_probability(np.array([0.01, 0.02, 0.1]), 0.5)
    >>> np.round(p, 3).tolist(), round(shift, 3)
    ([0.331, 0.5, 0.845], 3.892)
    """
    f = np.clip(np.asarray(fit, dtype=np.float64), _FIT_CLIP, 1 - _FIT_CLIP)
    ref = (
        f if reference is None else np.clip(np.asarray(reference, float), _FIT_CLIP, 1 - _FIT_CLIP)
    )
    if not ref.size:
        return f.copy(), 0.0
    median = float(np.median(ref))
    shift = float(np.log(acceptance / (1 - acceptance)) - np.log(median / (1 - median)))
    return 1.0 / (1.0 + np.exp(-(np.log(f / (1 - f)) + shift))), shift
