"""What a ``match`` run did, as typed records: the allocation's report and the run summary
that becomes ``summary.json``.

Frozen dataclasses, so the modules that fill, write, plot and print a summary agree on
its fields by name and type rather than on dict keys. ``summary.json`` is
:meth:`RunSummary.to_dict`: the run's fields and the allocation's side by side (one flat
object), plus ``outputs``. A new figure about the allocation is a new field of
:class:`AllocationReport`, filled in :func:`matching.allocation.quota.allocate_quota`: it reaches
``summary.json`` with no other change (nested dataclasses become nested objects).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from matching.allocation.calibration import ValueCalibration
from matching.allocation.returns import ReturnsEstimate
from matching.data.io import OutputFile

__all__ = [
    "AllocationReport",
    "DualReport",
    "FairnessReport",
    "OutputFile",
    "PoolReport",
    "RunSummary",
    "SellerFill",
]


@dataclass(frozen=True)
class DualReport:
    """What the dual decomposition (:func:`matching.allocation.decomposition.dual_allocate`) proved
    about its allocation: no allocation is worth more than ``bound_usd``."""

    bound_usd: float
    """The dual bound: an upper bound on the optimal expected GMV."""
    gap: float
    """``(bound_usd - expected_gmv_usd) / bound_usd``: the allocation is at least this close
    to the optimum (usually closer: the bound converges more slowly)."""
    iterations: int


@dataclass(frozen=True)
class FairnessReport:
    """How evenly the free videos were shared (:func:`matching.allocation.quota.fairness`). None
    where there is nothing to measure (no eligible seller, no video placed)."""

    fill_rate_min: float | None
    """The smallest share of its remaining quota an eligible seller was given."""
    fill_rate_median: float | None
    sellers_filled: float | None
    """Share of the eligible sellers given all their remaining quota."""
    creator_gini: float | None
    """Gini coefficient of the videos over the creators used (0: all alike)."""
    creator_hhi: float | None
    """Herfindahl index of the creators' shares of the videos (1 / effective creators)."""
    top_1pct_creator_share: float | None
    """Share of the videos made by the 1% of the catalogue's creators given most."""
    certified_video_share: float | None
    """Share of the videos placed with certified sellers."""
    certified_top_slot_share: float | None
    """Of the top-10 match slots of the 1% of creators most often in a top 10, the share
    held by certified sellers (where priority shows)."""


@dataclass(frozen=True)
class PoolReport:
    """How the allocation's own pool was found (:func:`matching.allocation.pool.widen`)."""

    pairs: int
    """Candidate pairs the allocation saw."""
    rounds: int
    """Retrievals run (1: everything retrieval found at first was enough)."""
    depth_max: int
    """The deepest retrieval of one seller (creators)."""
    sellers_widened: int
    """Sellers retrieved deeper than at first."""
    pool_cap: int
    """``allocation.pool_cap``: the most creators of one seller's pool."""


@dataclass(frozen=True)
class SellerFill:
    """One eligible seller's promise (:func:`matching.allocation.quota.seller_fill`)."""

    merchant_id: str
    owed: int
    """Free videos it has left."""
    placed: int
    fill: float
    """``placed / owed``."""
    floor: int
    """Videos placed first where capacity allows (``allocation.min_fill`` of ``owed``)."""
    pool_creators: int
    """Creators among its candidates."""
    reason: str | None
    """Under its floor: ``too few candidates``, ``days left`` or ``creator capacity``;
    None at or above it."""


