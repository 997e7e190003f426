# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Train and evaluate
#
# Train the ranker through the library (`matching.jobs.pipeline.train`, as `matching train`
# does, without MLflow), compare it with the baselines, sweep the certified weight and
# look at which features drive a match's score.
#
# The evaluation needs a ground truth: a simulated folder has one (`truth/`), real data
# does not, and then those cells say so and move on. Nothing is written into the repository.

# %% tags=["parameters"]
DATA_DIR = None  # a contract-valid data folder; None simulates a small marketplace into a temp folder
SEED = 0  # seed of the simulated marketplace
N_MERCHANTS = 200  # merchants of the simulated marketplace
N_CREATORS = 2000  # creators of the simulated marketplace
FAST = True  # small, quick models for exploring; False trains the models of configs/ as they are
MERCHANT = None  # merchant_id whose matches are explained; None: the first certified merchant

# %%
import tempfile
from pathlib import Path

import pandas as pd

from matching import data, evaluation, load_config, simulate
from matching.jobs import pipeline, plots, report
from matching.ranking.ranker import pair_positions
from matching.simulate import write_marketplace

cfg = load_config()
if FAST:
    cfg = cfg.replace(
        ranking={"max_iter": 60, "learning_rate": 0.15, "n_windows": 3, "validation_days": 90},
        candidates={"top_n": 100, "n_factors": 16},
        match={"top_k": 30},
    )
workdir = tempfile.TemporaryDirectory(prefix="matching-nb02-")  # removed when the kernel stops
data_dir = Path(workdir.name) / "data" if DATA_DIR is None else Path(DATA_DIR)
if DATA_DIR is None:
    write_marketplace(simulate(cfg, merchants=N_MERCHANTS, creators=N_CREATORS, seed=SEED), data_dir)
inputs = data.read_inputs(data_dir)
print(report.summarize_inputs(inputs, cfg))

# %% [markdown]
# ## Train
#
# Rolling time windows: features as of each window start, targets inside the window;
# the most recent window validates (`val_*`), then the model is refitted on all of them.
# With a ground truth, the evaluation against baselines runs too.

# %%
result = pipeline.train(data_dir, cfg, Path(workdir.name) / "model", track=False)
ranker = result.ranker
pd.Series(result.metrics).to_frame("value")

# %% [markdown]
# ## Against the baselines
#
# NDCG@10 is computed over *all* creators: a creator the retriever missed counts against
# the model. Baselines: random, popularity, same-category popularity; heuristics: reach and
# category GMV leaders. Segments: all merchants, cold-start ones (no history), certified ones.

# %%
lift = None if result.report is None else evaluation.lift_over_baselines(result.report)
lift

# %%
if result.report is not None:
    plots.ndcg_by_segment(result.report)

# %%
result.report

# %% [markdown]
# ## The certified weight
#
# Certified super-top sellers rank by `priority_score = score × certified_weight`. When
# creators' weekly slots are shared out by priority, a higher weight gives certified
# sellers more of the top creators, at some cost in total GMV and in the ranking quality
# non-certified merchants get.

# %%
result.tradeoff

# %%
if result.tradeoff is not None:
    plots.priority_tradeoff(result.tradeoff)
    plots.what_if(result.tradeoff, x="certified_weight", y="total_true_gmv", y2="ndcg_non_certified")

# %% [markdown]
# ## The matches

# %%
matches = ranker.recommend(k=cfg.match.top_k)
plots.score_distribution(matches, inputs.merchants);

# %% [markdown]
# ## Why a pair scores what it scores
#
# Which features the value model relies on: shuffle one feature at a time over all the
# matched pairs and measure how far the model's (log) score moves from what it was
# (`MatchRanker.feature_importance`: scikit-learn's permutation importance, with the model's
# own predictions as the target; pairs featurised as `MatchRanker.score_pairs` scores them).

# %%
m, c = pair_positions(ranker, matches["merchant_id"], matches["creator_id"])
importance = ranker.feature_importance(m, c, n_repeats=3, random_state=SEED)
plots.feature_importance(importance["mean"], std=importance["std"]);

# %% [markdown]
# One merchant's matches, and its best match's values of the most important features
# against the merchant's other matches and all matches.

# %%
by_status = matches.sort_values("certified_super_top", ascending=False, kind="stable")
merchant = MERCHANT or by_status["merchant_id"].iloc[0]
mine = (matches["merchant_id"] == merchant).to_numpy()
matches[mine].head(10)

# %% [markdown]
# Why these creators for this merchant: for its three best matches, each feature set alone to
# its median over the merchant's candidates, and how much the pair's log score changes
# (`MatchRanker.explain`; positive means the pair's own value of that feature raised its score).

# %%
m_top, c_top = pair_positions(
    ranker, matches.loc[mine, "merchant_id"].head(3), matches.loc[mine, "creator_id"].head(3)
)
ranker.explain(m_top, c_top, top=6).round(3)
