"""The exact allocation of an :class:`~matching.allocation.problem.AllocationProblem`: a
min-cost flow (LEMON's network simplex) that keeps the fill floor, the max flows (OR-Tools)
that bound it, the greedy and LP checks, and the week each video is made in. The model, the
network and the fill floor's phases are described in :mod:`matching.allocation.problem`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pylmcf
import scipy.optimize
import scipy.sparse
from ortools.graph.python import max_flow as _max_flow

from matching.allocation.problem import AllocationProblem, Arcs, arcs_of

__all__ = [
    "AllocationResult",
    "allocate",
    "floor_guarantee",
    "floor_limit",
    "greedy_allocate",
    "lp_allocate",
    "max_flow_by_seller",
    "max_flow_limit",
    "network_size",
]

_INT64_MAX = np.iinfo(np.int64).max
# Largest integer cost used when it is safe (rounding error <= 0.5 / 2**40 of the largest gain).
_MAX_COST = 2**40
# Below this the int64 rounding would no longer be negligible.
_MIN_COST = 2**20
# Bisection steps of the fill floor's common share (to 1/4096 of each floor).
_LEVEL_STEPS = 12


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class AllocationResult:
    """What a solver returns.

    Attributes
    ----------
    videos : int64 array (P,)
        Videos assigned to each candidate pair.
    expected_value : float64 array (P,)
        The value of those videos: the sum of their piecewise marginal gains.
    objective : float
        ``expected_value.sum()``.
    placed : int
        ``videos.sum()``.
    max_flow : int
        The most videos any allocation could place (:func:`max_flow_limit`).
    solver : str
        ``"min_cost_flow"``, ``"greedy"`` or ``"lp"``.
    floor_placed : int
        The floor videos placed, ``sum_s min(videos of seller s, floor_s)``; at most
        :func:`floor_limit`, which :func:`allocate` and :func:`lp_allocate` reach. 0 without
        a floor. Keyword-only, so subclasses may add fields without defaults.
    """

    videos: np.ndarray
    expected_value: np.ndarray
    objective: float
    placed: int
    max_flow: int
    solver: str
    floor_placed: int = field(default=0, kw_only=True)


def _result(problem: AllocationProblem, videos: np.ndarray, solver: str) -> AllocationResult:
    videos = videos.astype(np.int64)
    expected = problem.pair_value(videos) if problem.n_pairs else np.zeros(0)
    videos.setflags(write=False)
    expected.setflags(write=False)
    return AllocationResult(
        videos=videos,
        expected_value=expected,
        objective=float(expected.sum()),
        placed=int(videos.sum()),
        max_flow=max_flow_limit(problem),
        solver=solver,
        floor_placed=_floor_placed(problem, videos),
    )


def _floor_placed(problem: AllocationProblem, videos: np.ndarray) -> int:
    """``sum_s min(x_s, floor_s)``, ``x_s`` the videos placed for seller ``s``."""
    if not problem.n_pairs:
        return 0
    per_seller = np.bincount(problem.seller, weights=videos, minlength=problem.n_sellers)
    return int(np.minimum(per_seller.astype(np.int64), problem.floor).sum())


# --------------------------------------------------------------------------- network


@dataclass(frozen=True)
class _Network:
    """Node numbering of the flow network: 0 source, 1 sink, then the used sellers, then
    one node per used (creator, window level), creator by creator, shortest window first.

    ``tails``, ``heads`` and ``caps`` are the arcs that leave the creator nodes: each to the
    creator's next level node, the last one to the sink, with the creator's capacity up to
    the end of the tail's level."""

    n_nodes: int
    seller_node: np.ndarray  # per seller: node id, or -1 if unused
    sellers: np.ndarray  # used seller indices, in node order
    key_node: np.ndarray  # per arc given to _network: the node of its (creator, level)
    tails: np.ndarray
    heads: np.ndarray
    caps: np.ndarray


