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
# # 03 · Allocation what-if
#
# Every certified super-top seller onboarded in the program gets a quota of free short
# videos; `matching` shares them out over the seller's matched creators, optimally
# (a min-cost flow), within each creator's capacity. Here: run `matching match` through
# the library, then change the quota, the repeat decay, the creators' capacity, the
# diversity cap and the certified weight, and see GMV and fairness move.
#
# Nothing is written into the repository: data, model and outputs go to a temporary folder.

# %% tags=["parameters"]
DATA_DIR = None  # a contract-valid data folder; None simulates a small marketplace into a temp folder
MODEL_DIR = None  # a model folder saved by `matching train`; None trains a quick one here
SEED = 0  # seed of the simulated marketplace
N_MERCHANTS = 200  # merchants of the simulated marketplace
N_CREATORS = 2000  # creators of the simulated marketplace
CERTIFIED_SHARE = 0.1  # share of certified super-top sellers when simulating (configs/: 0.025)
FAST = True  # small, quick models for exploring; False trains the models of configs/ as they are
AS_OF = "2026-03-01"  # the day of the allocation (inside the program, see configs/program.yaml)
FREE_VIDEOS = [250, 500, 1000, 2000]  # quota of free videos per seller (configs/: 1000)
DECAYS = [0.5, 0.7, 0.9, 1.0]  # value of each next video of one pair relative to the previous one
CAPACITY_FACTORS = [0.25, 0.5, 1.0, 2.0]  # creators' weekly capacity, times what the data says
DIVERSITY_CAPS = [0.01, 0.02, 0.05, 0.1, 0.25]  # most of a seller's quota one creator may take
CERTIFIED_WEIGHTS = [1.0, 1.5, 2.0, 3.0, 5.0]  # priority of certified sellers (configs/: 1.5)
MIN_FILLS = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0]  # share of each seller's quota placed first (configs/: 0.9)

# %%
import tempfile
from datetime import date
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from matching import data, evaluation, load_config, simulate
from matching.allocation import policy
from matching.data.truth import read_truth
from matching.evaluation import scenarios
from matching.jobs import pipeline, plots, report
from matching.simulate import write_marketplace

cfg = load_config()
if FAST:
    cfg = cfg.replace(
        ranking={"max_iter": 60, "learning_rate": 0.15, "n_windows": 3, "validation_days": 90},
        candidates={"top_n": 100, "n_factors": 16},
        match={"top_k": 30},
    )
as_of = date.fromisoformat(AS_OF)
workdir = tempfile.TemporaryDirectory(prefix="matching-nb03-")  # removed when the kernel stops
data_dir = Path(workdir.name) / "data" if DATA_DIR is None else Path(DATA_DIR)
model_dir = Path(workdir.name) / "model" if MODEL_DIR is None else Path(MODEL_DIR)
out_dir = Path(workdir.name) / "out"
if DATA_DIR is None:
    market = simulate(cfg.replace(simulate={"certified_share": CERTIFIED_SHARE}), merchants=N_MERCHANTS,
                      creators=N_CREATORS, seed=SEED)
    write_marketplace(market, data_dir)
if MODEL_DIR is None:
    pipeline.train(data_dir, cfg, model_dir, track=False, evaluate=False)
inputs = data.read_inputs(data_dir)
print(report.summarize_inputs(inputs, cfg))

# %% [markdown]
# ## The allocation of `matching match`

# %%
summary = pipeline.match(data_dir, model_dir, out_dir, cfg, as_of=as_of)
matches = data.read_table(out_dir / "matches.parquet")
allocation = data.read_table(out_dir / "allocation.parquet")
status = policy.seller_status(inputs.merchants, cfg.program, as_of)
print(report.format_summary(summary))

# %%
plots.allocation_per_seller(allocation, status);

# %%
plots.creator_utilisation(allocation, inputs.creators, summary.allocation.horizon_days);

# %%
plots.greedy_gap(summary);

# %% [markdown]
# ## The promise
#
# Each eligible seller's share of its remaining free videos that was placed, lowest first; a
# seller under the floor (`allocation.min_fill`) is coloured by why: too few candidates,
# too few days left in its window, or creators whose capacity other sellers use.

# %%
plots.promise(summary.allocation);

# %% [markdown]
# ## The price of fairness
#
# The floor places a share of every seller's quota first, wherever capacity allows, then
# lets value decide. What it costs: the expected GMV at each floor, against none, on the
# same matches (`matching.evaluation.scenarios.fill_sweep`).

# %%
fairness = scenarios.fill_sweep(
    matches, inputs.merchants, inputs.creators, cfg, as_of, summary.allocation.repeat_decay, MIN_FILLS
)
plots.fill_sweep(fairness)
fairness

# %% [markdown]
# ## What if
#
# Each scenario changes one lever and re-runs the allocation on the same matches
# (`matching.evaluation.scenarios.what_if`). GMV is the model's expected GMV of the placed videos;
# fairness is how widely the videos spread: sellers served, creators used and how full the
# chosen creators are.

# %%
levers = scenarios.one_at_a_time(
    free_videos=FREE_VIDEOS, decays=DECAYS, capacity_factors=CAPACITY_FACTORS, diversity_caps=DIVERSITY_CAPS
)
whatif = scenarios.what_if(
    matches, inputs.merchants, inputs.creators, cfg, as_of, summary.allocation.repeat_decay, levers
)
whatif[["lever", "value", "sellers_served", "videos_placed", "expected_gmv_usd", "greedy_gap",
        "creators_used", "creator_utilisation"]]

# %%
fig, axes = plt.subplots(2, 2, figsize=(13, 8), layout="constrained")
for ax, (lever, table) in zip(axes.flat, whatif.groupby("lever", sort=False), strict=False):
    plots.what_if(table, x="value", y="expected_gmv_usd", y2="creators_used", xlabel=lever, ax=ax)

# %%
plots.greedy_gap(whatif, labels=whatif["label"]);

# %% [markdown]
# ## The certified weight
#
# The free videos go to certified sellers only, and the weight multiplies all of a
# certified seller's scores alike, so it does not change *their* allocation. Where it
# matters is the competition for creators' ordinary weekly slots between certified and
# other merchants: `matching.evaluation.offline.priority_tradeoff` shares those slots out by
# priority for each weight and measures, against the ground truth, the total GMV and the
# ranking quality left to non-certified merchants (only when the data folder has a truth).

# %%
truth = read_truth(data_dir)
ranker = data.load_model(model_dir).ranker.with_data(inputs.merchants, inputs.creators, inputs.collaborations,
                                                     as_of)
sweep = None if truth is None else evaluation.priority_tradeoff(ranker, truth, CERTIFIED_WEIGHTS, inputs.merchants,
                                                                inputs.creators)
sweep

# %%
if sweep is not None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
    plots.priority_tradeoff(sweep, ax=axes[0])
    plots.what_if(sweep, x="certified_weight", y="total_true_gmv", y2="ndcg_non_certified", ax=axes[1])
