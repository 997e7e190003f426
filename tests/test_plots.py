"""Every plot draws on tiny inputs, returns its axes, and carries a title and labelled axes."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from matching.config import load_config  # noqa: E402
from matching.jobs import plots  # noqa: E402
from matching.simulate import simulate  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


MERCHANTS = pd.DataFrame(
    {
        "merchant_id": pd.array(["m1", "m2", "m3", "m4"], dtype="string"),
        "primary_category": ["beauty", "beauty", "home", "toys"],
    }
)
CREATORS = pd.DataFrame(
    {
        "creator_id": pd.array([f"c{i}" for i in range(12)], dtype="string"),
        "primary_category": ["beauty"] * 6 + ["home"] * 4 + ["pet"] * 2,
        "followers": [10, 200, 3_000, 40_000, 500_000, 6_000_000, 70, 800, 9_000, 100_000, 5, 50],
        "weekly_video_capacity": [1, 2, 3, 5, 8, 13, 0, 2, 4, 6, 1, 1],
    }
)
COLLABORATIONS = pd.DataFrame(
    {
        "merchant_id": ["m1", "m1", "m2", "m2", "m3", "m3", "m3", "m1"],
        "creator_id": ["c5", "c4", "c5", "c9", "c9", "c8", "c5", "c5"],
        "videos": [1, 2, 1, 3, 1, 1, 2, 1],
        "gmv_usd": [120.0, 0.0, 55.5, 900.0, 12.0, 0.0, 3_000.0, 80.0],
    }
)
MATCHES = pd.DataFrame(
    {
        "merchant_id": ["m1"] * 3 + ["m2"] * 3 + ["m3"] * 3 + ["m4"] * 3,
        "creator_id": ["c5", "c4", "c3", "c5", "c9", "c2", "c9", "c8", "c7", "c1", "c0", "c11"],
        "rank": [1, 2, 3] * 4,
        "score": [50.0, 20.0, 3.0, 80.0, 10.0, 0.0, 300.0, 40.0, 1.0, 2.0, 1.5, 0.5],
    }
)
ALLOCATION = pd.DataFrame(
    {
        "merchant_id": ["m1", "m1", "m2", "m2"],
        "creator_id": ["c5", "c4", "c5", "c9"],
        "videos": [10, 4, 3, 6],
        "expected_gmv_usd": [900.0, 160.0, 400.0, 120.0],
    }
)
STATUS = pd.DataFrame(
    {
        "merchant_id": pd.array(["m1", "m2", "m3", "m4"], dtype="string"),
        "eligible": [True, True, True, False],
        "remaining_quota": [20, 9, 5, 0],
    }
)
REPORT = pd.DataFrame(
    [
        {"method": method, "segment": seg, "merchants": n, "ndcg@10": v, "recall@10": v / 2}
        for method, base in [
            ("model", 0.7),
            ("random", 0.05),
            ("popularity", 0.4),
            ("same_category_popularity", 0.45),
            ("reach", 0.5),
            ("category_gmv_leaders", 0.6),
        ]
        for seg, n, v in [
            ("all", 4, base),
            ("cold_start", 1, base * 0.8),
            ("certified", 2, base * 1.1),
        ]
    ]
    + [{"method": "candidates", "segment": "all", "merchants": 4, "recall@60_of_true_top50": 0.6}]
)
SWEEP = pd.DataFrame(
    {
        "certified_weight": [1.0, 1.5, 2.0, 3.0],
        "ndcg_non_certified": [0.62, 0.61, 0.61, 0.60],
        "ndcg_certified": [0.65, 0.67, 0.68, 0.68],
        "certified_share_of_top_slots": [0.08, 0.09, 0.09, 0.11],
        "total_true_gmv": [2.16e6, 2.15e6, 2.15e6, 2.13e6],
    }
)
SUMMARY = {
    "expected_gmv_usd": 4.2e6,
    "greedy_expected_gmv_usd": 4.1e6,
    "greedy_gap": 0.1 / 4.2,
    "horizon_days": 30,
    "creators_used": 3,
}
SCENARIOS = pd.DataFrame(
    {
        "value": [250, 500, 1000],
        "expected_gmv_usd": [1e6, 2e6, 2.5e6],
        "greedy_expected_gmv_usd": [0.99e6, 2e6, 2.4e6],
        "creators_used": [20, 31, 40],
        "creator_utilisation": [0.4, 0.6, 0.7],
    }
)

PLOTS = {
    "category_mix": lambda ax: plots.category_mix(MERCHANTS, CREATORS, ax=ax),
    "history_depth": lambda ax: plots.history_depth(COLLABORATIONS, MERCHANTS, CREATORS, ax=ax),
    "exposure_bias": lambda ax: plots.exposure_bias(COLLABORATIONS, CREATORS, MERCHANTS, ax=ax),
    "gmv_by_category": lambda ax: plots.gmv_by_category(COLLABORATIONS, MERCHANTS, ax=ax),
    "score_distribution": lambda ax: plots.score_distribution(MATCHES, MERCHANTS, ax=ax),
    "ndcg_by_segment": lambda ax: plots.ndcg_by_segment(REPORT, k=10, ax=ax),
    "feature_importance": lambda ax: plots.feature_importance(
        pd.Series({"a": 0.5, "b": -0.01, "c": 0.2}),
        std=pd.Series({"a": 0.1, "b": 0.0, "c": 0.05}),
        ax=ax,
    ),
    "priority_tradeoff": lambda ax: plots.priority_tradeoff(SWEEP, ax=ax),
    "allocation_per_seller": lambda ax: plots.allocation_per_seller(ALLOCATION, STATUS, ax=ax),
    "allocation_per_seller_no_status": lambda ax: plots.allocation_per_seller(ALLOCATION, ax=ax),
    "creator_utilisation": lambda ax: plots.creator_utilisation(ALLOCATION, CREATORS, 30, ax=ax),
    "greedy_gap_one_run": lambda ax: plots.greedy_gap(SUMMARY, ax=ax),
    "greedy_gap_scenarios": lambda ax: plots.greedy_gap(SCENARIOS, labels=["a", "b", "c"], ax=ax),
    "what_if": lambda ax: plots.what_if(
        SCENARIOS, x="value", xlabel="free videos per seller (videos)", ax=ax
    ),
    "what_if_one_axis": lambda ax: plots.what_if(
        SWEEP, x="certified_weight", y="total_true_gmv", y2=None, ax=ax
    ),
}


def _labelled(ax) -> None:
    assert isinstance(ax, Axes)
    assert ax.get_title().strip()
    assert ax.get_xlabel().strip()
    assert ax.get_ylabel().strip()


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_new_figure_has_title_and_labels(name):
    ax = PLOTS[name](None)
    _labelled(ax)
    ax.figure.canvas.draw()  # lays out and renders without error


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_draws_on_the_given_axes(name):
    _, given = plt.subplots()
    assert PLOTS[name](given) is given


def test_units_in_labels():
    assert "USD" in plots.score_distribution(MATCHES, MERCHANTS).get_xlabel()
    assert "USD" in plots.gmv_by_category(COLLABORATIONS, MERCHANTS).get_xlabel()
    assert "videos" in plots.allocation_per_seller(ALLOCATION, STATUS).get_xlabel()
    assert "%" in plots.creator_utilisation(ALLOCATION, CREATORS, 30).get_xlabel()
    assert "million USD" in plots.greedy_gap(SUMMARY).get_xlabel()
    assert "%" in plots.exposure_bias(COLLABORATIONS, CREATORS, MERCHANTS).get_ylabel()
    assert (
        "thousand USD"
        in plots.what_if(SCENARIOS.assign(expected_gmv_usd=[1e4, 2e4, 3e4]), x="value").get_ylabel()
    )


def test_inputs_are_not_modified():
    before = [
        t.copy() for t in (MERCHANTS, CREATORS, COLLABORATIONS, MATCHES, ALLOCATION, STATUS, REPORT)
    ]
    for draw in PLOTS.values():
        draw(None)
    for old, new in zip(
        before,
        (MERCHANTS, CREATORS, COLLABORATIONS, MATCHES, ALLOCATION, STATUS, REPORT),
        strict=True,
    ):
        pd.testing.assert_frame_equal(old, new)


def test_nothing_to_allocate():
    empty = ALLOCATION.iloc[:0]
    _labelled(plots.allocation_per_seller(empty, STATUS.assign(eligible=False)))
    _labelled(plots.allocation_per_seller(empty))
    _labelled(plots.creator_utilisation(empty, CREATORS, 0))
    _labelled(plots.greedy_gap({"expected_gmv_usd": 0.0, "greedy_expected_gmv_usd": 0.0}))


def test_fairness_picture():
    from matching.allocation.quota import fairness

    matches = ALLOCATION.assign(rank=1, certified_super_top=True)
    status = STATUS.assign(certified=[True, True, True, False])
    report = fairness(ALLOCATION, status, matches, len(CREATORS))
    assert report.fill_rate_min == 0.0 and report.certified_video_share == 1.0
    axes = plots.fairness(ALLOCATION, STATUS, report)
    assert len(axes) == 3 and all(ax.get_title() and ax.get_ylabel() for ax in axes)
    assert f"Gini {report.creator_gini:.2f}" in axes[1].get_title()
    nothing = plots.fairness(ALLOCATION.iloc[:0], STATUS.assign(eligible=False), None)
    assert nothing[0].get_title() == "No eligible seller" and "n/a" in nothing[1].get_title()
    plt.close("all")


def test_allocation_per_seller_shows_unserved_eligible_sellers():
    ax = plots.allocation_per_seller(ALLOCATION, STATUS)
    sellers = [t.get_text().split("\n")[0] for t in ax.get_yticklabels()]
    assert sellers == ["m3", "m2", "m1"]  # m3 is eligible and got nothing
    ax = plots.allocation_per_seller(ALLOCATION, STATUS, max_sellers=1)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["m1\n2 creators, 1,060 USD"]
    assert "top 1 of 3" in ax.get_title()


def test_many_categories_are_grouped():
    cats = pd.Series([f"cat{i}" for i in range(30)])
    merchants = pd.DataFrame(
        {"merchant_id": [f"m{i}" for i in range(30)], "primary_category": cats}
    )
    matches = pd.DataFrame(
        {"merchant_id": merchants["merchant_id"], "score": np.linspace(1, 30, 30)}
    )
    ax = plots.score_distribution(matches, merchants, max_categories=5)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 6 and any(label.startswith("other") for label in labels)


def test_on_a_simulated_marketplace():
    cfg = load_config()
    mk = simulate(cfg, merchants=30, creators=300, seed=3)
    for ax in (
        plots.category_mix(mk.merchants, mk.creators),
        plots.history_depth(mk.collaborations, mk.merchants, mk.creators),
        plots.exposure_bias(mk.collaborations, mk.creators, mk.merchants),
        plots.gmv_by_category(mk.collaborations, mk.merchants),
    ):
        _labelled(ax)
    shares = [
        p.get_height()
        for p in plots.exposure_bias(mk.collaborations, mk.creators, mk.merchants).patches
    ]
    assert sum(shares) == pytest.approx(100.0)


def test_import_leaves_the_backend_alone():
    """Notebooks show figures inline only if importing the library does not switch the backend."""
    code = "import matplotlib; matplotlib.use('svg'); import matching.jobs.plots; print(matplotlib.get_backend())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"