@dataclass(frozen=True)
class AllocationReport:
    """How the free videos were shared out (:func:`matching.allocation.quota.allocate_quota`)."""

    eligible_sellers: int
    """Certified sellers inside their free-video window with quota left."""
    sellers_served: int
    """Eligible sellers given at least one video."""
    remaining_quota: int
    """Free videos the eligible sellers have left."""
    videos_placed: int
    max_flow_limit: int
    """The most videos any allocation could place (capacities and caps allowing)."""
    expected_gmv_usd: float
    """Expected GMV of the allocation (optimal with the exact solver)."""
    greedy_expected_gmv_usd: float
    """Expected GMV of the greedy baseline on the same problem."""
    greedy_gap: float
    """``1 - greedy / optimal`` (0 when the optimum is 0)."""
    creators_used: int
    creator_utilisation: float
    """Videos placed over the capacity of the creators used, 0..1."""
    horizon_days: int
    """Days of creator capacity the allocation could use."""
    repeat_decay: float
    """Value of each next video of one pair relative to the previous one."""
    returns: ReturnsEstimate | None = None
    """Where ``repeat_decay`` came from: its uncertainty, interval and evidence."""
    value_calibration: ValueCalibration | None = None
    """How the ranker's values were shrunk before allocating (None: used as they are)."""
    expected_gmv_uncalibrated_usd: float | None = None
    """The same allocation valued with the ranker's scores as they are."""
    fairness: FairnessReport | None = None
    solver: str = "min_cost_flow"
    """``min_cost_flow`` (exact) or ``dual`` (``allocation.solver``)."""
    dual: DualReport | None = None
    """With the dual solver: its bound and gap (None with the exact one)."""
    objective: str = "value"
    """What was maximised: ``expected`` (P(the creator takes the job) x value) or ``value``."""
    offer_logit_shift: float | None = None
    """The log-odds added to ``fit`` to make P(take an offered job) (None: by value)."""
    expected_gmv_if_taken_usd: float | None = None
    """The allocation's value if every offered job is taken (``expected_gmv_usd`` is the
    expectation over takes with the expected objective)."""
    min_fill: float = 0.0
    """``allocation.min_fill``: the share of each seller's remaining quota placed first."""
    floor_videos: int = 0
    """The floors' sum: videos owed first."""
    floor_placed: int = 0
    """Of those, placed: the most any allocation can (exact solver)."""
    greedy_floor_placed: int = 0
    """Floor videos the greedy baseline places: fewer than ``floor_placed`` where its
    expected GMV beats the exact allocation's by breaking the floor."""
    max_flow_limit_display: int | None = None
    """The most videos the display lists alone could place (None: they were the pool)."""
    pool: PoolReport | None = None
    """How the allocation's own pool was found (None: the display lists)."""
    sellers: tuple[SellerFill, ...] = ()
    """Each eligible seller's owed, placed and fill, and why it is under its floor."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunSummary:
    """One ``match`` run: what went in, what came out, and the allocation's report.

    Examples
    --------
    >>> report = AllocationReport(1, 1, 10, 10, 10, 50.0, 45.0, 0.1, 2, 0.5, 60, 0.8)
    >>> s = RunSummary(date(2026, 3, 1), 5, 20, 100, 1, 2, report)
    >>> s.to_dict()["videos_placed"], s.to_dict()["as_of"]
    (10, '2026-03-01')
    """

    as_of: date
    merchants: int
    creators: int
    matches: int
    """Rows of ``matches.parquet``."""
    certified_sellers: int
    allocation_rows: int
    """Rows of ``allocation.parquet``."""
    allocation: AllocationReport
    outputs: Mapping[str, OutputFile] | None = None
    """Each table written, by file name; set when the run is written."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``summary.json``: flat, the allocation's fields beside the run's."""
        run = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("allocation", "outputs")
        }
        run["as_of"] = self.as_of.isoformat()
        allocation = self.allocation.to_dict()
        clash = run.keys() & allocation.keys()
        if clash:
            raise ValueError(f"run and allocation fields share names: {sorted(clash)}")
        out = {**run, **allocation}
        if self.outputs is not None:
            out["outputs"] = {name: dataclasses.asdict(f) for name, f in self.outputs.items()}
        return out

    def to_json(self) -> str:
        """``summary.json``'s text: sorted keys, indent 2, a trailing newline."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, default=_plain) + "\n"


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, date):
        return obj.isoformat()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
