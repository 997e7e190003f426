"""How much memory a run needs, and how many merchants to score per block so it fits.

One home for every memory figure: the retriever's dense scores per (merchant, creator)
cell, the pair features per candidate, the block sizes of retrieval and ranking, the memory
this process may use (the machine's, under the tightest cgroup limit on its own cgroup or a
parent: :func:`cgroup_limit`), and the plan made before the tables are read
(:func:`plan_blocks`), from their sizes alone.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from matching.config import CandidatesConfig, RankingConfig
from matching.errors import InsufficientMemory

__all__ = [
    "CGROUP_MOUNT",
    "DENSE_CELL_BYTES",
    "CONTENT_DIMS",
    "HEADROOM",
    "MEMINFO",
    "PROC_CGROUP",
    "TRAINING_ROW_BYTES",
    "RECOMMEND_BLOCK",
    "REFERENCE_BLOCK_MB",
    "SAMPLE_BLOCK",
    "CgroupLimit",
    "Estimate",
    "approximate",
    "available_memory",
    "block_rows",
    "cgroup_headroom",
    "cgroup_limit",
    "estimate",
    "plan_blocks",
]

log = logging.getLogger(__name__)

DENSE_CELL_BYTES = 8 * 14
"""Peak bytes per (merchant, creator) cell while retrieval scores a block of merchants
against every creator: ~14 float64 arrays alive (the collaborative term is a matrix product)."""
RECOMMEND_BLOCK = 512
"""Merchants ranked per block by ``MatchRanker.recommend`` unless told otherwise."""
BASE_BYTES = 512 * 2**20
"""The interpreter, the libraries and a fitted model."""
INPUT_CELL_BYTES = 200
"""One cell of an input table, read, validated and copied (tracemalloc sees ~25, without
Arrow's buffers)."""
PAIR_ROW_BYTES = 4096
"""One (merchant, candidate) row of pair features with its working copies (~80 float columns)."""
TRAINING_ROW_BYTES = 1024
"""One training row kept across the windows: an observed pair's value features or a sampled
candidate's fit features (float64), with the copies the models' stacking makes."""
SAMPLE_BLOCK = 512
"""Merchants whose candidates are retrieved at once while the training windows sample fit
rows and the validation ranks them by ``fit`` (~30 KB of candidates each, alive only for the
block; ``ranking.n_jobs`` blocks side by side with the approximate search). The draws do
not depend on it."""
REFERENCE_BLOCK_MB = 1024
"""Memory for one block of a reference ranker's dense scores (:mod:`matching.ranking.baselines`:
merchants x every creator)."""
HEADROOM = 0.8
"""Share of the available memory a run plans to use."""
CONTENT_DIMS = 64
"""Dimensions of the content model's vectors for approximate search (about two per category)."""


def block_rows(n_creators: int, block_size: int, block_memory_mb: float) -> int:
    """Merchants retrieval scores at once: ``block_size``, fewer when the dense
    (merchants x creators) arrays alive at the peak would exceed ``block_memory_mb``."""
    per_row = n_creators * DENSE_CELL_BYTES
    return int(max(1, min(block_size, block_memory_mb * 2**20 // per_row)))


PROC_CGROUP = Path("/proc/self/cgroup")
"""Where the kernel names this process's cgroups."""
CGROUP_MOUNT = Path("/sys/fs/cgroup")
"""The cgroup mount: v2's hierarchy, or v1's controllers in folders (``memory/``)."""
MEMINFO = Path("/proc/meminfo")
"""The machine's memory, ``MemAvailable`` among it."""
_V2 = ("memory.max", "memory.current", "inactive_file")
_V1 = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")


@dataclass(frozen=True)
class CgroupLimit:
    """A cgroup's memory limit: ``limit`` bytes, ``free`` of them still usable (limit minus
    usage, reclaimable page cache excepted), ``cgroup`` its path in its hierarchy (``/``:
    the mount's root, a container's own cgroup under a cgroup namespace)."""

    limit: int
    free: int
    cgroup: str


def available_memory(
    proc_cgroup: Path | None = None, cgroup_root: Path | None = None, meminfo: Path | None = None
) -> int | None:
    """Bytes this process can still use: ``MemAvailable`` of ``meminfo`` (else the available
    physical pages), lowered to the free memory under the tightest cgroup limit on this
    process (:func:`cgroup_limit`). None where none of these can be read (the guard is then
    off). The paths default to :data:`PROC_CGROUP`, :data:`CGROUP_MOUNT` and :data:`MEMINFO`."""
    avail = None
    try:
        for line in (meminfo or MEMINFO).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            avail = None
    limit = cgroup_limit(proc_cgroup, cgroup_root)
    if limit is not None:
        avail = limit.free if avail is None else min(avail, limit.free)
    return avail


def cgroup_limit(proc_cgroup: Path | None = None, mount: Path | None = None) -> CgroupLimit | None:
    """The tightest memory limit on this process: the one with the least free memory over
    its own cgroup and every ancestor up to the root (a limit set on a parent binds too:
    ``systemd-run -p MemoryMax``, Docker and Kubernetes set it on the process's own cgroup
    or a parent, rarely on the root). None without a limit.

    The cgroups are named in ``proc_cgroup`` (v2: ``0::/path`` under ``mount``; v1: the line
    whose controllers include ``memory``, under ``mount/memory``). An unreadable
    ``proc_cgroup``, or a cgroup not found under the mount (a container without its own
    cgroup namespace sees its cgroup at the root), leaves the root's limit.
    """
    mount = mount or CGROUP_MOUNT
    found = []
    for folder, files, own in _process_cgroups(proc_cgroup or PROC_CGROUP, mount):
        parts = [p for p in own.split("/") if p]
        for depth in range(len(parts), -1, -1):
            here = _limit_at(folder.joinpath(*parts[:depth]), files)
            if here is not None:
                found.append(CgroupLimit(*here, "/" + "/".join(parts[:depth])))
    return min(found, key=lambda x: x.free, default=None)


def cgroup_headroom(root: Path) -> int | None:
    """Limit minus usage (reclaimable page cache excepted) of the cgroup mounted at ``root``
    alone, v2 or v1 (``root/memory``); None without a limit. :func:`cgroup_limit` also reads
    the process's own cgroup and its parents."""
    found = [x for x in (_limit_at(root, _V2), _limit_at(root / "memory", _V1)) if x is not None]
    return min((free for _, free in found), default=None)


def _process_cgroups(proc_cgroup: Path, mount: Path) -> list[tuple[Path, tuple, str]]:
    """``(hierarchy folder, memory files, this process's cgroup)`` of v2 and v1; the root
    where ``proc_cgroup`` cannot be read, names none, or names one outside this cgroup
    namespace (``/../..``)."""
    own = {"v2": "/", "v1": "/"}
    try:
        lines = proc_cgroup.read_text().splitlines()
    except (OSError, ValueError):
        lines = []
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not path.startswith("/") or ".." in path.split("/"):
            continue
        if number == "0" and controllers == "":
            own["v2"] = path
        elif "memory" in controllers.split(","):
            own["v1"] = path
    return [(mount, _V2, own["v2"]), (mount / "memory", _V1, own["v1"])]


def _limit_at(folder: Path, files: tuple[str, str, str]) -> tuple[int, int] | None:
    """``(limit, free)`` of the cgroup at ``folder`` (``files``: v2's or v1's limit, usage
    and page-cache key of ``memory.stat``); None without a limit or a readable one."""
    limit_file, usage_file, cache_key = files
    try:
        limit_text = (folder / limit_file).read_text().strip()
        usage = int((folder / usage_file).read_text())
        limit = None if limit_text == "max" else int(limit_text)
    except (OSError, ValueError):
        return None
    if limit is None or limit >= 2**60:
        return None
    cache = 0
    try:
        for line in (folder / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == cache_key:
                cache = int(value)
    except (OSError, ValueError):
        cache = 0
    return limit, max(limit - usage + cache, 0)


@dataclass(frozen=True)
class Estimate:
    """A run's estimated peak: ``fixed + block * per_merchant`` bytes for blocks of ``block``
    merchants."""

    fixed: int
    per_merchant: int

    def peak(self, block: int) -> int:
        return self.fixed + block * self.per_merchant


def approximate(candidates, n_creators: int) -> bool:
    """Whether retrieval of ``n_creators`` creators searches vectors (:mod:`matching.retrieval.ann`)
    rather than scoring every creator densely (``candidates``: the config section or the
    retriever, both carry ``search`` and ``ann_min_creators``)."""
    return candidates.search == "ann" or (
        candidates.search == "auto" and n_creators >= candidates.ann_min_creators
    )


def estimate(
    sizes: dict, candidates: CandidatesConfig, ranking: RankingConfig | None = None
) -> Estimate:
    """The memory model of a run from the input tables' sizes (``{table: TableSize}``); of
    training when ``ranking`` is given, else of ranking (``match``).

    Fixed: the interpreter and model, the inputs, for the approximate search the creator
    vectors (float32: the IVF index's, and a copy while it is built), and for training the
    rows the windows keep (at most every collaboration's value row, its fit row and
    ``negatives_per_positive`` sampled candidates: :data:`TRAINING_ROW_BYTES` each) and the
    newest window's snapshot kept for the calibration. Per merchant of a block: its
    candidates' features and, for the dense search, one row of scores against every creator.
    """
    n_c = sizes["creators"].rows
    per_pair = min(candidates.top_n + candidates.partner_top_n, n_c) * PAIR_ROW_BYTES
    fixed = BASE_BYTES + INPUT_CELL_BYTES * sum(t.rows * t.columns for t in sizes.values())
    vectors = 0
    if approximate(candidates, n_c):
        dims = candidates.n_factors + candidates.als_factors + CONTENT_DIMS
        vectors = n_c * dims * 4 * 2
    if ranking is not None:
        rows = sizes["collaborations"].rows * (2 + ranking.negatives_per_positive)
        fixed += rows * TRAINING_ROW_BYTES + vectors
    if vectors:
        return Estimate(fixed + vectors, per_pair)
    return Estimate(fixed, n_c * DENSE_CELL_BYTES + per_pair)


def plan_blocks(
    sizes: dict, candidates: CandidatesConfig, ranking: RankingConfig | None = None
) -> int:
    """The number of merchants to score per block so the run fits in memory (at most
    ``candidates.block_size``; for ``match``, without ``ranking``, at most
    :data:`RECOMMEND_BLOCK`).

    The configured block is kept when its :func:`estimate` fits in :data:`HEADROOM` of
    :func:`available_memory`; otherwise the block shrinks (streaming: same results, more
    blocks), with a warning. A machine without room for one merchant per block fails here,
    before the heavy work, in one line naming the estimate, the memory available and the
    cgroup limit it comes from (:func:`cgroup_limit`).

    Raises
    ------
    matching.errors.InsufficientMemory
        Even one merchant per block does not fit.
    """
    n_m, n_c = sizes["merchants"].rows, sizes["creators"].rows
    training = ranking is not None
    need = estimate(sizes, candidates, ranking)
    block = candidates.block_size if training else min(candidates.block_size, RECOMMEND_BLOCK)
    avail = available_memory()
    if avail is None:
        return block
    budget = int(avail * HEADROOM)
    if need.peak(1) > budget:
        raise InsufficientMemory(
            f"{n_m:,} merchants x {n_c:,} creators need an estimated {_gb(need.peak(1))} of "
            "memory even scored one merchant at a time"
            + (
                " (training keeps every collaboration's rows and sampled candidates)"
                if training
                else ""
            )
            + f"; {_gb(avail)} is available, a run plans to use {HEADROOM:.0%} of it "
            f"({_limit_text(cgroup_limit())})"
        )
    affordable = int((budget - need.fixed) // need.per_merchant)
    wanted = min(block, n_m)
    if affordable >= wanted:
        return block
    log.warning(
        "memory: %s merchants x %s creators would need an estimated %s in blocks of %d merchants; "
        "%s is available (%s), so scoring streams in blocks of %d",
        f"{n_m:,}",
        f"{n_c:,}",
        _gb(need.peak(wanted)),
        wanted,
        _gb(avail),
        _limit_text(cgroup_limit()),
        affordable,
    )
    return affordable


def _limit_text(limit: CgroupLimit | None) -> str:
    """Where the available memory comes from, for a message."""
    if limit is None:
        return "no cgroup memory limit"
    return f"the cgroup {limit.cgroup} allows {_gb(limit.limit)}, {_gb(limit.free)} free"


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GB"
