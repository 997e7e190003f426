"""A seeded marketplace generator with a ground truth a data scientist would believe.

The value of a video is reach x conversion x price. Conversion is driven by the
creator's affinity for the merchant's category, audience fit, price fit,
engagement, brand strength, a hidden creator quality and a hidden low-rank
merchant x creator interaction plus a pair-level term. Repeated videos of one
pair decay geometrically. The history is exposure-biased: merchants mostly try
popular, same-category creators, and pick somewhat among them by real fit.

Diminishing returns have two stories (``simulate.repeat_story``): ``within``, the
default, where the n-th video of one collaboration is worth ``decay ** (n - 1)`` of the
first and collaborations of a pair are independent; and ``across``, where the same holds
for the n-th short video of the pair over its whole history. ``simulate.repeat_rate``
adds follow-up collaborations of the same pair, and ``simulate.repeat_selection`` makes
them likelier the better the last one went (judged by its realised GMV per video against
the merchant's usual): the pairs that look good are repeated, as in real markets. With
both at 0 and the ``within`` story, the output is the original generator's, byte for byte.

A crowded market has two more knobs: ``simulate.capacity_scale`` multiplies creators'
weekly capacity and ``simulate.taste_overlap`` pulls merchants' tastes toward a shared one,
so their best creators overlap and run out of capacity. At 1 and 0, the output is the
original generator's, byte for byte. Presets of such markets are :data:`SCENARIOS`
(``configs/scenarios/<name>.yaml``, :func:`scenario_config`).

The truth is kept as parameters and a function (:class:`GroundTruth`), never a
dense pairs matrix, so 100,000 x 1,000,000 stays possible: everything is made in
chunks whose memory is bounded by ``chunk_size``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.special import ndtri

from matching import creator_side, data
from matching.config import Config, shipped_config_dir
from matching.data.contract import BUSINESS_TYPES, CONTENT_TYPES
from matching.data.truth import TRUTH_DIR, GroundTruth
from matching.errors import ConfigError

CATEGORY_NAMES = (
    "beauty",
    "skincare",
    "womens_fashion",
    "mens_fashion",
    "home",
    "kitchen",
    "electronics",
    "phone_accessories",
    "toys",
    "baby",
    "sports_outdoor",
    "health",
    "food_beverage",
    "pet",
    "jewelry",
)
_BUSINESS = np.array(BUSINESS_TYPES)
_CONTENT = np.array(CONTENT_TYPES)
# share of content types, views and value of one piece relative to a short video
_CONTENT_SHARE = np.array([0.7, 0.15, 0.15])
_CONTENT_VIEWS = np.array([1.0, 0.25, 3.0])
_CONTENT_VALUE = np.array([1.0, 0.2, 2.0])
_EPS = 1e-3
_SCENARIO_DIR = shipped_config_dir() / "scenarios"
SCENARIOS: tuple[str, ...] = tuple(
    sorted(f.name[: -len(".yaml")] for f in _SCENARIO_DIR.iterdir() if f.name.endswith(".yaml"))
)
"""Names of the simulator presets (``simulate --scenario NAME``): partial configs with only
a ``simulate`` section, in ``configs/scenarios/`` (shipped with the defaults)."""


def scenario_config(config: Config, name: str) -> Config:
    """``config`` with the ``simulate`` section of preset ``name`` laid over it (the other
    sections, and the sizes and seed unless the preset sets them, stay as they are)."""
    if name not in SCENARIOS:
        known = ", ".join(SCENARIOS) or "none"
        raise ConfigError(f"unknown scenario {name!r} (known: {known})")
    where = f"configs/scenarios/{name}.yaml"
    preset = yaml.safe_load((_SCENARIO_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    if not isinstance(preset, dict) or set(preset) != {"simulate"}:
        raise ConfigError(f"{where}: a scenario must hold only a simulate section")
    if not isinstance(preset["simulate"], dict):
        raise ConfigError(f"{where}: simulate must be a mapping of settings")
    try:
        return config.replace(simulate=preset["simulate"])
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def category_names(n: int) -> list[str]:
    """Readable category names; numbered ones beyond the built-in list."""
    return [CATEGORY_NAMES[i] if i < len(CATEGORY_NAMES) else f"category_{i + 1}" for i in range(n)]


@dataclass(frozen=True)
class Marketplace:
    """The three contract input tables and the truth behind them."""

    merchants: pd.DataFrame
    creators: pd.DataFrame
    collaborations: pd.DataFrame
    truth: GroundTruth
    offers: tuple[pd.DataFrame, pd.DataFrame] | None = None
    """With a creator side: the ``offers`` table and its truth (:mod:`matching.creator_side`)."""


def _days(d: date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def _to_dates(days: np.ndarray) -> pd.Series:
    return pd.Series(days.astype("datetime64[D]").astype("datetime64[ns]"))


def _chunks(n: int, size: int):
    for s in range(0, n, size):
        yield s, min(n, s + size)


def _category_space(rng: np.random.Generator, k: int, dims: int):
    """Category positions, similarity, audience lean and price level."""
    pos = rng.normal(size=(k, dims))
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    sim = np.exp(-d2 / (2 * np.median(d2[d2 > 0]) / 2))
    np.fill_diagonal(sim, 1.0)
    female = rng.beta(2, 2, size=k) * 0.8 + 0.1
    young = rng.beta(2, 2, size=k) * 0.6 + 0.3
    log_price = rng.normal(np.log(25.0), 0.6, size=k)
    return sim, female, young, log_price


def _shared_taste(rng, cat_weight, cat_female, cat_young, r: int) -> dict[str, np.ndarray]:
    """One merchant's taste, drawn as the merchants' are: the taste ``taste_overlap`` pulls
    every merchant toward (its category, target audience and latent vector)."""
    cat = rng.choice(len(cat_weight), p=cat_weight)
    aud = np.clip(np.array([cat_female[cat], cat_young[cat]]) + rng.normal(0, 0.1, 2), 0.02, 0.98)
    return {"cat": cat, "aud": aud, "latent": rng.normal(0, 0.7 / max(r, 1) ** 0.25, r)}


def _overlap_tastes(w: float, shared: dict, m_audience, m_latent, c_affinity):
    """Merchants' tastes pulled toward ``shared`` with weight ``w`` in [0, 1], so they agree
    on which creators are best while categories still differ somewhat.

    The latent vector becomes ``sqrt(1 - w^2) own + w shared`` (same variance, correlation
    ``w^2`` between two merchants); the target audience ``(1 - w) own + w shared``; and the
    category affinity a merchant of category ``j`` sees, ``log c_affinity[:, j]``, becomes
    ``(1 - w) log c_affinity[:, j] + w log c_affinity[:, shared]``: folded into the truth's
    affinity table (kept per merchant category), so the truth's function is unchanged.
    Convex mixes of bounded terms keep the value scale comparable.
    """
    latent = np.sqrt(1.0 - w * w) * m_latent + w * shared["latent"][None, :]
    audience = (1.0 - w) * m_audience + w * shared["aud"][None, :]
    log_aff = np.log(c_affinity)
    affinity = np.exp((1.0 - w) * log_aff + w * log_aff[:, [shared["cat"]]])
    return audience, latent, affinity


def simulate(
    config: Config,
    *,
    merchants: int | None = None,
    creators: int | None = None,
    seed: int | None = None,
    progress: bool = False,
) -> Marketplace:
    """Generate a marketplace: the three input tables and its :class:`GroundTruth`.

    Parameters
    ----------
    config : the loaded configuration (its ``simulate`` and ``program`` sections).
    merchants, creators, seed : override the config's sizes and seed.
    progress : show a progress bar over collaboration chunks.
    """
    sc = config.simulate
    n_m = sc.merchants if merchants is None else merchants
    n_c = sc.creators if creators is None else creators
    seed = sc.seed if seed is None else seed
    root = np.random.SeedSequence(seed)
    s_cat, s_cre, s_mer, s_col, s_pair = root.spawn(5)
    k = sc.n_categories
    names = category_names(k)
    sim, cat_female, cat_young, cat_price = _category_space(
        np.random.default_rng(s_cat), k, sc.category_dims
    )
    cat_weight = np.random.default_rng(s_cat).dirichlet(np.full(k, 4.0))
    r = sc.latent_rank
    hist_end = _days(sc.history_end)
    prog_start, prog_end = _days(config.program.start), _days(config.program.end)

    # creators, in chunks
    cre_cols: dict[str, list] = {}
    truth_c: dict[str, list] = {}
    for i, (a, b) in enumerate(_chunks(n_c, sc.chunk_size)):
        rng = np.random.default_rng(s_cre.spawn(i + 1)[-1])
        n = b - a
        cat = rng.choice(k, size=n, p=cat_weight)
        followers = np.floor(np.exp(rng.normal(9.3, 1.5, size=n))).astype(np.int64)
        log_views = np.log1p(followers) + rng.normal(np.log(0.12), 0.7, size=n)
        views = np.round(np.exp(log_views), 1)
        engagement = np.clip(rng.beta(2.2, 40, size=n) + 0.01, 0.01, 0.15)
        # secondary affinities: similar categories plus idiosyncratic interests
        aff = sim[cat] ** 2 * rng.dirichlet(np.full(k, 0.6), size=n) * k
        aff[np.arange(n), cat] = 1.0
        aff = np.clip(aff / aff.max(1, keepdims=True), _EPS, 1.0)
        aud = np.column_stack(
            [
                np.clip(cat_female[cat] + rng.normal(0, 0.12, n), 0.02, 0.98),
                np.clip(cat_young[cat] + rng.normal(0, 0.12, n), 0.02, 0.98),
            ]
        )
        small = followers < 5000
        capacity = np.where(small, rng.integers(1, 6, n), rng.integers(3, 22, n))
        if sc.capacity_scale != 1.0:  # after the draws: the rest of the market is unchanged
            scaled = np.maximum(1, np.round(capacity * sc.capacity_scale)).astype(capacity.dtype)
            capacity = np.where(capacity >= 1, scaled, capacity)
        cold = rng.random(n) < sc.cold_creator_share
        joined = np.where(
            cold,
            rng.integers(hist_end + 1, prog_end + 1, n),
            rng.integers(_days(date(2021, 1, 1)), hist_end - 30, n),
        )
        cre_cols.setdefault("creator_id", []).append(
            np.array([f"c{j:07d}" for j in range(a, b)], dtype=object)
        )
        for name, arr in (
            ("primary_category", np.array(names, dtype=object)[cat]),
            ("followers", followers),
            ("avg_views", views),
            ("engagement_rate", np.round(engagement, 5)),
            ("audience_female_share", np.round(aud[:, 0], 4)),
            ("audience_age_18_34_share", np.round(aud[:, 1], 4)),
            ("weekly_video_capacity", capacity.astype(np.int64)),
            ("joined_at", joined),
        ):
            cre_cols.setdefault(name, []).append(arr)
        for name, arr in (
            ("cat", cat),
            ("aff", aff),
            ("log_views", np.log(views + 1.0)),
            ("log_eng", np.log(engagement / 0.05)),
            ("aud", aud),
            ("quality", rng.normal(0, 0.45, n) + 0.8 * np.log(engagement / 0.05) * 0.2),
            ("price_pref", cat_price[cat] + rng.normal(0, 0.6, n)),
            ("latent", rng.normal(0, 0.7 / max(r, 1) ** 0.25, (n, r))),
            ("cold", cold),
        ):
            truth_c.setdefault(name, []).append(arr)
    C = {key: np.concatenate(v) for key, v in cre_cols.items()}
    TC = {key: np.concatenate(v) for key, v in truth_c.items()}

    # merchants, in chunks; annual GMV log-normal with the configured share certified
    sigma_gmv = 2.0
    z = ndtri(1.0 - sc.certified_share) if 0 < sc.certified_share < 1 else 3.0
    mu_gmv = np.log(max(config.program.certification_gmv_usd, 1.0)) - z * sigma_gmv
    mer_cols: dict[str, list] = {}
    truth_m: dict[str, list] = {}
    for i, (a, b) in enumerate(_chunks(n_m, sc.chunk_size)):
        rng = np.random.default_rng(s_mer.spawn(i + 1)[-1])
        n = b - a
        cat = rng.choice(k, size=n, p=cat_weight)
        # stratified draws: the certified share holds even in a small example
        log_gmv = mu_gmv + sigma_gmv * ndtri((rng.permutation(n) + rng.random(n)) / n)
        gmv = np.round(np.exp(log_gmv), 2)
        certified = gmv >= config.program.certification_gmv_usd
        size_z = (log_gmv - mu_gmv) / sigma_gmv
        brand = 0.5 * size_z + rng.normal(0, 0.8, n)
        btype = np.where(
            brand + rng.normal(0, 0.7, n) > 0.6, 0, np.where(rng.random(n) < 0.35, 1, 2)
        )
        log_price = cat_price[cat] + rng.normal(0, 0.55, n)
        rating = np.clip(np.round(4.3 + 0.25 * brand + rng.normal(0, 0.3, n), 1), 1.0, 5.0)
        rating = np.where(rng.random(n) < 0.05, np.nan, rating)
        new_shop = rng.random(n) < 0.08
        in_program = np.where(certified, rng.random(n) < sc.certified_in_program_share, new_shop)
        onboarded = np.where(
            in_program,
            rng.integers(prog_start, prog_end + 1, n),
            rng.integers(_days(date(2021, 1, 1)), min(prog_start, hist_end) - 14, n),
        )
        used = np.zeros(n, dtype=np.int64)
        window = np.clip((hist_end - onboarded) / config.program.window_days, 0, 1)
        started = certified & in_program & (onboarded <= hist_end)
        used[started] = np.floor(
            config.program.free_videos * window[started] * rng.uniform(0.2, 0.8, started.sum())
        ).astype(np.int64)
        aud = np.column_stack(
            [
                np.clip(cat_female[cat] + rng.normal(0, 0.1, n), 0.02, 0.98),
                np.clip(cat_young[cat] + rng.normal(0, 0.1, n), 0.02, 0.98),
            ]
        )
        mer_cols.setdefault("merchant_id", []).append(
            np.array([f"m{j:06d}" for j in range(a, b)], dtype=object)
        )
        for name, arr in (
            ("primary_category", np.array(names, dtype=object)[cat]),
            ("annual_gmv_usd", gmv),
            ("avg_price_usd", np.round(np.exp(log_price), 2)),
            ("store_rating", rating),
            ("business_type", _BUSINESS[btype].astype(object)),
            ("onboarded_at", onboarded),
            ("certified_super_top", certified),
            ("free_videos_used", used),
        ):
            mer_cols.setdefault(name, []).append(arr)
        for name, arr in (
            ("cat", cat),
            ("log_price", np.log(np.round(np.exp(log_price), 2))),
            ("brand", brand),
            ("aud", aud),
            ("latent", rng.normal(0, 0.7 / max(r, 1) ** 0.25, (n, r))),
            ("size", size_z),
        ):
            truth_m.setdefault(name, []).append(arr)
    M = {key: np.concatenate(v) for key, v in mer_cols.items()}
    TM = {key: np.concatenate(v) for key, v in truth_m.items()}
    if sc.taste_overlap > 0:  # no extra draws at the default: the original generator's output
        shared = _shared_taste(
            np.random.default_rng(root.spawn(1)[0]), cat_weight, cat_female, cat_young, r
        )
        TM["aud"], TM["latent"], TC["aff"] = _overlap_tastes(
            sc.taste_overlap, shared, TM["aud"], TM["latent"], TC["aff"]
        )

    truth = GroundTruth(
        merchant_id=M["merchant_id"],
        creator_id=C["creator_id"],
        m_category=TM["cat"],
        m_log_price=TM["log_price"],
        m_brand=TM["brand"],
        m_audience=TM["aud"],
        m_latent=TM["latent"],
        c_affinity=TC["aff"],
        c_log_views=TC["log_views"],
        c_log_engagement=TC["log_eng"],
        c_quality=TC["quality"],
        c_price_pref=TC["price_pref"],
        c_audience=TC["aud"],
        c_latent=TC["latent"],
        category_similarity=sim,
        categories=tuple(names),
        coef={
            "log_base_conversion": float(np.log(0.004)),
            "affinity": 0.9,
            "audience": 8.0,
            "price": 0.6,
            "engagement": 0.5,
            "brand": 0.25,
        },
        repeat_decay=sc.repeat_decay,
        pair_noise_sd=0.3,
        pair_seed=int(np.random.default_rng(s_pair).integers(0, 2**62)),
        repeat_story=sc.repeat_story,
    )

    collabs = _history(config, truth, M, C, TM, TC, s_col, progress)
    merchants_df = pd.DataFrame({key: M[key] for key in mer_cols})
    merchants_df["onboarded_at"] = _to_dates(M["onboarded_at"])
    creators_df = pd.DataFrame({key: C[key] for key in cre_cols})
    creators_df["joined_at"] = _to_dates(C["joined_at"])
    offers = None
    if sc.offers_per_merchant > 0:  # a seed of its own, spawned last: the rest is unchanged
        offers = creator_side.offers(
            sc, truth, merchants_df, creators_df, collabs, root.spawn(1)[0]
        )
    return Marketplace(merchants_df, creators_df, collabs, truth, offers)


def _videos(rng: np.random.Generator, ctype: np.ndarray) -> np.ndarray:
    """Pieces of content in each collaboration: a few short videos, one live, 1-2 graphics."""
    n = len(ctype)
    return 1 + np.where(
        ctype == 0, rng.poisson(1.5, n), np.where(ctype == 1, rng.poisson(0.5, n), 0)
    )


def _returns(d: float, videos: np.ndarray) -> np.ndarray:
    """``sum(d ** (j - 1) for j in 1..videos)``: a collaboration's value in first videos."""
    return videos.astype(float) if d == 1.0 else (1 - d**videos) / (1 - d)


