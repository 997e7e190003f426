"""One typed, frozen configuration object, loaded from YAML files.

Every number the program or the models depend on lives in those files, not in code. The
defaults are the project's top-level ``configs/``, shipped inside the wheel as package data
(``matching/configs/``), so an installed CLI finds them from any folder
(:func:`shipped_config_dir`). A config is found, in order: the path given;
``$MATCHING_CONFIG``; the nearest ``configs/`` folder at or above the working directory
(a project's own defaults); the shipped defaults.
"""

from __future__ import annotations

import os
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from matching.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # pydantic pickles the names of the fields set as a set of strings, whose order follows
    # Python's per-process string hashing: sorted, a saved model is the same bytes every run
    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        return {**state, "__pydantic_fields_set__": sorted(state["__pydantic_fields_set__"])}

    def __setstate__(self, state: dict[str, Any]) -> None:
        fields_set = set(state.get("__pydantic_fields_set__", ()))
        # a field added since the model was saved takes its default
        values = {
            name: field.default
            for name, field in type(self).model_fields.items()
            if not field.is_required()
        }
        values.update(state.get("__dict__", {}))
        super().__setstate__({**state, "__dict__": values, "__pydantic_fields_set__": fields_set})


class ProgramConfig(_Section):
    """The TOP Program's terms."""

    start: date
    end: date
    certification_gmv_usd: float = Field(ge=0)
    window_days: int = Field(ge=1)
    free_videos: int = Field(ge=0)
    commission_reduction: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> ProgramConfig:
        if self.end < self.start:
            raise ValueError(f"program.end {self.end} is before program.start {self.start}")
        return self


class SimulateConfig(_Section):
    """The built-in marketplace generator."""

    merchants: int = Field(ge=1)
    creators: int = Field(ge=1)
    seed: int = Field(ge=0)
    n_categories: int = Field(ge=2)
    category_dims: int = Field(ge=1)
    history_start: date
    history_end: date
    certified_share: float = Field(ge=0, le=1)
    certified_in_program_share: float = Field(ge=0, le=1)
    cold_creator_share: float = Field(ge=0, le=1)
    collabs_per_merchant: float = Field(gt=0)
    exposure_follower_power: float = Field(ge=0)
    exposure_category_boost: float = Field(ge=0)
    selection_strength: float = Field(ge=0)
    latent_rank: int = Field(ge=0)
    repeat_decay: float = Field(gt=0, le=1)
    outcome_noise: float = Field(ge=0)
    chunk_size: int = Field(ge=1)
    # Generative options for diminishing returns; the defaults are the original generator
    # (and keep its output byte for byte), so configs and models saved before them load.
    repeat_story: Literal["within", "across"] = "within"
    repeat_rate: float = Field(default=0.0, ge=0, le=1)
    repeat_selection: float = Field(default=0.0, ge=0)
    # Knobs of a crowded market (``simulate --scenario crowded``); the defaults keep the
    # original generator byte for byte.
    capacity_scale: float = Field(default=1.0, gt=0)  # creators' weekly capacity multiplied
    taste_overlap: float = Field(default=0.0, ge=0, le=1)  # merchants' tastes pulled together
    # The creator side (``simulate --scenario two_sided``, :mod:`matching.creator_side`): past
    # offers and the creators' answers. 0 offers, the default, keeps the generator's output.
    offers_per_merchant: float = Field(default=0.0, ge=0)
    offer_days: int = Field(default=90, ge=1)
    offer_acceptance: float = Field(default=0.5, gt=0, lt=1)
    offer_selectivity_sd: float = Field(default=1.0, ge=0)
    offer_fit_weight: float = Field(default=0.8, ge=0)
    offer_price_weight: float = Field(default=0.7, ge=0)
    offer_load_weight: float = Field(default=1.5, ge=0)
    offer_rival_weight: float = Field(default=2.0, ge=0)
    offer_certified_weight: float = Field(default=0.3)
    offer_exclusive_share: float = Field(default=0.3, ge=0, le=1)
    offer_reason_share: float = Field(default=0.6, ge=0, le=1)


class FeaturesConfig(_Section):
    prior_strength: float = Field(ge=0)
    recency_half_life_days: float = Field(gt=0)
    activity_horizons_days: tuple[int, ...]


