"""Cheap moves between OR-Tools polishes: relocate, exchange, 2-opt, 2-opt*, cross, routes
handed to other collectors, dropped visits in.

An OR-Tools descent costs 40-70 ms even on a few dozen stops, so the ruin-and-recreate loop
around it runs only a few hundred times in a 30 s budget. These moves are evaluated in
constant time on the travel and in time proportional to the changed stretch on the windows,
so a whole neighbourhood is searched in a few milliseconds: each candidate's travel delta is
priced first, and only an improving one has its time windows checked, by propagating the
earliest departure through the changed stops up to an unchanged stop whose latest feasible
start is known (forward and backward slack).

The moves follow each visit's nearest neighbours (granular neighbourhoods) and improve the
planner's objective: travel plus the value penalty of each dropped visit. Strings of 1-3
stops are relocated (within a route too: or-opt) or exchanged between routes; two routes
trade their tails (2-opt*) or their heads (cross: what matters when collectors leave from
different homes); a dropped visit is inserted next to a neighbour, alone or in exchange for
one of the few least valuable stops of that route, when that pays. When collectors leave
from different places, whole routes are also handed to the collectors whose homes suit them
best (an exact assignment over all routes at once). Routes of collectors with a lunch
break are left alone (the break leg makes the slack non-local); OR-Tools handles them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np
from ortools.graph.python import linear_sum_assignment

from routing.evaluate import INFEASIBLE, first_start
from routing.model import ProblemData, Route, Solution

MAX_SEGMENT = 3
EXCHANGE_CANDIDATES = 3


class _Route:
    """One collector's route with the arrays that make moves cheap to price and check."""

    __slots__ = (
        "c",
        "cum",
        "d",
        "end_loc",
        "load",
        "locs",
        "seq",
        "shift_end",
        "slack",
        "start_loc",
        "symmetric",
    )

    def __init__(self, search: LocalSearch, c: int, seq: list[int]) -> None:
        collector = search.data.collectors[c]
        self.c = c
        self.d = search.matrices[collector.profile]
        self.symmetric = search.symmetric[collector.profile]
        self.start_loc = collector.start_location
        self.end_loc = collector.end_location
        self.shift_end = collector.shift_end_s
        self.seq = seq
        self.locs: list[int] = []
        self.slack: list[int] = []
        self.load: list[int] = []
        self.cum: list[int] = []