def _prior_short_videos(pair: np.ndarray, posted: np.ndarray, short: np.ndarray, videos):
    """Short videos each row's pair made in earlier rows (by date, then by row order)."""
    order = np.lexsort((np.arange(len(pair)), posted, pair))
    sv = np.where(short, videos, 0)[order]
    total = np.cumsum(sv)
    start = np.r_[True, pair[order][1:] != pair[order][:-1]]
    base = np.maximum.accumulate(np.where(start, total - sv, 0))
    out = np.empty(len(pair), dtype=np.int64)
    out[order] = total - sv - base
    return out


def _repeated(sc, truth, rng, mm, cc, posted, ctype, videos, hist_end):
    """The history with follow-up collaborations and the ``across`` story.

    Each collaboration is followed by another short-video collaboration of the same pair
    1 to ~10 weeks later with probability ``repeat_rate * 2 * sigmoid(repeat_selection *
    z)``, where ``z`` is the log of its realised GMV per video against the mean of its
    merchant's collaborations; follow-ups can be followed in turn. Returns the rows and
    their realised value before the order count (``noisy``).
    """
    d, s = truth.repeat_decay, sc.outcome_noise
    pair = mm.astype(np.int64) * np.int64(truth.n_creators) + cc
    short = ctype == 0
    z = rng.normal(-s * s / 2, s, len(mm))
    prior = _prior_short_videos(pair, posted, short, videos)
    parts = [(mm, cc, posted, ctype, videos, z)]
    if sc.repeat_rate > 0:
        across = sc.repeat_story == "across"

        def per_video(m, c, t, v, o, zz):
            value = truth.value(m, c) * _CONTENT_VALUE[t] * _returns(d, v) / v
            return np.log(value) + zz + (o * np.log(d) if across else 0.0) * (t == 0)

        judged = per_video(mm, cc, ctype, videos, prior, z)
        merchants, inverse = np.unique(mm, return_inverse=True)
        usual = np.bincount(inverse, judged) / np.bincount(inverse)
        parent = (mm, cc, posted, ctype, videos, prior, judged, inverse)
        while len(parent[0]):
            m, c, t, t_type, v, o, judge, inv = parent
            p = sc.repeat_rate * 2.0 / (1.0 + np.exp(-sc.repeat_selection * (judge - usual[inv])))
            go = rng.random(len(m)) < p
            gap = 7 + np.floor(rng.exponential(30.0, len(m))).astype(np.int64)
            go &= t + gap <= hist_end
            m, c, inv = m[go], c[go], inv[go]
            t_new = (t + gap)[go]
            o_new = (o + np.where(t_type == 0, v, 0))[go]
            ct = np.zeros(len(m), dtype=np.int64)
            v_new = _videos(rng, ct)
            zz = rng.normal(-s * s / 2, s, len(m))
            parts.append((m, c, t_new, ct, v_new, zz))
            parent = (m, c, t_new, ct, v_new, o_new, per_video(m, c, ct, v_new, o_new, zz), inv)
    mm, cc, posted, ctype, videos, z = (np.concatenate(col) for col in zip(*parts, strict=True))
    expect = truth.value(mm, cc) * _CONTENT_VALUE[ctype] * _returns(d, videos)
    if sc.repeat_story == "across":
        pair = mm.astype(np.int64) * np.int64(truth.n_creators) + cc
        prior = _prior_short_videos(pair, posted, ctype == 0, videos)
        expect = expect * np.where(ctype == 0, float(d) ** prior, 1.0)
    return mm, cc, posted, ctype, videos, expect * np.exp(z)


