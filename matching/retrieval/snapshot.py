"""Everything learned from the history before one date, ready to featurise pairs: the
profiles, the pair featuriser, the retriever and the partner activity, fitted together
(:func:`build_snapshot`), and the two feature sets the models read (:class:`Snapshot`).

The ranker builds one snapshot per training window and one for serving; both read pairs
through the same methods, so training and serving see the same features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse

from matching.config import CandidatesConfig, FeaturesConfig
from matching.data.contract import history_rows, row_positions
from matching.retrieval.candidates import SOURCES, CandidateRetriever
from matching.retrieval.features import PairFeaturizer, PartnerActivity
from matching.retrieval.profiles import CreatorProfiler, MerchantProfiler, history_before

_DROP = ("row", "category")
PAIR_COLUMNS = (
    "same_category",
    "category_lift",
    "aud_female_gap",
    "aud_young_gap",
    "price_gap",
    "creator_category_share",
    "pair_log_collabs",
    "pair_log_gmv_per_view",
)
"""The columns of :meth:`matching.retrieval.features.PairFeaturizer.transform`, in order."""


_COLLABORATIVE = ("als", "als_z", "partner_similarity")
"""The retriever's per-pair features (:meth:`CandidateRetriever.collaborative_features`)."""
PARTNER_FEATURES = (
    "src_als",
    "src_trending",
    "als",
    "als_z",
    "partner_similarity",
    "m_log_partners",
    "c_log_partners",
    "m_log_recent_collabs",
    "c_log_recent_collabs",
)
"""Features of who chooses whom: to the value model they would be exposure, not value (it
learns what a video earns from the pairs that were tried)."""
MATCH_FEATURES = (
    "src_collaborative",
    "src_content",
    "src_popularity",
    "src_als",
    "src_trending",
    *(name for name in PAIR_COLUMNS if name != "pair_log_gmv_per_view"),
    "c_tenure_days",
    "c_aud_female",
    "c_aud_young",
    "c_capacity",
    "c_price_position",
    "c_log_collabs",
    "c_log_recent_collabs",
    "c_log_partners",
    "c_recency_days",
)
"""Columns of :meth:`Snapshot.pair_features` that ``fit`` sees besides the partner features:
how the pair matches, and what was known of the creator as of each training window (its
history before the window, its fixed attributes). Not the tables' current counters
(followers, views, engagement rate, annual GMV): a past window would see today's values,
which already hold that window's outcome (on Online Retail they cost ``fit`` a sixth of its
precision); nor the merchant's profile, the same over every list ``fit`` ranks."""


