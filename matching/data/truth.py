"""The ground truth of a simulated marketplace: the generator's hidden value of every pair,
and its files beside the tables (``truth/``). What evaluation and ``train`` read; the
generator (:mod:`matching.simulate`) writes it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtri

from matching.data.io import read_json, read_table
from matching.threads import in_order

TRUTH_BLOCK_BYTES = 64 * 2**20
"""Memory for one block of :meth:`GroundTruth.top_creators`: small blocks are faster (the
allocator reuses their arrays instead of mapping fresh pages; at 100k creators, blocks of 8
merchants took a third of the time of 400 in a scratch timing)."""
_TRUTH_CELL_ARRAYS = 6
"""Merchants x creators 8-byte arrays alive at once in a block of the truth's top lists."""
_U_TOP = 1.0 - 2.0**-53
"""The largest uniform the pair term draws its normal quantile of (below 1)."""
_SCREEN_TOL = 1e-6
"""Log-value margin of the top lists' screen over :meth:`GroundTruth.log_value`: the two
differ by float rounding (at most 1.2e-14 on a 10k x 100k market, log values up to 18), so
nothing truly in a top list is screened out."""


def _splitmix(x: np.ndarray) -> np.ndarray:
    """A stateless 64-bit hash (splitmix64 finaliser) of uint64 keys."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class GroundTruth:
    """The generator's hidden state: true expected GMV of any pair, as a function.

    Merchant-side and creator-side arrays are indexed by the row order of the
    ``merchants`` and ``creators`` tables the simulator wrote.
    """

    merchant_id: np.ndarray
    creator_id: np.ndarray
    m_category: np.ndarray  # int, category index
    m_log_price: np.ndarray
    m_brand: np.ndarray
    m_audience: np.ndarray  # (M, 2): target female share, 18-34 share
    m_latent: np.ndarray  # (M, r)
    c_affinity: np.ndarray  # (C, K) in (0, 1]
    c_log_views: np.ndarray
    c_log_engagement: np.ndarray
    c_quality: np.ndarray
    c_price_pref: np.ndarray  # preferred log price of the audience
    c_audience: np.ndarray  # (C, 2)
    c_latent: np.ndarray  # (C, r)
    category_similarity: np.ndarray  # (K, K)
    categories: tuple[str, ...]
    coef: dict[str, float]
    repeat_decay: float
    pair_noise_sd: float
    pair_seed: int
    repeat_story: str = "within"  # "across": earlier short videos of the pair decay later ones

    @property
    def n_merchants(self) -> int:
        return len(self.merchant_id)

    @property
    def n_creators(self) -> int:
        return len(self.creator_id)

    def log_value(self, m: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Log true expected GMV (USD) of the first video of pairs ``(m, c)``; broadcasts."""
        m, c = np.asarray(m), np.asarray(c)
        k = self.coef
        cat = self.m_category[m]
        aff = self.c_affinity[c, cat]
        aud = ((self.c_audience[c] - self.m_audience[m]) ** 2).sum(-1)
        price = (self.m_log_price[m] - self.c_price_pref[c]) ** 2
        latent = (self.c_latent[c] * self.m_latent[m]).sum(-1)
        pair = self._pair_noise(m, c)
        return (
            k["log_base_conversion"]
            + self.c_log_views[c]
            + self.m_log_price[m]
            + k["affinity"] * np.log(aff)
            - k["audience"] * aud
            - k["price"] * price
            + k["engagement"] * self.c_log_engagement[c]
            + k["brand"] * self.m_brand[m]
            + self.c_quality[c]
            + latent
            + pair
        )

    def _pair_noise(self, m: np.ndarray, c: np.ndarray) -> np.ndarray:
        """The pair's own log-value term: a hash of (merchant, creator), no state; broadcasts.
        At most ``ndtri(_U_TOP) * pair_noise_sd``."""
        key = (m.astype(np.uint64) << np.uint64(32)) | c.astype(np.uint64)
        u = (_splitmix(key ^ np.uint64(self.pair_seed)) >> np.uint64(11)).astype(np.float64)
        # the largest hash rounds to 1, whose normal quantile is infinite
        return ndtri(np.minimum((u + 0.5) / 2.0**53, _U_TOP)) * self.pair_noise_sd

    def _screen(self, m: np.ndarray, creators: tuple[np.ndarray, ...]) -> np.ndarray:
        """:meth:`log_value` less its pair term, of merchant rows ``m`` against every creator,
        (len(m), creators): the latent, audience and price terms as one matrix product (no
        merchants x creators x dimensions arrays), equal up to float rounding.
        ``creators``: :meth:`_screen_creators`."""
        k = self.coef
        P, terms, log_affinity = creators
        ma, mp = self.m_audience[m], self.m_log_price[m]
        own = (
            k["log_base_conversion"]
            + mp
            + k["brand"] * self.m_brand[m]
            - k["audience"] * (ma**2).sum(1)
            - k["price"] * mp**2
        )
        # -a |c_a - m_a|^2 - p (m_p - c_p)^2 expanded: the cross terms are inner products
        Q = np.hstack([self.m_latent[m], 2 * k["audience"] * ma, 2 * k["price"] * mp[:, None]])
        v = Q @ P.T
        v += own[:, None]
        v += terms[None, :]
        v += k["affinity"] * log_affinity[self.m_category[m]]
        return v

    def _screen_creators(self) -> tuple[np.ndarray, ...]:
        """The creator side of :meth:`_screen`: the vectors of its matrix product, the
        creator-only terms and the log affinity table (categories x creators)."""
        k = self.coef
        P = np.hstack([self.c_latent, self.c_audience, self.c_price_pref[:, None]])
        terms = (
            self.c_log_views
            + k["engagement"] * self.c_log_engagement
            + self.c_quality
            - k["audience"] * (self.c_audience**2).sum(1)
            - k["price"] * self.c_price_pref**2
        )
        return P, terms, np.ascontiguousarray(np.log(self.c_affinity).T)

    def value(self, m: np.ndarray, c: np.ndarray) -> np.ndarray:
        """True expected GMV (USD) of the first video of pairs ``(m, c)``; broadcasts."""
        return np.exp(self.log_value(m, c))

    def value_of_videos(
        self, m: np.ndarray, c: np.ndarray, n: np.ndarray, prior: np.ndarray | int = 0
    ) -> np.ndarray:
        """True expected GMV of one collaboration of ``n`` short videos of pairs ``(m, c)``
        (with diminishing returns), after ``prior`` earlier short videos of the pair (which
        matter only in the ``across`` story)."""
        d = self.repeat_decay
        n = np.asarray(n, dtype=float)
        factor = n if d == 1.0 else (1.0 - d**n) / (1.0 - d)
        if self.repeat_story == "across":
            factor = factor * d ** np.asarray(prior, dtype=float)
        return self.value(m, c) * factor

    def top_creators(
        self,
        m: np.ndarray,
        k: int,
        block: int = 256,
        n_jobs: int = 1,
        known: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` truly best creators of each merchant in ``m`` over ALL creators, or over
        those flagged in ``known`` (per truth creator row: the catalogue as of a date), rows
        past the known creators' count -1 with value 0.

        Returns (indices, values), each (len(m), k), best first (ties to the lower creator),
        the values :meth:`value`'s. Every creator is screened without its pair term
        (:meth:`_screen`, a matrix product); only those the largest pair term could lift to
        a merchant's k best are valued exactly. Blocked over merchants: at most ``block``,
        fewer so a block's arrays stay under :data:`TRUTH_BLOCK_BYTES` (the same result),
        ``n_jobs`` blocks side by side on threads.
        """
        m = np.asarray(m)
        k = min(k, self.n_creators)
        n_c = self.n_creators
        cell = 8 * _TRUTH_CELL_ARRAYS
        block = int(max(1, min(block, TRUTH_BLOCK_BYTES // (cell * max(n_c, 1)))))
        idx = np.empty((len(m), k), dtype=np.int64)
        val = np.empty((len(m), k))
        if k == 0:
            return idx, val
        creators = self._screen_creators()
        lift = ndtri(_U_TOP) * self.pair_noise_sd

        if known is not None:
            k = min(k, int(np.count_nonzero(known)))
            idx[:, k:], val[:, k:] = -1, 0.0
            if k == 0:
                return idx, val

        def top(mb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            d = self._screen(mb, creators)
            if known is not None:
                d[:, ~known] = -np.inf
            first = np.argpartition(d, n_c - k, axis=1)[:, n_c - k :]  # no negated copy of d
            # the k-th best of k real creators is at most the k-th best of all; a creator
            # below it by more than the largest pair term (and rounding) cannot reach it
            floor = self.log_value(np.repeat(mb, k), first.ravel()).reshape(len(mb), k).min(1)
            row, c = np.nonzero(d >= (floor - lift - 2 * _SCREEN_TOL)[:, None])
            del d, first
            v = self.log_value(mb[row], c)
            o = np.lexsort((c, -v, row))
            row, c, v = row[o], c[o], v[o]
            keep = np.arange(len(row)) - np.searchsorted(row, row) < k
            return c[keep].reshape(len(mb), k), np.exp(v[keep]).reshape(len(mb), k)

        starts = range(0, len(m), block)
        blocks = in_order(top, (m[s : s + block] for s in starts), n_jobs)
        for s, (i, v) in zip(starts, blocks, strict=True):
            idx[s : s + block, :k], val[s : s + block, :k] = i, v
        return idx, val

    def to_tables(self) -> dict[str, pd.DataFrame]:
        """The truth as tables (for ``truth/``): merchants, creators, params."""
        r = self.m_latent.shape[1]
        m = pd.DataFrame(
            {
                "merchant_id": self.merchant_id,
                "category": self.m_category,
                "log_price": self.m_log_price,
                "brand": self.m_brand,
                "audience_female": self.m_audience[:, 0],
                "audience_young": self.m_audience[:, 1],
                **{f"latent_{i}": self.m_latent[:, i] for i in range(r)},
            }
        )
        c = pd.DataFrame(
            {
                "creator_id": self.creator_id,
                "log_views": self.c_log_views,
                "log_engagement": self.c_log_engagement,
                "quality": self.c_quality,
                "price_pref": self.c_price_pref,
                "audience_female": self.c_audience[:, 0],
                "audience_young": self.c_audience[:, 1],
                **{f"latent_{i}": self.c_latent[:, i] for i in range(r)},
                **{f"affinity_{i}": self.c_affinity[:, i] for i in range(self.c_affinity.shape[1])},
            }
        )
        params = {
            "categories": list(self.categories),
            "category_similarity": self.category_similarity.round(12).tolist(),
            "coef": self.coef,
            "repeat_decay": self.repeat_decay,
            "pair_noise_sd": self.pair_noise_sd,
            "pair_seed": self.pair_seed,
        }
        if self.repeat_story != "within":  # absent for the default: its files stay as they were
            params["repeat_story"] = self.repeat_story
        return {"merchants": m, "creators": c, "params": params}

    @classmethod
    def from_tables(
        cls, merchants: pd.DataFrame, creators: pd.DataFrame, params: dict
    ) -> GroundTruth:
        """Rebuild the truth from what :meth:`to_tables` produced."""
        lat = sorted(
            (c for c in merchants.columns if c.startswith("latent_")), key=lambda s: int(s[7:])
        )
        aff = sorted(
            (c for c in creators.columns if c.startswith("affinity_")), key=lambda s: int(s[9:])
        )
        return cls(
            merchant_id=merchants["merchant_id"].to_numpy(dtype=object),
            creator_id=creators["creator_id"].to_numpy(dtype=object),
            m_category=merchants["category"].to_numpy(np.int64),
            m_log_price=merchants["log_price"].to_numpy(float),
            m_brand=merchants["brand"].to_numpy(float),
            m_audience=merchants[["audience_female", "audience_young"]].to_numpy(float),
            m_latent=merchants[lat].to_numpy(float).reshape(len(merchants), len(lat)),
            c_affinity=creators[aff].to_numpy(float),
            c_log_views=creators["log_views"].to_numpy(float),
            c_log_engagement=creators["log_engagement"].to_numpy(float),
            c_quality=creators["quality"].to_numpy(float),
            c_price_pref=creators["price_pref"].to_numpy(float),
            c_audience=creators[["audience_female", "audience_young"]].to_numpy(float),
            c_latent=creators[lat].to_numpy(float).reshape(len(creators), len(lat)),
            category_similarity=np.asarray(params["category_similarity"], dtype=float),
            categories=tuple(params["categories"]),
            coef={k: float(v) for k, v in params["coef"].items()},
            repeat_decay=float(params["repeat_decay"]),
            pair_noise_sd=float(params["pair_noise_sd"]),
            pair_seed=int(params["pair_seed"]),
            repeat_story=str(params.get("repeat_story", "within")),
        )


TRUTH_DIR = "truth"
"""The folder, beside a simulated marketplace's tables, that holds its ground truth."""


def read_truth(data_dir: str | os.PathLike) -> GroundTruth | None:
    """The ground truth beside a simulated data folder, or None when there is none."""
    folder = Path(data_dir) / TRUTH_DIR
    if not (folder / "params.json").is_file():
        return None
    return GroundTruth.from_tables(
        read_table(folder / "merchants.parquet"),
        read_table(folder / "creators.parquet"),
        read_json(folder / "params.json"),
    )