def _network(
    problem: AllocationProblem, arc_seller: np.ndarray, arc_creator: np.ndarray
) -> _Network:
    used_s = np.zeros(problem.n_sellers, dtype=bool)
    used_s[arc_seller] = True
    sellers = np.flatnonzero(used_s)
    seller_node = np.full(problem.n_sellers, -1, dtype=np.int64)
    seller_node[sellers] = 2 + np.arange(sellers.size)
    levels = np.int64(problem.n_levels)
    keys, inverse = np.unique(
        arc_creator * levels + problem.seller_level[arc_seller], return_inverse=True
    )
    first = 2 + sellers.size
    nodes = first + np.arange(keys.size, dtype=np.int64)
    creator, level = keys // levels, keys % levels
    last = np.r_[creator[1:] != creator[:-1], True] if keys.size else np.zeros(0, dtype=bool)
    heads = np.where(last, 1, nodes + 1)
    caps = problem.level_capacity[creator, level]
    return _Network(first + keys.size, seller_node, sellers, nodes[inverse], nodes, heads, caps)


def network_size(problem: AllocationProblem) -> tuple[int, int]:
    """``(nodes, arcs)`` of the min-cost flow network :func:`allocate` builds (before rounding)."""
    arcs = arcs_of(problem)
    if arcs.pair.size == 0:
        return 0, 0
    net = _network(problem, problem.seller[arcs.pair], problem.creator[arcs.pair])
    return net.n_nodes, int(arcs.pair.size + net.sellers.size + 1 + net.tails.size)


def max_flow_limit(problem: AllocationProblem) -> int:
    """The most videos that could be placed at all, ignoring values.

    A max flow (OR-Tools ``SimpleMaxFlow``) on source -> seller (``Q_s``) -> creator
    (``pair_cap``, every candidate pair, zero-value ones included) -> sink (``K_c``,
    through the creator's chain of window levels).
    """
    return int(max_flow_by_seller(problem).sum())


def max_flow_by_seller(problem: AllocationProblem) -> np.ndarray:
    """Per seller, its videos in one maximum flow of :func:`max_flow_limit` (their sum is
    the limit; which seller gives way where two compete is the solver's choice). A seller
    below its quota here cannot be filled by every seller at once from these candidates."""
    out = np.zeros(problem.n_sellers, dtype=np.int64)
    eff = np.minimum(
        problem.pair_cap, np.minimum(problem.quota[problem.seller], problem.pair_capacity())
    )
    keep = eff > 0
    if not keep.any():
        return out
    seller, creator, cap = problem.seller[keep], problem.creator[keep], eff[keep]
    net = _network(problem, seller, creator)
    tails = np.concatenate(
        [np.zeros(net.sellers.size, dtype=np.int64), net.seller_node[seller], net.tails]
    )
    heads = np.concatenate([net.seller_node[net.sellers], net.key_node, net.heads])
    caps = np.concatenate([problem.quota[net.sellers], cap, net.caps])
    solver = _solve_max_flow(tails, heads, caps, "max flow")
    # the first arcs leave the source, one per used seller in net.sellers' order
    out[net.sellers] = solver.flows(np.arange(net.sellers.size, dtype=np.int32))
    return out


def _solve_max_flow(tails, heads, caps, what: str):
    """OR-Tools' ``SimpleMaxFlow`` from node 0 to node 1 over these arcs, solved."""
    solver = _max_flow.SimpleMaxFlow()
    solver.add_arcs_with_capacity(
        tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64)
    )
    status = solver.solve(0, 1)
    if status != _max_flow.SimpleMaxFlow.OPTIMAL:
        raise RuntimeError(f"{what} failed with status {status}")
    return solver


# --------------------------------------------------------------------------- solvers


