"""What if the program's levers moved? Share the free videos out again, on the same matches,
with one lever changed at a time.

A lever is a number the allocation depends on: the free videos per seller, the repeat
decay, the creators' capacity, the diversity cap; any field of the config can be one
(:attr:`Scenario.config`). :func:`one_at_a_time` builds scenarios from lists of values,
:func:`what_if` runs them: one row per scenario, with the figures of its
:class:`~matching.allocation.summary.AllocationReport`.

Examples
--------
>>> from matching import scenarios
>>> [s.label for s in scenarios.one_at_a_time(free_videos=[500, 1000], decays=[0.7])]
['free videos per seller = 500', 'free videos per seller = 1000', 'repeat decay = 0.7']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from matching.allocation import policy, quota
from matching.config import Config

__all__ = ["LEVERS", "Scenario", "fill_sweep", "one_at_a_time", "scaled_capacity", "what_if"]

LEVERS = {
    "free_videos": "free videos per seller (videos)",
    "decay": "repeat decay (value of each next video, 0-1)",
    "capacity": "creator capacity (x weekly capacity)",
    "diversity_cap": "diversity cap (max share of a seller's quota per creator)",
}
"""The levers :func:`one_at_a_time` knows, with how they are labelled (their unit in brackets)."""


@dataclass(frozen=True)
class Scenario:
    """One allocation to try: the config's sections changed as for :meth:`Config.replace`,
    the creators' weekly capacity multiplied by ``capacity_factor``, and the repeat decay
    (None: the one estimated from the history)."""

    lever: str
    """What changes, with its unit in brackets: ``"free videos per seller (videos)"``."""
    value: float
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    capacity_factor: float = 1.0
    decay: float | None = None

    @property
    def label(self) -> str:
        """``"<lever> = <value>"``, without the unit."""
        return f"{self.lever.split(' (')[0]} = {self.value:g}"


def one_at_a_time(
    *,
    free_videos: Iterable[int] = (),
    decays: Iterable[float] = (),
    capacity_factors: Iterable[float] = (),
    diversity_caps: Iterable[float] = (),
) -> list[Scenario]:
    """One scenario per value of each lever, the others left as they are."""
    return [
        *(
            Scenario(LEVERS["free_videos"], q, config={"program": {"free_videos": q}})
            for q in free_videos
        ),
        *(Scenario(LEVERS["decay"], d, decay=d) for d in decays),
        *(Scenario(LEVERS["capacity"], f, capacity_factor=f) for f in capacity_factors),
        *(
            Scenario(LEVERS["diversity_cap"], d, config={"allocation": {"diversity_cap": d}})
            for d in diversity_caps
        ),
    ]


def scaled_capacity(creators: pd.DataFrame, factor: float) -> pd.DataFrame:
    """A copy of the creators table whose weekly capacity is ``factor`` times its own
    (rounded to whole videos)."""
    capacity = (creators["weekly_video_capacity"] * factor).round().astype("int64")
    return creators.assign(weekly_video_capacity=capacity)


def what_if(
    matches: pd.DataFrame,
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    config: Config,
    as_of: date,
    decay: float,
    scenarios: Sequence[Scenario],
) -> pd.DataFrame:
    """Allocate the free videos once per scenario on the same ``matches``.

    Parameters
    ----------
    matches : the matches table of a run (``matches.parquet``).
    merchants, creators : the validated input tables.
    config : the run's config; each scenario changes some of it.
    as_of : the day of the allocation (who is eligible, how much capacity is left).
    decay : the repeat decay of scenarios that do not set their own.
    scenarios : what to try, e.g. from :func:`one_at_a_time`.

    Returns
    -------
    One row per scenario: ``lever``, ``value``, ``label`` and the fields of its
    :class:`~matching.allocation.summary.AllocationReport`.
    """
    rows = []
    for s in scenarios:
        cfg = config.replace(**s.config)
        status = policy.seller_status(merchants, cfg.program, as_of)
        _, report = quota.allocate_quota(
            matches,
            status,
            scaled_capacity(creators, s.capacity_factor),
            cfg,
            decay if s.decay is None else s.decay,
        )
        rows.append({"lever": s.lever, "value": s.value, "label": s.label, **report.to_dict()})
    return pd.DataFrame(rows)


def fill_sweep(
    matches: pd.DataFrame,
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    config: Config,
    as_of: date,
    decay: float,
    floors: Sequence[float] | None = None,
) -> pd.DataFrame:
    """The price of fairness on the same ``matches``: the allocation at each fill floor
    (default ``allocation.fill_sweep``), as :func:`matching.allocation.quota.fill_sweep` gives it (one
    row per floor: expected GMV and its ratio to no floor, videos, lowest and median fill);
    draw it with :func:`matching.jobs.plots.fill_sweep`."""
    status = policy.seller_status(merchants, config.program, as_of)
    return quota.fill_sweep(matches, status, creators, config, decay, floors)