class LocalSearch:
    """First-improvement local search over a plan of ``data``; see the module docstring."""

    def __init__(self, data: ProblemData, value_weight_s: float, neighbours: np.ndarray) -> None:
        self.data = data
        visits = data.visits
        self.loc = [v.location for v in visits]
        self.service = [v.service_s for v in visits]
        self.windows = [v.windows for v in visits]
        self.single = [len(v.windows) == 1 for v in visits]
        self.win_start = [v.windows[0][0] if v.windows else INFEASIBLE for v in visits]
        self.win_end = [v.windows[0][1] if v.windows else -1 for v in visits]
        self.demand = [v.demand for v in visits]
        self.penalty = [
            INFEASIBLE if v.required else round(v.value * value_weight_s) for v in visits
        ]
        self.allowed = [
            {data.collector_index[c] for c in v.allowed_collectors}
            if v.allowed_collectors
            else None
            for v in visits
        ]
        profiles = sorted({c.profile for c in data.collectors})
        self.matrices: dict[int, list[list[int]]] = {
            p: data.durations_s[p].tolist() for p in profiles
        }
        self.symmetric = {
            p: bool(np.array_equal(data.durations_s[p], data.durations_s[p].T)) for p in profiles
        }
        # Without visit limits, loads or locked stops, every move has room.
        self.unlimited = all(
            c.max_visits is None and c.capacity is None for c in data.collectors
        ) and not any(v.allowed_collectors for v in visits)
        self.lunchless = [c.lunch is None for c in data.collectors]
        # Collectors who all leave from and return to the same places cost the same on
        # any route: handing routes out anew cannot pay.
        self.homes = len({(c.start_location, c.end_location) for c in data.collectors}) > 1
        self.movable: list[bool] = []
        self.neighbours: list[list[int]] = neighbours.tolist()
        self.routes: list[_Route] = []
        self.route_of: list[int] = []
        self.pos: list[int] = []
        self._dep: dict[int, list[int]] = {}
        self.changed: list[int] = []
        self.clock = 1

    # -- route state ----------------------------------------------------------------------

    def _start(self, i: int, t: int) -> int:
        """Service start at visit i when arriving at t, or INFEASIBLE."""
        if not self.single[i]:
            return first_start(self.windows[i], t)
        if t > self.win_end[i]:
            return INFEASIBLE
        return max(t, self.win_start[i])

    def _latest(self, i: int, limit: int) -> int:
        best = -INFEASIBLE
        for start, end in self.windows[i]:
            if start <= limit:
                best = max(best, min(end, limit))
        return best

    def _refresh(self, route: _Route) -> bool:
        """Positions 0..n+1 (depots at both ends): locations, departures, latest starts, loads.

        ``slack[k]`` is the latest service start at position k (latest arrival at the end
        depot) that keeps the rest of the route feasible; ``dep`` (the earliest departure) is
        kept in ``_dep`` of the search, per collector. Returns whether the route is feasible
        (ignoring a lunch break: routes with one are never moved).
        """
        collector = self.data.collectors[route.c]
        seq = route.seq
        d = route.d
        locs = [route.start_loc, *(self.loc[i] for i in seq), route.end_loc]
        n = len(seq)
        dep = [0] * (n + 1)
        t = collector.shift_start_s
        dep[0] = t
        for k, i in enumerate(seq, 1):
            t = self._start(i, t + d[locs[k - 1]][locs[k]])
            if t >= INFEASIBLE:
                break
            t += self.service[i]
            dep[k] = t
        feasible = t < INFEASIBLE and t + d[locs[n]][locs[n + 1]] <= route.shift_end
        slack = [0] * (n + 2)
        bound = route.shift_end
        slack[n + 1] = bound
        for k in range(n, 0, -1):
            i = seq[k - 1]
            bound = self._latest(i, bound - d[locs[k]][locs[k + 1]] - self.service[i])
            slack[k] = bound
        load = [0] * (n + 2)
        total = 0
        for k, i in enumerate(seq, 1):
            total += self.demand[i]
            load[k] = total
        load[n + 1] = total
        cum = [0] * (n + 2)
        total = 0
        for k in range(1, n + 2):
            total += d[locs[k - 1]][locs[k]]
            cum[k] = total
        route.locs, route.slack, route.load, route.cum = locs, slack, load, cum
        self._dep[route.c] = dep
        return feasible

    def _fits(self, route: _Route, a: int, middle: Sequence[int], b: int) -> bool:
        """Whether positions 0..a, then ``middle``, then positions b..n+1 form a feasible route."""
        d = route.d
        t = self._dep[route.c][a]
        prev = route.locs[a]
        for i in middle:
            t = self._start(i, t + d[prev][self.loc[i]])
            if t >= INFEASIBLE:
                return False
            t += self.service[i]
            prev = self.loc[i]
        return t + d[prev][route.locs[b]] <= route.slack[b]

    def _room(self, route: _Route, added: Sequence[int], removed: Sequence[int]) -> bool:
        """Visit count and load limits after adding and removing visits."""
        if self.unlimited:
            return True
        collector = self.data.collectors[route.c]
        grown = len(route.seq) + len(added) - len(removed)
        if collector.max_visits is not None and grown > max(collector.max_visits, len(route.seq)):
            return False
        if collector.capacity is not None and added:
            load = route.load[-1] + sum(self.demand[i] for i in added)
            load -= sum(self.demand[i] for i in removed)
            if load > collector.capacity:
                return False
        for i in added:
            allowed = self.allowed[i]
            if allowed is not None and route.c not in allowed:
                return False
        return True

    # -- the search -----------------------------------------------------------------------

    def run(
        self,
        solution: Solution,
        deadline: float,
        rng: np.random.Generator,
        focus: set[str] | None = None,
    ) -> Solution:
        """Apply improving moves until none is left or the wall-clock ``deadline`` passes.

        With ``focus`` (visit ids), only those visits are tried at first, and the neighbours
        of each visit that moves: after a ruin and recreate, the rest of the plan is already
        a local optimum.
        """
        data = self.data
        self._dep = {}
        given = {r.collector_id: r.visit_ids for r in solution.routes}
        self.routes = []
        self.route_of = [-1] * len(data.visits)
        self.pos = [0] * len(data.visits)
        self.movable = list(self.lunchless)
        for c, collector in enumerate(data.collectors):
            seq = [data.visit_index[v] for v in given.get(collector.id, ())]
            route = _Route(self, c, seq)
            if not self._refresh(route):
                self.movable[c] = False  # not ours to repair: OR-Tools or the evaluator's call
            self.routes.append(route)
            self._index(route)
        # A route changed since a visit was last tried makes that visit worth trying again.
        self.changed = [1] * len(self.routes)
        tried = [0] * len(data.visits)
        self.clock = 1
        if focus is None:
            order = list(range(len(data.visits)))
        else:
            order = [data.visit_index[v] for v in focus]
        active = set(order)
        if focus is not None and self.homes:
            self._reassign()  # once, first; without a focus every pass starts with it
        improved = True
        while improved and time.time() < deadline:
            improved = False
            if focus is None and self.homes and self._reassign():
                improved = True
            if focus is not None and len(active) > len(order):
                order = list(active)
            rng.shuffle(order)
            for u in order:
                if not data.visits[u].windows:
                    continue
                r = self.route_of[u]
                if r >= 0 and not self.movable[r]:
                    continue
                stamp = tried[u]
                near = {self.route_of[v] for v in self.neighbours[u]}
                near.add(r)
                if all(rr < 0 or self.changed[rr] <= stamp for rr in near):
                    continue
                tried[u] = self.clock
                self.clock += 1
                if self._unrouted_moves(u) if r < 0 else self._routed_moves(u):
                    improved = True
                    if focus is not None:
                        active.update(self.neighbours[u])
                if time.time() >= deadline:
                    break
        return Solution(
            tuple(
                Route(c.id, tuple(data.visits[i].id for i in route.seq))
                for c, route in zip(data.collectors, self.routes, strict=True)
            )
        )

    def _reassign(self) -> bool:
        """Hand whole routes to the collectors whose homes suit them best.

        Only the legs from and to the depots depend on who drives a route, so the best
        hand-out is an assignment problem (OR-Tools' linear assignment solves it exactly).
        It catches what swapping two routes at a time cannot: a rotation among three
        collectors, none of whose pairwise swaps pays. With a ``focus`` it runs once, first.
        """
        groups: dict[int, list[int]] = {}
        for c in range(len(self.routes)):
            if self.movable[c]:
                groups.setdefault(self.data.collectors[c].profile, []).append(c)
        improved = False
        for group in groups.values():
            if len(group) < 2:
                continue
            tails: list[int] = []
            heads: list[int] = []
            costs: list[int] = []
            current = 0
            for k, c in enumerate(group):
                seq = self.routes[c].seq
                if not seq:
                    tails.extend(range(len(group)))
                    heads.extend([k] * len(group))
                    costs.extend([0] * len(group))
                    continue
                first, last = self.loc[seq[0]], self.loc[seq[-1]]
                current += self.routes[c].cum[-1]
                inner = self.routes[c].cum[-2] - self.routes[c].cum[1]
                for target, t in enumerate(group):
                    route = self.routes[t]
                    if t != c and not (
                        self._room(route, seq, route.seq)
                        and self._fits(route, 0, seq, len(route.seq) + 1)
                    ):
                        continue
                    tails.append(target)
                    heads.append(k)
                    d = route.d
                    costs.append(d[route.start_loc][first] + inner + d[last][route.end_loc])
            assignment = linear_sum_assignment.SimpleLinearSumAssignment()
            assignment.add_arcs_with_cost(np.array(tails), np.array(heads), np.array(costs))
            if assignment.solve() != assignment.OPTIMAL or assignment.optimal_cost() >= current:
                continue
            seqs = [self.routes[c].seq for c in group]
            for target, t in enumerate(group):
                seq = seqs[assignment.right_mate(target)]
                if seq is not self.routes[t].seq:
                    self._apply(self.routes[t], list(seq))
            improved = True
        return improved

    def _index(self, route: _Route) -> None:
        for k, i in enumerate(route.seq, 1):
            self.route_of[i] = route.c
            self.pos[i] = k

    def _apply(self, route: _Route, seq: list[int]) -> None:
        route.seq = seq
        self._refresh(route)
        self._index(route)
        self.changed[route.c] = self.clock
        self.clock += 1

    def _unrouted_moves(self, u: int) -> bool:
        """Insert dropped visit u next to a neighbour, alone or in exchange for a visit of
        that route worth less (one of its cheapest few), whichever gains most."""
        best = (0, -1, 0, 0)  # gain, route, insertion gap, removed position (0: none)
        lu = self.loc[u]
        pen_u = self.penalty[u]
        cheapest: dict[int, list[int]] = {}
        for v in self.neighbours[u]:
            r = self.route_of[v]
            if r < 0 or not self.movable[r]:
                continue
            route = self.routes[r]
            d = route.d
            j = self.pos[v]
            locs = route.locs
            seq = route.seq
            if r not in cheapest:
                worth_less = [k for k in range(1, len(seq) + 1) if self.penalty[seq[k - 1]] < pen_u]
                worth_less.sort(key=lambda k: self.penalty[seq[k - 1]])
                cheapest[r] = worth_less[:EXCHANGE_CANDIDATES]
            for a in (j - 1, j):  # before or after v
                inserted = d[locs[a]][lu] + d[lu][locs[a + 1]] - d[locs[a]][locs[a + 1]]
                gain = pen_u - inserted
                if (
                    gain > best[0]
                    and self._room(route, [u], [])
                    and self._fits(route, a, [u], a + 1)
                ):
                    best = (gain, r, a, 0)
                for q in cheapest[r]:
                    if q == a:
                        delta = (
                            d[locs[q - 1]][lu]
                            + d[lu][locs[a + 1]]
                            - d[locs[q - 1]][locs[q]]
                            - d[locs[q]][locs[a + 1]]
                        )
                    elif q == a + 1:
                        delta = (
                            d[locs[a]][lu]
                            + d[lu][locs[q + 1]]
                            - d[locs[a]][locs[q]]
                            - d[locs[q]][locs[q + 1]]
                        )
                    else:
                        delta = inserted - (
                            d[locs[q - 1]][locs[q]]
                            + d[locs[q]][locs[q + 1]]
                            - d[locs[q - 1]][locs[q + 1]]
                        )
                    gain = pen_u - self.penalty[seq[q - 1]] - delta
                    if gain <= best[0] or not self._room(route, [u], [seq[q - 1]]):
                        continue
                    lo, hi = min(a, q - 1), max(a + 1, q + 1)
                    if self._fits(route, lo, _exchanged(seq, u, a, q, lo + 1, hi), hi):
                        best = (gain, r, a, q)
        _, r, a, q = best
        if r < 0:
            return False
        route = self.routes[r]
        if q:
            self.route_of[route.seq[q - 1]] = -1
        self._apply(route, _exchanged(route.seq, u, a, q, 1, len(route.seq) + 1))
        return True

    def _routed_moves(self, u: int) -> bool:
        """The best improving move that brings u next to one of its neighbours, applied."""
        ra = self.route_of[u]
        A = self.routes[ra]
        i = self.pos[u]
        na = len(A.seq)
        da, la = A.d, A.locs
        best_gain = 0
        best: tuple[int, ...] | None = None
        segments = []
        for length in range(1, min(MAX_SEGMENT, na - i + 1) + 1):
            removed = (
                da[la[i - 1]][la[i]]
                + da[la[i + length - 1]][la[i + length]]
                - da[la[i - 1]][la[i + length]]
            )
            segments.append(
                (length, A.seq[i - 1 : i - 1 + length], la[i], la[i + length - 1], removed)
            )
        for v in self.neighbours[u]:
            rb = self.route_of[v]
            if rb < 0 or not self.movable[rb]:
                continue
            B = self.routes[rb]
            j = self.pos[v]
            db, lb = B.d, B.locs
            if rb != ra:
                # Relocate a string starting at u (1..3 stops) to just after or before v.
                for length, seg, first, last, removed in segments:
                    inner = 0
                    if db is not da:
                        inner = sum(
                            db[self.loc[x]][self.loc[y]] for x, y in itertools.pairwise(seg)
                        )
                        inner -= sum(
                            da[self.loc[x]][self.loc[y]] for x, y in itertools.pairwise(seg)
                        )
                    for a in (j - 1, j):
                        added = db[lb[a]][first] + db[last][lb[a + 1]] - db[lb[a]][lb[a + 1]]
                        gain = removed - added - inner
                        if (
                            gain > best_gain
                            and self._room(B, seg, [])
                            and self._fits(B, a, seg, a + 1)
                            and self._fits(A, i - 1, (), i + length)
                        ):
                            best_gain, best = gain, (0, rb, a, length)
                # Exchange strings of 1..3 stops starting at u and at v.
                nb = len(B.seq)
                for n_a, seg_a, first_a, last_a, _ in segments:
                    out_a = da[la[i - 1]][first_a] + da[last_a][la[i + n_a]]
                    for n_b in range(1, min(MAX_SEGMENT, nb - j + 1) + 1):
                        if (n_a > 1 or n_b > 1) and da is not db:
                            break
                        first_b, last_b = lb[j], lb[j + n_b - 1]
                        gain = (
                            out_a
                            + db[lb[j - 1]][first_b]
                            + db[last_b][lb[j + n_b]]
                            - da[la[i - 1]][first_b]
                            - da[last_b][la[i + n_a]]
                            - db[lb[j - 1]][first_a]
                            - db[last_a][lb[j + n_b]]
                        )
                        if gain <= best_gain:
                            continue
                        seg_b = B.seq[j - 1 : j - 1 + n_b]
                        if (
                            self._room(A, seg_b, seg_a)
                            and self._room(B, seg_a, seg_b)
                            and self._fits(A, i - 1, seg_b, i + n_a)
                            and self._fits(B, j - 1, seg_a, j + n_b)
                        ):
                            best_gain, best = gain, (1, rb, j, n_a, n_b)
                # 2-opt*: u then v, A's tail goes to B.
                if da is db:
                    new_a = (
                        da[la[i]][lb[j]]
                        + (self._span(B, j, nb))
                        + da[lb[nb]][la[na + 1]]
                        - (self._span(A, i, na + 1))
                    )
                    new_b = (
                        db[lb[j - 1]][la[i + 1]]
                        + self._span(A, i + 1, na)
                        + db[la[na]][lb[nb + 1]]
                        - self._span(B, j - 1, nb + 1)
                    )
                    if i == na:
                        new_b = db[lb[j - 1]][lb[nb + 1]] - self._span(B, j - 1, nb + 1)
                    gain = -(new_a + new_b)
                    if gain > best_gain:
                        moved_b = B.seq[j - 1 :]
                        moved_a = A.seq[i:]
                        if (
                            self._room(A, moved_b, moved_a)
                            and self._room(B, moved_a, moved_b)
                            and self._fits(A, i, moved_b, na + 1)
                            and self._fits(B, j - 1, moved_a, nb + 1)
                        ):
                            best_gain, best = gain, (2, rb, j)
                    # Cross: the same two new arcs, but the heads change collectors instead
                    # of the tails (u then v on B's route, B's head before v on A's): which
                    # home a stretch leaves from matters as much as where it ends (with one
                    # home for all, it is 2-opt* again).
                    if self.homes and (i < na or j > 1):
                        new_b = (
                            db[lb[0]][la[1]]
                            + self._span(A, 1, i)
                            + db[la[i]][lb[j]]
                            + self._span(B, j, nb + 1)
                        )
                        if j > 1:
                            new_a = (
                                da[la[0]][lb[1]]
                                + self._span(B, 1, j - 1)
                                + da[lb[j - 1]][la[i + 1]]
                                + self._span(A, i + 1, na + 1)
                            )
                        else:
                            new_a = da[la[0]][la[i + 1]] + self._span(A, i + 1, na + 1)
                        gain = A.cum[na + 1] + B.cum[nb + 1] - new_a - new_b
                        if gain > best_gain:
                            head_a = A.seq[:i]
                            head_b = B.seq[: j - 1]
                            if (
                                self._room(A, head_b, head_a)
                                and self._room(B, head_a, head_b)
                                and self._fits(A, 0, head_b, i + 1)
                                and self._fits(B, 0, head_a, j)
                            ):
                                best_gain, best = gain, (5, rb, j)
            else:
                # Same route: 2-opt (u then v, reversing what lies between) and or-opt.
                if j > i + 1:
                    rev = A.seq[i:j][::-1]
                    old = self._span(A, i, j + 1)
                    new = da[la[i]][la[j]] + da[la[i + 1]][la[j + 1]]
                    if A.symmetric:
                        new += A.cum[j] - A.cum[i + 1]
                    else:
                        new += sum(da[self.loc[x]][self.loc[y]] for x, y in itertools.pairwise(rev))
                    gain = old - new
                    if gain > best_gain and self._fits(A, i, rev, j + 1):
                        best_gain, best = gain, (3, ra, j)
                for length, seg, _, _, removed in segments:
                    for a in (j - 1, j):
                        if i - 1 <= a <= i + length - 1:
                            continue
                        added = da[la[a]][la[i]] + da[la[i + length - 1]][la[a + 1]]
                        added -= da[la[a]][la[a + 1]]
                        gain = removed - added
                        if gain <= best_gain:
                            continue
                        if a < i:
                            middle = seg + A.seq[a : i - 1]
                            ok = self._fits(A, a, middle, i + length)
                        else:
                            middle = A.seq[i - 1 + length : a] + seg
                            ok = self._fits(A, i - 1, middle, a + 1)
                        if ok:
                            best_gain, best = gain, (4, ra, a, length)
        if best is None:
            return False
        self._do(u, best)
        return True

    def _span(self, route: _Route, a: int, b: int) -> int:
        """Travel from position a to position b along the route."""
        return route.cum[b] - route.cum[a]

    def _do(self, u: int, move: tuple[int, ...]) -> None:
        kind, rb = move[0], move[1]
        A = self.routes[self.route_of[u]]
        B = self.routes[rb]
        i = self.pos[u]
        if kind == 0:
            a, length = move[2], move[3]
            seg = A.seq[i - 1 : i - 1 + length]
            self._apply(A, A.seq[: i - 1] + A.seq[i - 1 + length :])
            self._apply(B, B.seq[:a] + seg + B.seq[a:])
        elif kind == 1:
            j, n_a, n_b = move[2], move[3], move[4]
            seg_a, seg_b = A.seq[i - 1 : i - 1 + n_a], B.seq[j - 1 : j - 1 + n_b]
            self._apply(A, A.seq[: i - 1] + seg_b + A.seq[i - 1 + n_a :])
            self._apply(B, B.seq[: j - 1] + seg_a + B.seq[j - 1 + n_b :])
        elif kind == 2:
            j = move[2]
            seq_a = A.seq[:i] + B.seq[j - 1 :]
            seq_b = B.seq[: j - 1] + A.seq[i:]
            self._apply(A, seq_a)
            self._apply(B, seq_b)
        elif kind == 3:
            j = move[2]
            self._apply(A, A.seq[:i] + A.seq[i:j][::-1] + A.seq[j:])
        elif kind == 5:
            j = move[2]
            seq_a = B.seq[: j - 1] + A.seq[i:]
            seq_b = A.seq[:i] + B.seq[j - 1 :]
            self._apply(A, seq_a)
            self._apply(B, seq_b)
        else:
            a, length = move[2], move[3]
            seq = A.seq
            seg = seq[i - 1 : i - 1 + length]
            if a < i:
                new = seq[:a] + seg + seq[a : i - 1] + seq[i - 1 + length :]
            else:
                new = seq[: i - 1] + seq[i - 1 + length : a] + seg + seq[a:]
            self._apply(A, new)


def _exchanged(seq: list[int], u: int, a: int, q: int, first: int, stop: int) -> list[int]:
    """Positions ``first``..``stop - 1`` of a route after inserting u after position a and
    removing position q (0: nothing removed); positions are 1-based as in ``_Route``."""
    middle = []
    for k in range(first, stop):
        if k == a + 1:
            middle.append(u)
        if k != q:
            middle.append(seq[k - 1])
    if a + 1 == stop:
        middle.append(u)
    return middle