def _cost_scale(max_gain: float, n_nodes: int) -> float:
    """Multiplier turning gains into int64 costs.

    Node potentials, sums of costs along paths of up to ``n_nodes`` arcs, must stay
    within int64 beside LEMON's artificial arcs (which cost about ``2**62``): the scale
    leaves room for potentials of ``2**12`` times ``n_nodes`` times the largest scaled
    cost, and maps the largest gain to at most ``2**40``.
    """
    n = n_nodes + 3
    return float(min(_MAX_COST, _INT64_MAX // (2**12 * n))) / max_gain


@dataclass(frozen=True)
class _Setup:
    """What :func:`allocate` and :func:`floor_limit` share: the arcs, their network, and
    per used seller (``net.sellers``) its supply and its floor."""

    arcs: Arcs
    arc_seller: np.ndarray  # per arc: its seller
    net: _Network
    supply: np.ndarray  # per used seller: min(quota, what its arcs can carry)
    floor: np.ndarray  # per used seller: min(floor, supply), the hub's arc to it


def _setup(problem: AllocationProblem) -> _Setup | None:
    arcs = arcs_of(problem)
    if arcs.pair.size == 0:
        return None
    arc_seller = problem.seller[arcs.pair]
    net = _network(problem, arc_seller, problem.creator[arcs.pair])
    # A seller can send no more than its quota, nor more than its arcs can carry.
    out_cap = np.bincount(arc_seller, weights=arcs.capacity, minlength=problem.n_sellers)
    supply = np.minimum(problem.quota[net.sellers], out_cap[net.sellers].astype(np.int64))
    floor = np.minimum(problem.floor[net.sellers], supply)
    return _Setup(arcs, arc_seller, net, supply, floor)


def _live(arcs: Arcs, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The arcs' int64 costs at ``scale``, and the arcs whose cost is negative (live)."""
    cost = -np.rint(arcs.gain * scale).astype(np.int64)
    return cost, np.flatnonzero(cost < 0)


def _floor_flow(
    problem: AllocationProblem, setup: _Setup, live: np.ndarray, floor: np.ndarray | None = None
) -> int:
    """Phase 1 of the fill floor: the most floor videos the ``live`` arcs can place.

    A max flow on source -> seller (cap ``min(floor_s, supply_s)``, or ``floor`` per used
    seller when given; sellers with a floor only) -> its (creator, level) node (one arc per
    pair: its live segments' capacities summed) -> the creator's chain of window levels ->
    sink.
    """
    net = setup.net
    floor = setup.floor if floor is None else floor
    fed = floor > 0
    if not fed.any():
        return 0
    seller_fed = np.zeros(problem.n_sellers, dtype=bool)
    seller_fed[net.sellers[fed]] = True
    use = live[seller_fed[setup.arc_seller[live]]]
    if use.size == 0:
        return 0
    pair = setup.arcs.pair[use]  # sorted: the arcs are in (pair, segment) order
    start = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    cap = np.add.reduceat(setup.arcs.capacity[use], start)
    head_arc = use[start]
    tails = np.concatenate(
        [
            np.zeros(int(fed.sum()), dtype=np.int64),
            net.seller_node[setup.arc_seller[head_arc]],
            net.tails,
        ]
    )
    heads = np.concatenate([net.seller_node[net.sellers[fed]], net.key_node[head_arc], net.heads])
    caps = np.concatenate([floor[fed], cap, net.caps])
    return int(_solve_max_flow(tails, heads, caps, "max flow (fill floor)").optimal_flow())


def _common_level(
    problem: AllocationProblem, setup: _Setup, live: np.ndarray, target: int
) -> np.ndarray:
    """Per used seller, the videos every seller is sure of: ``floor(t * floor_s)`` at the
    largest common share ``t`` of the floors that all sellers can have at once (bisection
    on ``t`` by max flows, to 1 / 2**_LEVEL_STEPS; ``target`` the phase-1 flow)."""
    floor = setup.floor
    if target >= int(floor.sum()):
        return floor.copy()
    lo, hi = 0.0, 1.0
    for _ in range(_LEVEL_STEPS):
        t = (lo + hi) / 2
        level = np.floor(t * floor + 1e-9).astype(np.int64)
        if _floor_flow(problem, setup, live, level) == int(level.sum()):
            lo = t
        else:
            hi = t
    return np.floor(lo * floor + 1e-9).astype(np.int64)


def floor_guarantee(problem: AllocationProblem) -> np.ndarray:
    """Per seller, the videos :func:`allocate` places at least: the same share of every
    seller's floor, the largest all can have at once (all of it where capacity allows)."""
    out = np.zeros(problem.n_sellers, dtype=np.int64)
    if not problem.floor.any():
        return out
    setup = _setup(problem)
    if setup is None or not setup.floor.any():
        return out
    scale = _cost_scale(float(setup.arcs.gain.max()), setup.net.n_nodes + 1)
    _, live = _live(setup.arcs, scale)
    target = _floor_flow(problem, setup, live)
    out[setup.net.sellers] = _common_level(problem, setup, live, target)
    return out


def floor_limit(problem: AllocationProblem) -> int:
    """The most floor videos any allocation can place: ``max sum_s min(x_s, floor_s)``.

    Phase 1 of the fill floor (see the module docstring): a max flow over the arcs that
    :func:`allocate` can use (positive gains that survive its int64 cost rounding at the
    first scale it tries; zero-value pairs never count). :func:`allocate` and
    :func:`lp_allocate` place exactly this many (``AllocationResult.floor_placed``).
    """
    if not problem.floor.any():
        return 0
    setup = _setup(problem)
    if setup is None or not setup.floor.any():
        return 0
    scale = _cost_scale(float(setup.arcs.gain.max()), setup.net.n_nodes + 1)
    _, live = _live(setup.arcs, scale)
    return _floor_flow(problem, setup, live)


def allocate(problem: AllocationProblem) -> AllocationResult:
    """The value-maximising allocation, exact and integral, by min-cost flow.

    LEMON's network simplex (through ``pylmcf``) works on non-negative int64 costs: each
    per-video gain is multiplied by a scale that maps the largest gain to ``2**40`` (less
    on networks of many nodes, see ``_cost_scale``) and rounded, and every unit of flow
    crosses exactly one pair arc or the source -> sink bypass, so those arcs carry the
    cost ``largest - gain`` (the bypass ``largest``): the optimum is the same, shifted by a
    constant. The solution is thus optimal for gains rounded to within ``0.5 / scale``
    each (relative error ~1e-10 of the largest gain), and the reported values are
    recomputed with the true float gains. Gains that round to 0 are not placed.
    Deterministic: the same problem gives the same result.

    With a fill floor (``problem.floor``), the allocation first places the most floor
    videos possible (:func:`floor_limit`, a max flow) and, among the allocations that
    do, maximises the value: a lexicographic optimum, exact (see the module docstring).
    Without one (all 0) no floor hub is built and the solve is the plain one.

    Raises
    ------
    RuntimeError
        If the network is too large for an accurate int64 cost scale, or the solver does
        not report an optimal solution.
    """
    setup = _setup(problem)
    videos = np.zeros(problem.n_pairs, dtype=np.int64)
    if setup is None:
        return _result(problem, videos, "min_cost_flow")

    arcs, arc_seller, net = setup.arcs, setup.arc_seller, setup.net
    supply_s, floor_s = setup.supply, setup.floor
    total = int(supply_s.sum())
    # The floor hub: one more node (after the network's), fed by the source's floor share.
    hub = bool(floor_s.any())
    fed = np.flatnonzero(floor_s > 0)
    hub_node = net.n_nodes
    n_nodes = net.n_nodes + int(hub)

    max_gain = float(arcs.gain.max())
    scale = _cost_scale(max_gain, n_nodes)
    if scale * max_gain < _MIN_COST:
        raise RuntimeError("network too large for an accurate int64 cost scale")
    cost, live = _live(arcs, scale)
    target, lower = 0, np.zeros(net.sellers.size, dtype=np.int64)
    if hub:  # phase 1, on the arcs this scale leaves
        target = _floor_flow(problem, setup, live)
        lower = _common_level(problem, setup, live, target)
    top = -int(cost[live].min()) if live.size else 0
    n_s, n_k = net.sellers.size, net.tails.size
    # Arcs: source -> sellers, the bypass, the (pair, segment) arcs, the creator chains,
    # then (with a floor) hub -> sellers; the pair arcs start at n_s + 1 either way.
    tails = np.concatenate(
        [np.zeros(n_s + 1, dtype=np.int64), net.seller_node[arc_seller[live]], net.tails]
    )
    heads = np.concatenate([net.seller_node[net.sellers], [1], net.key_node[live], net.heads])
    caps = np.concatenate([supply_s - floor_s, [total - target], arcs.capacity[live], net.caps])
    costs = np.concatenate(
        [np.zeros(n_s, dtype=np.int64), [top], cost[live] + top, np.zeros(n_k, dtype=np.int64)]
    )
    supplies = np.zeros(n_nodes, dtype=np.int64)
    supplies[0], supplies[1] = total - target, -total
    if hub:
        # each seller's sure share is its own supply (a lower bound on its videos); the
        # hub carries the rest of the floor videos
        tails = np.concatenate([tails, np.full(fed.size, hub_node, dtype=np.int64)])
        heads = np.concatenate([heads, net.seller_node[net.sellers[fed]]])
        caps = np.concatenate([caps, floor_s[fed] - lower[fed]])
        costs = np.concatenate([costs, np.zeros(fed.size, dtype=np.int64)])
        supplies[hub_node] = target - int(lower.sum())
        supplies[net.seller_node[net.sellers]] += lower
    flow = _min_cost_flow(n_nodes, tails, heads, caps, costs, supplies)
    first = n_s + 1
    videos += np.bincount(
        arcs.pair[live], weights=flow[first : first + live.size], minlength=problem.n_pairs
    ).astype(np.int64)
    return _result(problem, videos, "min_cost_flow")


def _min_cost_flow(n_nodes, tails, heads, caps, costs, supplies) -> np.ndarray:
    """The flow on each arc of a min-cost flow (LEMON's network simplex, through ``pylmcf``;
    costs non-negative, supplies balanced), in the arcs' order."""
    order = np.argsort(tails * np.int64(n_nodes) + heads, kind="stable")  # pylmcf's arc order
    graph = pylmcf.Graph(n_nodes, tails[order], heads[order])
    graph.set_node_supply(supplies)
    graph.set_edge_capacities(caps[order].astype(np.int64))
    graph.set_edge_costs(costs[order].astype(np.int64))
    try:
        graph.solve()
    except RuntimeError as exc:
        raise RuntimeError(f"min-cost flow failed: {exc}") from exc
    flow = np.empty(order.size, dtype=np.int64)
    flow[order] = graph.result()
    return flow


def greedy_allocate(problem: AllocationProblem) -> AllocationResult:
    """Baseline: repeatedly place the video with the highest marginal gain that still fits.

    Marginal gains of a pair never increase, so the greedy order is the order of all
    (pair, segment) gains, highest first (ties: lower pair index, then earlier
    segment), and a whole segment is taken at once, up to what the seller's quota and
    the creator's capacity within the seller's window still allow. Short-sighted on
    two-sided capacity: it can give a creator to the seller that values it most even
    when that seller had an almost as good alternative and another seller had none.

    With a fill floor it is greedy about it too, the baseline of the exact lexicographic
    solve: a first pass places up to each seller's floor, a second the rest of its quota,
    both in the same order of gains.
    """
    arcs = arcs_of(problem)
    videos = np.zeros(problem.n_pairs, dtype=np.int64)
    if arcs.pair.size:
        order = np.lexsort((arcs.segment, arcs.pair, -arcs.gain))
        pair = arcs.pair[order]
        seller = problem.seller[pair]
        creator = problem.creator[pair]
        level = problem.seller_level[seller]
        room = arcs.capacity[order].copy()  # what is left of each arc
        # per creator: what is left of its capacity to the end of each window level
        slack = problem.level_capacity.astype(np.int64).copy()

        def fill(quota_left: np.ndarray) -> None:
            # only the arcs that can still take a video, in the greedy order; the loop
            # below is exact, the filter only spares it arcs it would skip
            tail = np.minimum.accumulate(slack[:, ::-1], axis=1)[:, ::-1]
            live = np.flatnonzero(
                (room > 0) & (quota_left[seller] > 0) & (tail[creator, level] > 0)
            )
            left = slack.tolist()
            q_left = quota_left.tolist()
            r_left = room[live].tolist()
            took = []
            for i, (s, c, lv) in enumerate(
                zip(
                    seller[live].tolist(), creator[live].tolist(), level[live].tolist(), strict=True
                )
            ):
                q = q_left[s]
                if q == 0:
                    continue
                row = left[c]
                r = min(row[lv:])  # a video of this window also uses every longer window's room
                if r <= 0:
                    continue
                take = min(r_left[i], q, r)
                q_left[s] = q - take
                for j in range(lv, len(row)):
                    row[j] -= take
                took.append((i, take))
            if took:
                at, amount = (np.asarray(x, dtype=np.int64) for x in zip(*took, strict=True))
                room[live[at]] -= amount
                np.add.at(videos, pair[live[at]], amount)
            slack[:] = np.asarray(left, dtype=np.int64).reshape(slack.shape)
            quota_left[:] = q_left

        quota = problem.quota.astype(np.int64).copy()
        if problem.floor.any():
            floor = problem.floor.astype(np.int64).copy()
            fill(floor)
            quota -= problem.floor - floor
        fill(quota)
    return _result(problem, videos, "greedy")


def lp_allocate(problem: AllocationProblem) -> AllocationResult:
    """The LP relaxation solved by scipy's HiGHS, on a sparse constraint matrix.

    Variables are the (pair, segment) arcs, bounded by their capacities; the rows are
    the seller quotas and, per creator and window level, the capacity to the end of that
    level (written directly as nested sums, not as a flow). It is the same polytope as
    the flow network's, which is integral, so the LP optimum equals the integer optimum;
    ``objective`` is the LP's optimal value in float. Meant for checking
    :func:`allocate` on small instances.

    With a fill floor, one more variable ``y_s`` per seller with a floor, ``0 <= y_s <=
    floor_s`` and ``y_s <= `` the seller's videos, and two LPs: the first maximises
    ``T = sum(y_s)``; the second maximises the value subject to ``sum(y_s) >= T*`` as
    well (less a 1e-9 tolerance, ``T*`` the first's optimum rounded: it is a max flow,
    integral). ``objective`` is the second LP's value.
    """
    arcs = arcs_of(problem)
    if arcs.pair.size == 0:
        return _result(problem, np.zeros(problem.n_pairs, dtype=np.int64), "lp")
    n = arcs.pair.size
    # one row per seller; one per creator and window level: the videos of windows up to it
    levels = problem.n_levels
    arc_level = problem.seller_level[problem.seller[arcs.pair]]
    arc_creator = problem.creator[arcs.pair]
    span = levels - arc_level
    creator_rows = (
        problem.n_sellers
        + np.repeat(arc_creator * levels, span)
        + (
            np.arange(span.sum())
            - np.repeat(np.cumsum(span) - span, span)
            + np.repeat(arc_level, span)
        )
    )
    rows = np.concatenate([problem.seller[arcs.pair], creator_rows])
    cols = np.concatenate([np.arange(n), np.repeat(np.arange(n), span)])
    n_rows = problem.n_sellers + problem.n_creators * levels
    values = np.ones(rows.size)
    b_ub = np.concatenate([problem.quota, problem.level_capacity.ravel()]).astype(np.float64)
    bounds = np.column_stack([np.zeros(n), arcs.capacity.astype(np.float64)])
    top = float(arcs.gain.max())
    c = -arcs.gain / top

    fed = np.flatnonzero(problem.floor > 0)
    if fed.size:
        # y_j (column n + j) for seller fed[j]: y_j - (the seller's videos) <= 0
        m = fed.size
        slot = np.full(problem.n_sellers, -1, dtype=np.int64)
        slot[fed] = np.arange(m)
        arc_slot = slot[problem.seller[arcs.pair]]
        mine = np.flatnonzero(arc_slot >= 0)
        rows = np.concatenate([rows, n_rows + np.arange(m), n_rows + arc_slot[mine]])
        cols = np.concatenate([cols, n + np.arange(m), mine])
        values = np.concatenate([values, np.ones(m), -np.ones(mine.size)])
        b_ub = np.concatenate([b_ub, np.zeros(m)])
        sure = floor_guarantee(problem)[fed].astype(np.float64)
        bounds = np.vstack([bounds, np.column_stack([sure, problem.floor[fed].astype(np.float64)])])
        n_rows += m
        a_ub = scipy.sparse.csr_array((values, (rows, cols)), shape=(n_rows, n + m))
        first = scipy.optimize.linprog(
            np.r_[np.zeros(n), -np.ones(m)], A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs"
        )
        if first.status != 0:
            raise RuntimeError(f"linprog (fill floor) failed: {first.message}")
        target = float(np.rint(-first.fun))
        # the second LP: sum(y) >= T*, i.e. -sum(y) <= -T*
        a_ub = scipy.sparse.vstack(
            [
                a_ub,
                scipy.sparse.csr_array(
                    (-np.ones(m), (np.zeros(m), n + np.arange(m))), shape=(1, n + m)
                ),
            ],
            format="csr",
        )
        b_ub = np.r_[b_ub, -(target - 1e-9 * max(1.0, target))]
        c = np.r_[c, np.zeros(m)]
    else:
        a_ub = scipy.sparse.csr_array((values, (rows, cols)), shape=(n_rows, n))
    res = scipy.optimize.linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog failed: {res.message}")
    videos = np.rint(np.bincount(arcs.pair, weights=res.x[:n], minlength=problem.n_pairs))
    out = _result(problem, videos.astype(np.int64), "lp")
    # Report the LP's own optimum, the bound the integer solvers are checked against.
    return AllocationResult(
        videos=out.videos,
        expected_value=out.expected_value,
        objective=float(-res.fun * top),
        placed=out.placed,
        max_flow=out.max_flow,
        solver="lp",
        floor_placed=out.floor_placed,
    )
