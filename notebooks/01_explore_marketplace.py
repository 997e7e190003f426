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
# # 01 · Explore the marketplace
#
# Load any data folder that follows `DATA_CONTRACT.md` (`merchants`, `creators`,
# `collaborations`, as Parquet or CSV) or, by default, simulate a small marketplace
# into a temporary folder. Then profile both sides, look at the history's exposure
# bias and at cold start.
#
# Every step is a call into `matching`; this notebook holds no logic of its own and
# writes nothing into the repository. Change the parameters below and run all cells.

# %% tags=["parameters"]
DATA_DIR = None  # a contract-valid data folder; None simulates a small marketplace into a temp folder
SEED = 0  # seed of the simulated marketplace
N_MERCHANTS = 300  # merchants of the simulated marketplace
N_CREATORS = 3000  # creators of the simulated marketplace
AS_OF = "2026-03-01"  # the day the TOP Program status of every seller is computed for

# %%
import tempfile
from pathlib import Path

from matching import data, load_config, simulate
from matching.allocation import policy
from matching.jobs import plots, report
from matching.simulate import write_marketplace

cfg = load_config()
workdir = tempfile.TemporaryDirectory(prefix="matching-nb01-")  # removed when the kernel stops
data_dir = Path(workdir.name) / "data" if DATA_DIR is None else Path(DATA_DIR)
if DATA_DIR is None:
    write_marketplace(simulate(cfg, merchants=N_MERCHANTS, creators=N_CREATORS, seed=SEED), data_dir)
inputs = data.read_inputs(data_dir)  # validated against the data contract
merchants, creators, collaborations = inputs.merchants, inputs.creators, inputs.collaborations
print(report.summarize_inputs(inputs, cfg))

# %% [markdown]
# ## Merchants (the demand side)

# %%
merchants.describe().T

# %%
merchants["business_type"].value_counts().to_frame("merchants")

# %% [markdown]
# Which sellers get free videos on `AS_OF`: the program rules of `configs/program.yaml`
# applied by `matching.allocation.policy.seller_status`.

# %%
status = policy.seller_status(merchants, cfg.program, AS_OF)
status["reason"].value_counts().to_frame("merchants")

# %%
status[status["certified"]]

# %% [markdown]
# ## Creators (the supply side)

# %%
creators.describe().T

# %%
plots.category_mix(merchants, creators);

# %% [markdown]
# ## The history
#
# What was sold, by content type, and what a video is worth in each category.

# %%
collaborations.groupby("content_type")[["videos", "views", "orders", "gmv_usd"]].sum()

# %%
plots.gmv_by_category(collaborations, merchants);

# %% [markdown]
# ## Exposure bias
#
# Merchants mostly try popular creators of their own category. A pair never tried is
# not a bad pair: the history says little about the creators on the left of this chart,
# which is why the ranker learns *fit* (who gets chosen) apart from *value* (what a
# video earns).

# %%
plots.exposure_bias(collaborations, creators, merchants);

# %% [markdown]
# ## Cold start
#
# Merchants and creators without history can only be matched from their profiles
# (category, price, audience, reach).

# %%
plots.history_depth(collaborations, merchants, creators);

# %%
(creators["joined_at"] > collaborations["posted_at"].max()).value_counts().rename(
    {True: "joined after the history ends", False: "joined before"}
).to_frame("creators")