class CandidatesConfig(_Section):
    top_n: int = Field(ge=1)
    n_factors: int = Field(ge=1)
    als_factors: int = Field(ge=1)
    als_regularization: float = Field(ge=0)
    als_alpha: float = Field(gt=0)
    als_iterations: int = Field(ge=1)
    trend_half_life_days: float = Field(gt=0)
    weight_collaborative: float = Field(ge=0)
    weight_content: float = Field(ge=0)
    weight_popularity: float = Field(ge=0)
    partner_top_n: int = Field(ge=0)
    partner_weight_als: float = Field(ge=0)
    partner_weight_trending: float = Field(ge=0)
    block_size: int = Field(ge=1)
    block_memory_mb: float = Field(gt=0)
    search: Literal["auto", "exact", "ann"] = "auto"
    ann_min_creators: int = Field(default=50_000, ge=1)
    ann_nlist: int = Field(default=1024, ge=1)
    ann_nprobe: int = Field(default=384, ge=1)
    ann_recall: float = Field(default=0.97, gt=0, le=1)
    ann_sample: int = Field(default=1000, ge=2)


class RankingConfig(_Section):
    model: Literal["hgb", "lgbm", "catboost"]
    certified_weight: float = Field(ge=0)
    sweep_weights: tuple[float, ...]
    negatives_per_positive: int = Field(ge=0)
    exposure_weighting: bool
    max_exposure_weight: float = Field(ge=1)
    validation_days: int = Field(ge=1)
    n_windows: int = Field(ge=2)
    max_iter: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    max_leaf_nodes: int = Field(ge=2)
    n_jobs: int = Field(ge=1)
    random_state: int = Field(ge=0)
    # Added later; the default keeps configs and models saved before it loadable.
    compile_min_pairs: int | None = Field(default=1_000_000, ge=1)
    evaluation_merchants: int | None = Field(default=5000, ge=1)
    value_model: Literal["hgb", "lgbm", "catboost"] | None = None
    tree_depth: int = Field(default=6, ge=1, le=16)


class TrackingConfig(_Section):
    experiment: str
    registered_model: str
    alias: str


class MatchConfig(_Section):
    top_k: int = Field(ge=1)
    # Added later; the default (pyarrow's own) keeps configs and models saved before it loadable.
    row_group_rows: int = Field(default=1_048_576, ge=1)


class AllocationConfig(_Section):
    segments: tuple[int, ...]
    default_decay: float = Field(gt=0, lt=1)
    max_videos_per_pair: int = Field(ge=1)
    diversity_cap: float = Field(gt=0, le=1)
    # Added later; the defaults keep configs and models saved before them loadable.
    decay_prior_strength: float = Field(default=10.0, gt=0)
    calibrate_values: bool = True
    calibration_merchants: int | None = Field(default=2000, ge=1)
    # exact: min-cost flow; dual: decomposition (matching.allocation.decomposition); auto: dual from
    # dual_min_pairs candidate pairs on
    solver: Literal["exact", "dual", "auto"] = "exact"
    dual_min_pairs: int = Field(default=10_000_000, ge=1)
    dual_iterations: int = Field(default=300, ge=1)
    dual_tol: float = Field(default=1e-3, ge=0)
    # The allocation's own pool: display (the top_k rows of matches.parquet) or widened
    # (everything retrieval found for an eligible seller, deeper where the flow is short,
    # up to pool_cap creators per seller)
    pool: Literal["display", "widened"] = "widened"
    pool_cap: int = Field(default=3000, ge=1)
    # What a pair is worth to the allocator: value (GMV if it happens) or expected
    # (P(the creator takes the offered job) x value; P from fit, see matching.allocation.quota)
    objective: Literal["value", "expected"] = "expected"
    offer_acceptance: float = Field(default=0.2, gt=0, lt=1)
    # The share of each eligible seller's remaining quota placed first, where capacity allows
    min_fill: float = Field(default=0.95, ge=0, le=1)
    fill_sweep: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0)
    fill_sweep_max_pairs: int = Field(default=200_000, ge=0)
    # From this many candidate pairs the greedy baseline runs in its own process while the
    # exact allocation is solved (null: never)
    greedy_apart_min_pairs: int | None = Field(default=100_000, ge=1)

    @model_validator(mode="after")
    def _increasing(self) -> AllocationConfig:
        s = self.segments
        if not s or s[0] < 1 or any(b <= a for a, b in zip(s, s[1:], strict=False)):
            raise ValueError(
                f"allocation.segments must be increasing positive integers, got {list(s)}"
            )
        return self