@dataclass(frozen=True)
class Snapshot:
    """Everything learned from the history before one date, ready to featurise pairs."""

    as_of: pd.Timestamp
    merchants: pd.DataFrame
    creators: pd.DataFrame
    creator_profiler: CreatorProfiler
    merchant_profiler: MerchantProfiler
    pair_featurizer: PairFeaturizer
    retriever: CandidateRetriever
    activity: PartnerActivity
    M: pd.DataFrame  # merchant features, row-aligned with merchants
    C: pd.DataFrame  # creator features, row-aligned with creators

    def __getstate__(self):
        # the per-entity arrays are derived, rebuilt on first use: never pickled
        return {k: v for k, v in self.__dict__.items() if k not in ("_entity", "ids")}

    @cached_property
    def ids(self) -> tuple:
        """``(merchant ids, creator ids, each creator's place in sorted id order)``: the ids
        as the string arrays an output frame holds (indexing them builds its id columns with
        no conversion of Python strings), and the place that breaks ties by smaller id. Once
        per snapshot: at 1,000,000 creators the conversion and the sort take ~0.3 s."""
        m_raw = self.merchants["merchant_id"].to_numpy(dtype=object)
        c_raw = self.creators["creator_id"].to_numpy(dtype=object)
        place = np.empty(len(c_raw), dtype=np.int64)
        place[np.argsort(c_raw, kind="stable")] = np.arange(len(c_raw))
        # what a frame makes of an array of Python strings, as the output frames did
        return pd.Series(m_raw).array, pd.Series(c_raw).array, place

    def positions(self, merchant_ids, creator_ids) -> tuple[np.ndarray, np.ndarray]:
        """Row positions of merchant and creator ids; unknown ids are an error."""
        m = row_positions(merchant_ids, self.merchants["merchant_id"])
        c = row_positions(creator_ids, self.creators["creator_id"])
        if (m < 0).any() or (c < 0).any():
            bad = list(pd.Series(np.asarray(merchant_ids, dtype=object))[m < 0][:3]) + list(
                pd.Series(np.asarray(creator_ids, dtype=object))[c < 0][:3]
            )
            raise ValueError(f"ids unknown to the model: {bad}")
        return m, c

    def marks(self, pairs: pd.DataFrame) -> scipy.sparse.csr_array:
        """``pairs`` (``merchant_id``, ``creator_id``) as marks, merchant rows x creator rows."""
        m, c = self.positions(pairs["merchant_id"], pairs["creator_id"])
        shape = (len(self.merchants), len(self.creators))
        return scipy.sparse.csr_array((np.ones(len(m), dtype=bool), (m, c)), shape=shape)

    @cached_property
    def _entity(self) -> dict[str, np.ndarray]:
        """Each model column that belongs to one side, as a float64 array per entity row."""
        out = {}
        for prefix, frame in (("m_", self.M), ("c_", self.C)):
            for name in frame.columns:
                if name not in _DROP:
                    out[prefix + name] = frame[name].to_numpy(float)
        return out

    def pair_columns(self, m: np.ndarray, c: np.ndarray, names=None) -> dict[str, np.ndarray]:
        """The :meth:`pair_features` columns ``names`` (default all) of the pairs (m[i], c[i]),
        gathered from per-entity arrays as float64 numpy, in no per-pair frame: the hot path
        of ranking. Groups of columns no name asks for are not computed."""
        m, c = np.asarray(m), np.asarray(c)
        ent = self._entity
        want = None if names is None else set(names)

        def needs(group) -> bool:
            return want is None or not want.isdisjoint(group)

        out = {
            name: values[m if name.startswith("m_") else c]
            for name, values in ent.items()
            if want is None or name in want
        }
        which = [s for s in SOURCES if want is None or f"src_{s}" in want]
        if which:
            for name, values in self.retriever.source_scores(m, c, which).items():
                out[f"src_{name}"] = values
        if needs(_COLLABORATIVE):
            # the ALS score is a source's too: its inner products are computed once
            out.update(self.retriever.collaborative_features(m, c, out.get("src_als")))
        if needs(PAIR_COLUMNS):
            out.update(
                self.pair_featurizer.transform_columns(self.M, self.C, m, c, self.creator_profiler)
            )
        return out

    def pair_features(self, m: np.ndarray, c: np.ndarray) -> pd.DataFrame:
        """Model features of the pairs (m[i], c[i]) given as row positions."""
        cols = self.pair_columns(m, c)
        order = [f"m_{x}" for x in self.M.columns if x not in _DROP]
        order += [f"c_{x}" for x in self.C.columns if x not in _DROP]
        order += [f"src_{s}" for s in SOURCES] + list(_COLLABORATIVE)
        order += list(PAIR_COLUMNS)
        return pd.DataFrame({name: cols[name] for name in order if name in cols})

    def partner_columns(
        self, m: np.ndarray, c: np.ndarray, pair: dict | pd.DataFrame | None = None
    ) -> dict[str, np.ndarray]:
        """:meth:`partner_features` as float32 numpy columns by name (no frame); ``pair``: the
        pairs' :meth:`pair_columns` when already computed."""
        m, c = np.asarray(m, dtype=np.int64), np.asarray(c, dtype=np.int64)
        f = self.activity.transform(m, c)
        if pair is None:
            pair = self.pair_columns(m, c, [*_COLLABORATIVE, *MATCH_FEATURES])
        collab = {name: pair[name] for name in _COLLABORATIVE if name in pair}
        if len(collab) < len(_COLLABORATIVE):
            collab = self.retriever.collaborative_features(m, c)
        for name, values in collab.items():
            f[name] = np.asarray(values).astype(np.float32)
        for name in MATCH_FEATURES:
            if name in pair and name not in f:
                f[name] = np.asarray(pair[name]).astype(np.float32)
        return f

    def partner_features(
        self, m: np.ndarray, c: np.ndarray, pair: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """The fit model's input for the pairs (m[i], c[i]): who chose whom, how much and how
        lately (activity of both sides over several horizons, the pair's own record, the ALS
        score, the similarity to the merchant's past partners), gathered from per-entity
        arrays, and the :data:`MATCH_FEATURES` of ``pair`` (:meth:`pair_features` of the same
        pairs, computed here when not given)."""
        return pd.DataFrame(self.partner_columns(m, c, pair))


def build_snapshot(
    merchants: pd.DataFrame,
    creators: pd.DataFrame,
    history: pd.DataFrame,
    as_of,
    features: FeaturesConfig,
    candidates: CandidatesConfig,
    random_state: int = 0,
) -> Snapshot:
    """Fit profilers, pair featuriser and retriever on the history strictly before ``as_of``."""
    as_of = pd.Timestamp(as_of)
    h = history_before(history, as_of)
    rows = history_rows(h, merchants, creators)  # the catalogue's ids hashed once, not per fit
    kw = {"as_of": as_of, "prior_strength": features.prior_strength}
    cp = CreatorProfiler(**kw, half_life_days=features.recency_half_life_days).fit(
        creators, h, merchants, rows=rows
    )
    mp = MerchantProfiler(**kw, half_life_days=features.recency_half_life_days).fit(
        merchants, h, creators, rows=rows
    )
    C, M = cp.transform(creators), mp.transform(merchants)
    pf = PairFeaturizer(**kw).fit(h, merchants, creators, cp.categories_, rows=rows)
    ret = CandidateRetriever(
        top_n=candidates.top_n,
        n_factors=candidates.n_factors,
        als_factors=candidates.als_factors,
        als_regularization=candidates.als_regularization,
        als_alpha=candidates.als_alpha,
        als_iterations=candidates.als_iterations,
        trend_half_life_days=candidates.trend_half_life_days,
        weight_collaborative=candidates.weight_collaborative,
        weight_content=candidates.weight_content,
        weight_popularity=candidates.weight_popularity,
        partner_top_n=candidates.partner_top_n,
        partner_weight_als=candidates.partner_weight_als,
        partner_weight_trending=candidates.partner_weight_trending,
        block_size=candidates.block_size,
        block_memory_mb=candidates.block_memory_mb,
        search=candidates.search,
        ann_min_creators=candidates.ann_min_creators,
        ann_nlist=candidates.ann_nlist,
        ann_nprobe=candidates.ann_nprobe,
        ann_recall=candidates.ann_recall,
        ann_sample=candidates.ann_sample,
        random_state=random_state,
    ).fit(M, C, h, merchants, creators, pf.category_lift_, cp, as_of, rows=rows)
    act = PartnerActivity(as_of=as_of, horizons_days=features.activity_horizons_days).fit(
        h, merchants, creators, rows=rows
    )
    return Snapshot(as_of, merchants, creators, cp, mp, pf, ret, act, M, C)
