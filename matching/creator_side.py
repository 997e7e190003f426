"""The simulated market's creator side: each creator's hidden selectivity, and the platform's
past offers of jobs with the creators' answers (issue 33; the optional ``offers`` table).

A creator takes an offered job of merchant ``m`` on day ``t`` with probability

    sigmoid(base_c + w_fit * fit - w_price * price_gap - w_load * load - w_rival * rival
            + w_certified * certified_m)

- ``base_c``: its hidden selectivity, drawn once per creator around the logit of
  ``simulate.offer_acceptance`` (spread ``offer_selectivity_sd``);
- ``fit``: the pair's true log value (what a video would earn, :meth:`GroundTruth.value`),
  standardised over the offers: brand fit;
- ``price_gap``: how far the merchant's log price is from the creator's audience's;
- ``load``: the creator's videos of the 28 days before the offer over four weeks of its
  capacity (a full calendar);
- ``rival``: 1 when the creator keeps one brand per category (a hidden flag, share
  ``offer_exclusive_share``) and made videos for another merchant of this merchant's
  category in the 60 days before: competitor exclusivity;
- ``certified_m``: the seller is a certified super-top seller.

The offers fall uniformly in the last ``offer_days`` days of the history, to merchants
(certified ones three times as often) and creators already in the catalogue, drawn as the
history's exposure draws them (category affinity, reach). Answers come 0-6 days later; one
not yet given by the end of the history is missing. A declined offer names its largest
penalty as its reason (``price band``, ``brand fit``, ``busy``, ``competitor``) in a share
``offer_reason_share`` of declines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from matching.config import SimulateConfig
from matching.data.truth import GroundTruth

__all__ = ["LOAD_DAYS", "REASONS", "RIVAL_DAYS", "offers"]

LOAD_DAYS = 28
"""Days before an offer whose videos make a creator's load."""
RIVAL_DAYS = 60
"""Days before an offer in which a same-category partner is a competitor."""
REASONS = ("brand fit", "price band", "busy", "competitor")
"""Decline reasons, in the order of the penalties they name."""
_CERTIFIED_DRAW = 3.0  # certified sellers are offered three times as often
_MAX_VIDEOS = 10
_REDRAWS = 20


def _window_counts(keys: np.ndarray, weights: np.ndarray, query: np.ndarray, days: int):
    """Per query ``(group, day)`` key (group * 2**20 + day), the weights of ``keys`` (same
    form) of its group in the ``days`` days before the day."""
    order = np.argsort(keys, kind="stable")
    k, cum = keys[order], np.r_[0.0, np.cumsum(weights[order])]
    hi = np.searchsorted(k, query, side="left")
    lo = np.searchsorted(k, query - days, side="left")
    return cum[hi] - cum[lo]


