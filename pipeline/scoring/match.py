"""Pair localizations with ground truth, frame by frame (SMLM Challenge 2016 rules).

A *candidate* is a (truth, localization) pair in the same frame with lateral distance
``sqrt(dx² + dy²) <= tolerance_nm`` and, in 3-D, ``|dz| <= tolerance_z_nm`` (both inclusive, as
the Challenge's ``CompareLocalization3D.java`` and ``loc_metrics.m``). Its *distance* is the
lateral distance in 2-D and ``sqrt(dx² + dy² + dz²)`` in 3-D.

* ``greedy`` (the Challenge's): repeatedly take the closest remaining candidate and remove its
  truth and its localization from the others. Ties follow the order the Challenge builds and
  stably sorts its candidates in (truth outer, localization inner): of two equally distant
  candidates for one localization the lower truth index wins, for one truth the lower
  localization index (indices in file order, the truth's sorted by frame then emitter id); the
  order of tied candidates that share nothing does not change the result. Frames never share a
  row, so the greedy over all candidates of a movie sorted by distance is the greedy of each
  frame. It is computed by rounds of *locally dominant* candidates (the closest for both its
  truth and its localization among those left), which selects exactly the greedy's pairs (a
  round's pairs are disjoint, and each is what the greedy takes when it reaches it); past 64
  rounds the rest is taken one by one in order.
* ``hungarian``: an optimal assignment — the most pairs, and among those the smallest sum of
  distances — by ``scipy.optimize.linear_sum_assignment`` on each connected group of candidates,
  infeasible pairs forbidden (a cost larger than any assignment of feasible pairs).
"""

from __future__ import annotations

import numpy as np

METHODS = ("greedy", "hungarian")


def candidates(t_frame, t_x, t_y, l_frame, l_x, l_y, tolerance_nm: float, t_z=None, l_z=None,
               tolerance_z_nm: float | None = None):
    """All candidate pairs: ``(truth index, localization index, distance)``, int64/int64/float64."""
    from scipy.spatial import cKDTree

    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(t_x) == 0 or len(l_x) == 0:
        return empty
    tol = float(tolerance_nm)
    gap = 2.0 * tol + 1.0  # frames apart in a third coordinate: never within the radius
    tree_t = cKDTree(np.column_stack([t_x, t_y, np.asarray(t_frame, np.float64) * gap]))
    tree_l = cKDTree(np.column_stack([l_x, l_y, np.asarray(l_frame, np.float64) * gap]))
    pairs = tree_t.sparse_distance_matrix(tree_l, max_distance=tol * (1 + 1e-9) + 1e-9, output_type="ndarray")
    gi = pairs["i"].astype(np.int64)
    li = pairs["j"].astype(np.int64)
    same = np.asarray(t_frame)[gi] == np.asarray(l_frame)[li]
    gi, li = gi[same], li[same]
    dx = np.asarray(l_x)[li] - np.asarray(t_x)[gi]
    dy = np.asarray(l_y)[li] - np.asarray(t_y)[gi]
    lat = np.sqrt(dx * dx + dy * dy)
    keep = lat <= tol
    if t_z is not None and l_z is not None:
        dz = np.asarray(l_z)[li] - np.asarray(t_z)[gi]
        keep &= np.abs(dz) <= float(tolerance_z_nm)
        dist = np.sqrt(dx * dx + dy * dy + dz * dz)
    else:
        dist = lat
    order = np.lexsort((li[keep], gi[keep]))
    return gi[keep][order], li[keep][order], dist[keep][order]


def _rank(gi, li, dist) -> np.ndarray:
    order = np.lexsort((li, gi, dist))
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    return rank


def greedy(gi, li, dist, max_rounds: int = 64) -> np.ndarray:
    """Indices of the candidates the Challenge's greedy matching selects."""
    n = gi.size
    if n == 0:
        return np.zeros(0, np.int64)
    rank = _rank(gi, li, dist)
    n_t, n_l = int(gi.max()) + 1, int(li.max()) + 1
    used_t = np.zeros(n_t, bool)
    used_l = np.zeros(n_l, bool)
    alive = np.arange(n)
    chosen = []
    for _ in range(max_rounds):
        if alive.size == 0:
            break
        r = rank[alive]
        best_t = np.full(n_t, n, np.int64)
        best_l = np.full(n_l, n, np.int64)
        np.minimum.at(best_t, gi[alive], r)
        np.minimum.at(best_l, li[alive], r)
        dominant = alive[(best_t[gi[alive]] == r) & (best_l[li[alive]] == r)]
        chosen.append(dominant)
        used_t[gi[dominant]] = True
        used_l[li[dominant]] = True
        alive = alive[~(used_t[gi[alive]] | used_l[li[alive]])]
    if alive.size:  # long chains: finish one by one, in order
        rest = []
        for c in alive[np.argsort(rank[alive])].tolist():
            t, loc = gi[c], li[c]
            if not used_t[t] and not used_l[loc]:
                used_t[t] = used_l[loc] = True
                rest.append(c)
        chosen.append(np.asarray(rest, np.int64))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def hungarian(gi, li, dist) -> np.ndarray:
    """Indices of the candidates of an optimal assignment (most pairs, then least total distance)."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = gi.size
    if n == 0:
        return np.zeros(0, np.int64)
    t_ids, t_inv = np.unique(gi, return_inverse=True)
    l_ids, l_inv = np.unique(li, return_inverse=True)
    nt = t_ids.size
    graph = coo_matrix((np.ones(n), (t_inv, nt + l_inv)), shape=(nt + l_ids.size,) * 2)
    _, labels = connected_components(graph, directed=False)
    comp = labels[t_inv]
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.diff(comp[order])) + 1
    chosen = []
    for group in np.split(order, bounds):
        if group.size == 1:
            chosen.append(group)
            continue
        rows, r_inv = np.unique(t_inv[group], return_inverse=True)
        cols, c_inv = np.unique(l_inv[group], return_inverse=True)
        d = dist[group]
        big = (min(rows.size, cols.size) + 1) * (float(d.max()) + 1.0)
        cost = np.full((rows.size, cols.size), big)
        cost[r_inv, c_inv] = d
        at = np.full((rows.size, cols.size), -1, np.int64)
        at[r_inv, c_inv] = group
        r, c = linear_sum_assignment(cost)
        picked = at[r, c]
        chosen.append(picked[picked >= 0])
    return np.sort(np.concatenate(chosen))


def match(t_frame, t_x, t_y, l_frame, l_x, l_y, tolerance_nm: float = 250.0, method: str = "greedy",
          t_z=None, l_z=None, tolerance_z_nm: float = 500.0) -> tuple[np.ndarray, np.ndarray]:
    """Matched pairs ``(truth indices, localization indices)``; 3-D when both z are given."""
    if method not in METHODS:
        raise ValueError(f"match method {method!r} is not one of {METHODS}")
    three_d = t_z is not None and l_z is not None
    gi, li, dist = candidates(t_frame, t_x, t_y, l_frame, l_x, l_y, tolerance_nm,
                              t_z if three_d else None, l_z if three_d else None, tolerance_z_nm)
    pick = greedy(gi, li, dist) if method == "greedy" else hungarian(gi, li, dist)
    return gi[pick], li[pick]