def _history(config, truth, M, C, TM, TC, seq, progress) -> pd.DataFrame:
    """Exposure-biased collaborations with noisy outcomes.

    Each merchant draws creators by category (mostly its own and similar ones)
    and, within a category, by popularity; among a small pool of such
    candidates it keeps the one that fits best, up to noise: so who worked with
    whom carries signal about fit, and the pairs never tried say little.
    """
    from tqdm import tqdm

    sc = config.simulate
    hist_start, hist_end = _days(sc.history_start), _days(sc.history_end)
    k = sc.n_categories
    cat_c = TC["cat"]
    weight = np.where(
        TC["cold"], 0.0, np.maximum(C["followers"], 1).astype(float) ** sc.exposure_follower_power
    )
    order = np.lexsort((np.arange(len(cat_c)), cat_c))  # creators grouped by category
    w_sorted = weight[order]
    bounds = np.searchsorted(cat_c[order], np.arange(k + 1))
    cum = np.concatenate([[0.0], np.cumsum(w_sorted)])
    cat_mass = cum[bounds[1:]] - cum[bounds[:-1]]
    pcat = truth.category_similarity**sc.exposure_category_boost * cat_mass[None, :]
    pcat = pcat / pcat.sum(1, keepdims=True)
    pool = 4

    frames = []
    n_m = len(M["merchant_id"])
    chunks = list(_chunks(n_m, sc.chunk_size))
    for i, (a, b) in enumerate(tqdm(chunks, desc="history", disable=not progress)):
        rng = np.random.default_rng(seq.spawn(i + 1)[-1])
        m_idx = np.arange(a, b)
        start = np.maximum(hist_start, M["onboarded_at"][m_idx])
        tenure = np.clip(hist_end - start, 0, None) / 365.0
        size = np.clip(np.exp(0.35 * TM["size"][m_idx]), 0.3, 5.0)
        n_col = rng.poisson(sc.collabs_per_merchant * tenure * size)
        mm = np.repeat(m_idx, n_col)
        if len(mm) == 0:
            continue
        # category, then creator within category by popularity; `pool` candidates per slot
        u = rng.random((len(mm), 1))
        cats = (np.cumsum(pcat[TM["cat"][mm]], 1) < u).sum(1).clip(0, k - 1)
        lo, hi = cum[bounds[cats]], cum[bounds[cats + 1]]
        draws = lo[:, None] + rng.random((len(mm), pool)) * (hi - lo)[:, None]
        pos = np.searchsorted(cum, draws, side="right") - 1
        pos = np.clip(pos, bounds[cats][:, None], bounds[cats + 1][:, None] - 1)
        cand = order[pos]
        score = sc.selection_strength * truth.log_value(mm[:, None], cand) + rng.gumbel(
            size=cand.shape
        )
        cc = cand[np.arange(len(mm)), score.argmax(1)]
        ok = weight[cc] > 0
        mm, cc = mm[ok], cc[ok]
        n = len(mm)
        lo_day = np.maximum(start[mm - a], C["joined_at"][cc])
        posted = lo_day + np.floor(rng.random(n) * (hist_end - lo_day + 1)).astype(np.int64)
        ctype = rng.choice(3, size=n, p=_CONTENT_SHARE)
        videos = _videos(rng, ctype)
        d = truth.repeat_decay
        s = sc.outcome_noise
        if sc.repeat_story == "within" and sc.repeat_rate == 0:
            reps = videos if d == 1.0 else (1 - d**videos) / (1 - d)
            expect = truth.value(mm, cc) * _CONTENT_VALUE[ctype] * reps
            noisy = expect * np.exp(rng.normal(-s * s / 2, s, n))
        else:
            mm, cc, posted, ctype, videos, noisy = _repeated(
                sc, truth, rng, mm, cc, posted, ctype, videos, hist_end
            )
            n = len(mm)
        price = np.exp(truth.m_log_price[mm])
        orders = rng.poisson(noisy / price)
        gmv = np.round(orders * price * rng.uniform(0.85, 1.0, n), 2)
        views = np.floor(
            C["avg_views"][cc] * videos * _CONTENT_VIEWS[ctype] * np.exp(rng.normal(-0.125, 0.5, n))
        ).astype(np.int64)
        frames.append(
            pd.DataFrame(
                {
                    "merchant_id": M["merchant_id"][mm],
                    "creator_id": C["creator_id"][cc],
                    "posted_at": posted,
                    "content_type": _CONTENT[ctype].astype(object),
                    "videos": videos.astype(np.int64),
                    "views": views,
                    "orders": orders.astype(np.int64),
                    "gmv_usd": gmv,
                }
            )
        )
    cols = [
        "merchant_id",
        "creator_id",
        "posted_at",
        "content_type",
        "videos",
        "views",
        "orders",
        "gmv_usd",
    ]
    if not frames:
        out = pd.DataFrame(
            {
                c: pd.Series(
                    dtype=object if c in ("merchant_id", "creator_id", "content_type") else "int64"
                )
                for c in cols
            }
        )
        out["gmv_usd"] = out["gmv_usd"].astype(float)
        out["posted_at"] = pd.Series(dtype="datetime64[ns]")
        return out
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(
        ["posted_at", "merchant_id", "creator_id"], kind="stable", ignore_index=True
    )
    out["posted_at"] = _to_dates(out["posted_at"].to_numpy())
    return out


# --------------------------------------------------------------------------- files


def write_marketplace(market: Marketplace, out_dir: str | os.PathLike, fmt: str = "parquet"):
    """Write a simulated marketplace: the three input tables in ``fmt`` (and ``offers``, with
    a creator side), and its truth in ``truth/`` (``merchants.parquet``, ``creators.parquet``,
    ``params.json``, and ``offers.parquet``, with a creator side)."""
    out = Path(out_dir)
    inputs = {
        "merchants": market.merchants,
        "creators": market.creators,
        "collaborations": market.collaborations,
    }
    truth = market.truth.to_tables()
    tables = {"merchants": truth["merchants"], "creators": truth["creators"]}
    if market.offers is not None:
        inputs["offers"], tables["offers"] = market.offers
    data.write_tables(inputs, out, fmt=fmt)
    data.write_tables(tables, out / TRUTH_DIR)
    data.write_json(truth["params"], out / TRUTH_DIR / "params.json")