def offers(
    sc: SimulateConfig,
    truth: GroundTruth,
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    collaborations: pd.DataFrame,
    seed: np.random.SeedSequence,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``offers`` table (the contract's columns) and its truth: per offer the true
    P(accept), each term of it, and the creator's selectivity and exclusivity flag."""
    rng = np.random.default_rng(seed)
    n_m, n_c = len(merchants), len(creators)
    n = int(round(sc.offers_per_merchant * n_m))
    end = pd.Timestamp(sc.history_end)
    base = rng.normal(logit(sc.offer_acceptance), sc.offer_selectivity_sd, n_c)
    exclusive = rng.random(n_c) < sc.offer_exclusive_share
    day0 = (end - pd.Timedelta(days=sc.offer_days - 1)).value // 86_400_000_000_000
    day = rng.integers(day0, day0 + sc.offer_days, n)
    cert = merchants["certified_super_top"].to_numpy(bool)
    pm = np.where(cert, _CERTIFIED_DRAW, 1.0)
    m = rng.choice(n_m, n, p=pm / pm.sum())
    # creators as the history's exposure draws them, among those who have joined by then
    joined = creators["joined_at"].to_numpy("datetime64[D]").astype(np.int64)
    reach = np.log1p(creators["followers"].to_numpy(float))
    c = np.full(n, -1, dtype=np.int64)
    cats = truth.m_category[m]
    for cat in np.unique(cats):
        rows = np.flatnonzero(cats == cat)
        cum = np.cumsum(truth.c_affinity[:, cat] * reach * (joined < day0 + sc.offer_days))
        for _ in range(_REDRAWS):  # a creator who joins after the offer's day is drawn again
            c[rows] = np.minimum(np.searchsorted(cum, rng.random(rows.size) * cum[-1]), n_c - 1)
            rows = rows[joined[c[rows]] > day[rows]]
            if not rows.size:
                break
        c[rows] = -1
    kept = c >= 0  # the rare offer with no creator joined in time after the redraws is dropped
    m, c, day = m[kept], c[kept], day[kept]
    n = int(kept.sum())
    videos = np.minimum(1 + rng.poisson(1.5, n), _MAX_VIDEOS)

    log_value = np.log(truth.value(m, c))
    fit = (log_value - log_value.mean()) / max(log_value.std(), 1e-9)
    price_gap = np.abs(truth.m_log_price[m] - truth.c_price_pref[c])
    h = collaborations
    c_pos = pd.Index(creators["creator_id"]).get_indexer(h["creator_id"])
    m_pos = pd.Index(merchants["merchant_id"]).get_indexer(h["merchant_id"])
    h_day = h["posted_at"].to_numpy("datetime64[D]").astype(np.int64)
    shift = np.int64(2**20)
    weekly = creators["weekly_video_capacity"].to_numpy(float)
    made = _window_counts(
        c_pos * shift + h_day, h["videos"].to_numpy(float), c * shift + day, LOAD_DAYS
    )
    load = made / np.maximum(4.0 * weekly[c], 1.0)
    n_k = truth.m_category.max() + 1
    group = c_pos * n_k + truth.m_category[m_pos]
    same_cat = _window_counts(
        group * shift + h_day,
        np.ones(len(h)),
        (c * n_k + truth.m_category[m]) * shift + day,
        RIVAL_DAYS,
    )
    own = _window_counts(
        (c_pos * n_m + m_pos) * shift + h_day,
        np.ones(len(h)),
        (c * n_m + m) * shift + day,
        RIVAL_DAYS,
    )
    rival = (exclusive[c] & (same_cat > own)).astype(float)
    terms = np.column_stack(
        [
            sc.offer_fit_weight * fit,
            -sc.offer_price_weight * price_gap,
            -sc.offer_load_weight * load,
            -sc.offer_rival_weight * rival,
        ]
    )
    p = expit(base[c] + terms.sum(1) + sc.offer_certified_weight * cert[m])
    accepted = rng.random(n) < p
    answered_on = day + rng.integers(0, 7, n)
    pending = answered_on > end.value // 86_400_000_000_000
    why = np.array(REASONS, dtype=object)[np.argmin(terms, axis=1)]
    named = ~accepted & ~pending & (rng.random(n) < sc.offer_reason_share)
    order = np.lexsort((c, m, day))
    to_date = lambda d: pd.to_datetime(d, unit="D")  # noqa: E731
    table = pd.DataFrame(
        {
            "merchant_id": merchants["merchant_id"].to_numpy(object)[m],
            "creator_id": creators["creator_id"].to_numpy(object)[c],
            "offered_at": to_date(day),
            "videos": videos.astype(np.int64),
            "accepted": pd.array(np.where(pending, None, accepted), dtype="boolean"),
            "responded_at": to_date(answered_on).where(~pending),
            "decline_reason": pd.array(np.where(named, why, None), dtype="string"),
        }
    ).iloc[order]
    true = pd.DataFrame(
        {
            "merchant_id": table["merchant_id"].to_numpy(),
            "creator_id": table["creator_id"].to_numpy(),
            "offered_at": table["offered_at"].to_numpy(),
            "p_accept": p[order],
            "selectivity": base[c][order],
            "exclusive": exclusive[c][order],
            "fit": fit[order],
            "price_gap": price_gap[order],
            "load": load[order],
            "rival": rival[order],
        }
    )
    return table.reset_index(drop=True), true
