"""The TOP Program's rules, as pure functions of frames, the config and an as-of date.

Every number (program period, certification threshold, window length, free-video
quota, commission cut) comes from :class:`matching.config.ProgramConfig`; none is
written here. Nothing mutates its input frames.

The rules
---------
certified
    The merchant's ``certified_super_top`` column when present; otherwise (and for
    missing values of a nullable column) ``annual_gmv_usd >= certification_gmv_usd``
    — exactly at the threshold counts.
onboarded in program
    ``program.start <= onboarded_at <= program.end``, both ends inclusive.
free-video window
    Starts on the onboarding day and lasts ``window_days`` days *counting the
    onboarding day as day 1*, so its last day is
    ``window_end = onboarded_at + (window_days - 1) days`` (a seller onboarded on
    2026-01-27 with a 60-day window has its last free-video day on 2026-03-27).
    The window may run past ``program.end``.
commission reduction
    ``commission_reduction`` for a certified seller while the as-of date is inside
    its window (whether or not it onboarded in the program period), else 0.
quota
    ``free_videos`` for a certified seller onboarded in the program period, else 0;
    what is left is ``max(0, quota - free_videos_used)``.
eligible (for free videos on the as-of date)
    certified, onboarded in the program, ``window_start <= as_of <= window_end``
    and some quota left. Otherwise the reason is the first failing rule among
    ``"not certified"``, ``"onboarded outside program"``, ``"not yet onboarded"``,
    ``"window ended"``, ``"quota used up"``.

Examples
--------
>>> import datetime as dt
>>> import pandas as pd
>>> from matching.config import load_config
>>> program = load_config().program
>>> merchants = pd.DataFrame({
...     "merchant_id": ["a", "b"],
...     "annual_gmv_usd": [2e7, 1e5],
...     "onboarded_at": pd.to_datetime(["2026-02-01", "2026-02-01"]),
... })
>>> status = seller_status(merchants, program, dt.date(2026, 2, 10))
>>> status[["merchant_id", "eligible", "remaining_quota", "days_left", "reason"]]
  merchant_id  eligible  remaining_quota  days_left         reason
0           a      True             1000         51       eligible
1           b     False                0          0  not certified
>>> allocation_horizon(status)
51
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matching.config import ProgramConfig

__all__ = [
    "REASONS",
    "STATUS_COLUMNS",
    "allocation_horizon",
    "certified",
    "creator_capacity",
    "creator_capacity_by_window",
    "seller_status",
]

#: Every value of ``seller_status(...)["reason"]``, in the order the rules are checked.
REASONS: tuple[str, ...] = (
    "eligible",
    "not certified",
    "onboarded outside program",
    "not yet onboarded",
    "window ended",
    "quota used up",
)

#: The columns of ``seller_status(...)``, in order.
STATUS_COLUMNS: tuple[str, ...] = (
    "merchant_id",
    "certified",
    "onboarded_in_program",
    "window_start",
    "window_end",
    "commission_reduction",
    "commission_window_end",
    "quota",
    "free_videos_used",
    "remaining_quota",
    "eligible",
    "days_left",
    "reason",
)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing required column(s) {missing}")


def _day(value: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    """A date (or datetime, Timestamp, ISO string) as a tz-naive midnight Timestamp."""
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        raise ValueError(f"not a date: {value!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize().as_unit("ns")


def _dates(values: pd.Series) -> pd.Series:
    """A date column as tz-naive midnight ``datetime64[ns]`` (NaT kept)."""
    out = pd.to_datetime(values)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.dt.normalize().astype("datetime64[ns]")


def certified(merchants: pd.DataFrame, program: ProgramConfig) -> pd.Series:
    """Which merchants are certified super-top sellers.

    Parameters
    ----------
    merchants : DataFrame
        With ``annual_gmv_usd`` and, optionally, ``certified_super_top``.
    program : ProgramConfig
        Gives ``certification_gmv_usd``.

    Returns
    -------
    Series of bool, named ``"certified"``, index aligned with ``merchants``.
        The ``certified_super_top`` column when present; otherwise derived as
        ``annual_gmv_usd >= program.certification_gmv_usd`` (logged at INFO).
        Missing values in a present (nullable) column are derived the same way,
        also logged. A missing GMV is never certified.

    Examples
    --------
    >>> import pandas as pd
    >>> from matching.config import load_config
    >>> program = load_config().program
    >>> gmv = [program.certification_gmv_usd, program.certification_gmv_usd - 1]
    >>> certified(pd.DataFrame({"annual_gmv_usd": gmv}), program).tolist()
    [True, False]
    """
    log = logging.getLogger(__name__)
    threshold = program.certification_gmv_usd
    if "certified_super_top" in merchants.columns:
        given = merchants["certified_super_top"]
        missing = given.isna()
        if not missing.any():
            return given.astype(bool).rename("certified")
        _require(merchants, ("annual_gmv_usd",), "merchants")
        log.info(
            "certified_super_top is missing for %d of %d merchants: derived as "
            "annual_gmv_usd >= %s",
            int(missing.sum()),
            len(merchants),
            threshold,
        )
        derived = merchants["annual_gmv_usd"].astype("float64") >= threshold
        out = given.astype("object").where(~missing, derived)
        return out.astype(bool).rename("certified")
    _require(merchants, ("annual_gmv_usd",), "merchants")
    log.info(
        "no certified_super_top column: certification derived as annual_gmv_usd >= %s",
        threshold,
    )
    gmv = merchants["annual_gmv_usd"].astype("float64")
    return (gmv >= threshold).astype(bool).rename("certified")


def _free_videos_used(merchants: pd.DataFrame) -> np.ndarray:
    if "free_videos_used" not in merchants.columns:
        logging.getLogger(__name__).info("no free_videos_used column: taken as 0")
        return np.zeros(len(merchants), dtype=np.int64)
    used = merchants["free_videos_used"]
    if used.isna().any():
        logging.getLogger(__name__).info(
            "free_videos_used is missing for %d merchants: taken as 0", int(used.isna().sum())
        )
        used = used.fillna(0)
    out = used.to_numpy(dtype=np.int64)
    if (out < 0).any():
        rows = np.flatnonzero(out < 0)[:5].tolist()
        raise ValueError(
            f"merchants: free_videos_used must be >= 0; offending row positions {rows}"
        )
    return out


def seller_status(merchants: pd.DataFrame, program: ProgramConfig, as_of: dt.date) -> pd.DataFrame:
    """The program status of every merchant on the as-of date.

    Parameters
    ----------
    merchants : DataFrame
        As returned by ``matching.data.read_inputs``: ``merchant_id``,
        ``annual_gmv_usd``, ``onboarded_at`` and optionally ``certified_super_top``
        and ``free_videos_used`` (default 0). Not modified.
    program : ProgramConfig
        The program's terms.
    as_of : datetime.date
        The day the status is computed for (a datetime, Timestamp or ISO string is
        taken as its calendar day).

    Returns
    -------
    DataFrame
        One row per merchant, same order and index as ``merchants``, columns

        ========================= ============== ==========================================
        merchant_id               as given
        certified                 bool           see :func:`certified`
        onboarded_in_program      bool           ``start <= onboarded_at <= end``
        window_start              datetime64[ns] the onboarding day
        window_end                datetime64[ns] ``onboarded_at + window_days - 1`` days:
                                                 the last day of the free-video window
                                                 (the onboarding day is day 1)
        commission_reduction      float          ``program.commission_reduction`` if
                                                 certified and ``as_of`` in the window,
                                                 else 0.0
        commission_window_end     datetime64[ns] ``window_end`` if certified, else NaT
        quota                     int64          ``free_videos`` if certified and
                                                 onboarded in program, else 0
        free_videos_used          int64          0 when the column is absent
        remaining_quota           int64          ``max(0, quota - free_videos_used)``
        eligible                  bool           certified, in program, ``as_of`` in
                                                 the window, ``remaining_quota > 0``
        days_left                 int64          ``window_end - as_of + 1`` days if
                                                 eligible (>= 1), else 0
        reason                    string         ``"eligible"`` or the first failing
                                                 rule, one of :data:`REASONS`
        ========================= ============== ==========================================

    Examples
    --------
    >>> import datetime as dt
    >>> import pandas as pd
    >>> from matching.config import load_config
    >>> program = load_config().program
    >>> merchants = pd.DataFrame({
    ...     "merchant_id": ["early", "late"],
    ...     "annual_gmv_usd": [2e7, 2e7],
    ...     "onboarded_at": pd.to_datetime([program.start, program.end]),
    ...     "free_videos_used": [10, 0],
    ... })
    >>> s = seller_status(merchants, program, program.start)
    >>> s[["eligible", "remaining_quota", "days_left", "reason"]]
       eligible  remaining_quota  days_left             reason
    0      True              990         60           eligible
    1     False             1000          0  not yet onboarded
    >>> s.loc[0, "window_end"].date() == program.start + dt.timedelta(days=program.window_days - 1)
    True
    """
    _require(merchants, ("merchant_id", "onboarded_at"), "merchants")
    day = np.datetime64(_day(as_of).to_datetime64(), "ns")
    start = np.datetime64(_day(program.start).to_datetime64(), "ns")
    end = np.datetime64(_day(program.end).to_datetime64(), "ns")
    one_day = np.timedelta64(1, "D")

    is_certified = certified(merchants, program).to_numpy(dtype=bool)
    window_start = _dates(merchants["onboarded_at"]).to_numpy(dtype="datetime64[ns]")
    window_end = window_start + (program.window_days - 1) * one_day

    # NaT compares False everywhere: an unknown onboarding day is never in the program.
    in_program = (window_start >= start) & (window_start <= end)
    started = window_start <= day
    not_ended = window_end >= day
    in_window = started & not_ended

    quota = np.where(is_certified & in_program, np.int64(program.free_videos), np.int64(0))
    used = _free_videos_used(merchants)
    remaining = np.maximum(quota - used, 0).astype(np.int64)
    eligible = is_certified & in_program & in_window & (remaining > 0)
    # eligible rows have a real window_end >= day; others (NaT included) never reach the division
    days_to_end = (np.where(eligible, window_end, day) - day) // one_day
    days_left = np.where(eligible, days_to_end + 1, 0).astype(np.int64)

    reason = np.select(
        [~is_certified, ~in_program, ~started, ~not_ended, remaining <= 0],
        list(REASONS[1:]),
        default=REASONS[0],
    )
    commission = np.where(is_certified & in_window, float(program.commission_reduction), 0.0)
    commission_end = np.where(is_certified, window_end, np.datetime64("NaT", "ns"))

    columns = {
        "merchant_id": merchants["merchant_id"].array,
        "certified": is_certified,
        "onboarded_in_program": in_program,
        "window_start": window_start,
        "window_end": window_end,
        "commission_reduction": commission.astype(np.float64),
        "commission_window_end": commission_end,
        "quota": quota.astype(np.int64),
        "free_videos_used": used,
        "remaining_quota": remaining,
        "eligible": eligible,
        "days_left": days_left,
        "reason": reason.tolist(),
    }
    return pd.DataFrame({c: columns[c] for c in STATUS_COLUMNS}, index=merchants.index)


def creator_capacity(creators: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """Videos each creator can make over a horizon.

    Parameters
    ----------
    creators : DataFrame
        With ``weekly_video_capacity`` (int). Not modified.
    horizon_days : int
        The number of days, e.g. :func:`allocation_horizon`.

    Returns
    -------
    ndarray of int64, shape (len(creators),)
        ``floor(weekly_video_capacity * horizon_days / 7)``, in creator order,
        computed in exact integer arithmetic. Never negative: a negative capacity
        or horizon counts as 0.

    Examples
    --------
    >>> import pandas as pd
    >>> creator_capacity(pd.DataFrame({"weekly_video_capacity": [7, 3, 0]}), 10).tolist()
    [10, 4, 0]
    """
    _require(creators, ("weekly_video_capacity",), "creators")
    weekly = np.maximum(creators["weekly_video_capacity"].to_numpy(dtype=np.int64), 0)
    days = np.int64(max(int(horizon_days), 0))
    return (weekly * days) // np.int64(7)


def creator_capacity_by_window(creators: pd.DataFrame, days: np.ndarray) -> np.ndarray:
    """Videos each creator can make until the end of each of several windows.

    Parameters
    ----------
    creators : DataFrame
        With ``weekly_video_capacity`` (int). Not modified.
    days : int array (L,)
        Days left of each window, counting the as-of day (``seller_status``'s
        ``days_left``), in increasing order.

    Returns
    -------
    ndarray of int64, shape (len(creators), L)
        ``floor(weekly_video_capacity * days / 7)``: column ``l`` is
        :func:`creator_capacity` over ``days[l]``, so a seller whose window ends sooner
        can use less of a creator's weeks.

    Examples
    --------
    >>> import pandas as pd
    >>> creator_capacity_by_window(pd.DataFrame({"weekly_video_capacity": [7, 3]}), [7, 21]).tolist()
    [[7, 21], [3, 9]]
    """
    _require(creators, ("weekly_video_capacity",), "creators")
    weekly = np.maximum(creators["weekly_video_capacity"].to_numpy(dtype=np.int64), 0)
    days = np.maximum(np.asarray(days, dtype=np.int64), 0)
    if np.any(np.diff(days) < 0):
        raise ValueError("days must be in increasing order")
    return (weekly[:, None] * days[None, :]) // np.int64(7)


def allocation_horizon(status: pd.DataFrame) -> int:
    """Days from the as-of date to the latest ``window_end`` among eligible sellers.

    Counts the as-of day itself, so it is ``max(days_left)`` over eligible sellers,
    and 0 when no seller is eligible.

    Parameters
    ----------
    status : DataFrame
        As returned by :func:`seller_status`.

    Returns
    -------
    int

    Examples
    --------
    >>> import pandas as pd
    >>> allocation_horizon(pd.DataFrame({"eligible": [True, False], "days_left": [5, 0]}))
    5
    """
    _require(status, ("eligible", "days_left"), "status")
    days = status["days_left"].to_numpy(dtype=np.int64)[status["eligible"].to_numpy(dtype=bool)]
    return int(days.max()) if days.size else 0