TUNABLE = ("features", "candidates", "ranking")
"""The sections ``matching tune`` may search: the model's."""


class TuneParam(_Section):
    """One parameter of ``matching tune``'s search: a range (``low`` to ``high``, on a log
    scale with ``log``; whole numbers where the config's field is one) or ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TuneParam:
        ranged = self.low is not None and self.high is not None
        if ranged == (self.choices is not None) or (not ranged and self.low is not None):
            raise ValueError("give either low and high, or choices")
        if ranged and not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if ranged and self.log and self.low <= 0:
            raise ValueError("a log scale needs low > 0")
        if self.choices is not None and not self.choices:
            raise ValueError("choices must not be empty")
        return self


class TuneConfig(_Section):
    """``matching tune``: how many trials, what they maximise, where they search."""

    trials: int = Field(ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    metric: str
    # a file laid over the defaults adds to their space; a key set to null leaves it out
    space: dict[str, TuneParam | None]

    @model_validator(mode="after")
    def _known(self) -> TuneConfig:
        sections = {"features": FeaturesConfig, "candidates": CandidatesConfig}
        sections["ranking"] = RankingConfig
        if not any(p is not None for p in self.space.values()):
            raise ValueError("space: nothing to search")
        for key in self.space:
            section, _, name = key.partition(".")
            if section not in TUNABLE or name not in sections[section].model_fields:
                raise ValueError(
                    f"space: {key!r} is not a field of {', '.join(TUNABLE)} ('section.field')"
                )
        return self


class Config(_Section):
    """Everything a run depends on; frozen so it can be hashed, logged and compared."""

    program: ProgramConfig
    simulate: SimulateConfig
    features: FeaturesConfig
    candidates: CandidatesConfig
    ranking: RankingConfig
    tracking: TrackingConfig
    match: MatchConfig
    allocation: AllocationConfig
    # Added later; None in the configs of models saved before it (tune reads the defaults').
    tune: TuneConfig | None = None

    def replace(self, **sections: dict[str, Any]) -> Config:
        """A copy with some fields of some sections changed, validated again.

        ``cfg.replace(ranking={"certified_weight": 2.0})``
        """
        data = self.model_dump()
        for name, changes in sections.items():
            if name not in data:
                raise ConfigError(f"unknown config section {name!r}")
            data[name] = {**(data[name] or {}), **changes}  # None: a section added later
        return _validate(data, "<replace>")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections")
    return data


def _validate(data: dict, source: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        kind = {"extra_forbidden": "unknown key", "missing": "missing key"}.get(err["type"])
        msg = kind or err["msg"]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {where}: {msg}{more}") from None


def default_config_dir() -> Path:
    """The folder of default YAML files (see the module docstring for the search order)."""
    env = os.environ.get("MATCHING_CONFIG")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "configs" / "program.yaml").is_file():
            return folder / "configs"
    return shipped_config_dir()


def shipped_config_dir() -> Path:
    """The default configs that come with the code: inside an installed wheel
    (``matching/configs/``), else the source tree's top-level ``configs/`` (an editable
    install or a checkout on ``sys.path``)."""
    wheel = Path(str(resources.files("matching") / "configs"))
    source = Path(__file__).resolve().parents[1] / "configs"
    for folder in (wheel, source):
        if (folder / "program.yaml").is_file():
            return folder
    raise ConfigError(f"{wheel}: the package's default configs are missing; reinstall matching")


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load the configuration.

    Parameters
    ----------
    path : a folder of YAML files (all merged), or one YAML file laid over the
        defaults, or None for the defaults alone.
    """
    base_dir = default_config_dir() if path is None or Path(path).is_file() else Path(path)
    if path is not None and not Path(path).exists():
        raise ConfigError(f"{path}: config not found")
    if not base_dir.is_dir():
        raise ConfigError(f"{base_dir}: config folder not found")
    data: dict = {}
    for f in sorted(base_dir.glob("*.yaml")):
        data = _merge(data, _read_yaml(f))
    source = str(base_dir)
    if path is not None and Path(path).is_file():
        data = _merge(data, _read_yaml(Path(path)))
        source = str(path)
    return _validate(data, source)
