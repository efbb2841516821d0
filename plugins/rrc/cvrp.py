"""Random re-construction for the CVRP: re-build the tail of neighbouring routes.

Routes can be served in any order and either direction at the same cost, so each proposal orders
a solution's routes by the angle of their centroid around the depot, rotated so that a random
route comes last, with each route reversed at random, and re-builds the last ``K`` customers of
that giant tour — the chosen route, its angular neighbours and the end of the route where the cut
falls. What is left after the prefix is BQ's reduced CVRP state: the vehicle on the customer
``o`` before the cut with the capacity its route has left, the ``K`` customers, the depot. It is
decoded as the small instance ``[depot, o, c_1..c_K]`` from the partial solution ``[0, o]``, where
``o``'s demand stands for everything its route served up to it (so the capacity left matches);
the depot-to-``o`` leg is the same before and after, so comparing the small instance's
objective compares the tails. ``K`` is drawn once per step (one state size for the batch), and
``candidates`` proposals per instance are decoded together; the best improving one is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from symco.core.policy import Policy
from symco.core.problem import Problem
from symco.core.reducer import SymmetryReducer
from symco.core.symmetry.group import Group
from symco.core.tensors import gather_rows
from symco.plugins.rrc.reconstruct import Proposal, Rebuilt, Reconstruction, in_float64, rows_of
from symco.problems.cvrp.problem import join_routes, split_routes


@dataclass(frozen=True)
class RoutesState:
    """``instances`` (float64 coordinates), ``solutions`` (giant tours), ``cost`` (B,) float64."""

    instances: dict[str, Tensor]
    solutions: list[np.ndarray]
    cost: Tensor


class CVRPReconstruction(Reconstruction[RoutesState]):
    """RRC for the CVRP with any CVRP reducer whose ``state_from_partial`` takes giant-tour
    prefixes (``[0, a, b, 0, c]``); see the module docstring."""

    name: ClassVar[str] = "rrc"
    problem: ClassVar[str] = "cvrp"

    def __init__(
        self,
        problem: Problem,
        policy: Policy | None = None,
        reducer: SymmetryReducer[Any] | None = None,
        *,
        knn: int | None = None,
        augment: Group | None = None,
        views: Group | None = None,
        min_length: int = 8,
        max_length: int = 100,
        candidates: int = 4,
    ) -> None:
        """:param min_length: fewest customers re-built by one proposal.
        :param max_length: most customers re-built (capped at ``N - 1``).
        :param candidates: proposals per instance per step (different routes and directions).
        """
        super().__init__(problem, policy, reducer, knn=knn, augment=augment, views=views)
        if not 1 <= min_length <= max_length or candidates < 1:
            raise ValueError(
                f"need 1 <= min_length <= max_length and candidates >= 1, got {min_length}, "
                f"{max_length}, {candidates}"
            )
        self.min_length, self.max_length, self.candidates = min_length, max_length, candidates

    def start(self, instances: Mapping[str, Tensor], solutions: Tensor) -> RoutesState:
        exact = in_float64(instances)
        # routes are cut and re-ordered on the host (a route list per instance)
        unpacked = self.prob.unpack_solutions(solutions.cpu().numpy())
        sols = [join_routes(split_routes(s)) for s in unpacked]  # canonical: no empty routes
        cost = self.prob.objective_torch(exact, self._packed(sols, exact))
        return RoutesState(exact, sols, cost)

    def _packed(self, sols: list[np.ndarray], instances: Mapping[str, Tensor]) -> Tensor:
        return torch.as_tensor(self.prob.pack_solutions(sols), device=instances["coords"].device)

    def costs(self, state: RoutesState) -> Tensor:
        return state.cost

    def solutions(self, state: RoutesState) -> Tensor:
        return self._packed(state.solutions, state.instances)

    def converged(self, state: RoutesState) -> bool:
        return state.instances["coords"].shape[1] < 3  # one customer: nothing to re-order

    def propose(self, state: RoutesState, generator: torch.Generator) -> Proposal:
        inst = state.instances
        coords, demands = inst["coords"], inst["demands"]
        n = coords.shape[1] - 1  # customers
        dev = coords.device
        if n < 2:
            empty = torch.zeros(0, dtype=torch.long, device=dev)
            return Proposal({}, empty[:, None], empty[:, None], empty, {})
        hi = min(self.max_length, n - 1)
        k = int(torch.randint(min(self.min_length, hi), hi + 1, (1,), generator=generator))
        xy, dem = coords.cpu().numpy(), demands.cpu().numpy()
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        rng = np.random.default_rng(seed)  # host-side choices, drawn from the generator's seed
        owner, prefixes, windows, used, tails = [], [], [], [], []
        for b, sol in enumerate(state.solutions):
            routes = split_routes(sol)
            centre = np.stack([xy[b, r].mean(axis=0) for r in routes]) - xy[b, 0]
            by_angle = np.argsort(np.arctan2(centre[:, 1], centre[:, 0]), kind="stable")
            for _ in range(self.candidates):
                last = int(rng.integers(len(routes)))
                order = np.roll(by_angle, -(last + 1))  # the chosen route comes last
                flip = rng.random(len(routes)) < 0.5
                ordered = [routes[i][::-1] if flip[i] else routes[i] for i in order]
                route_id = np.concatenate([np.full(len(r), j) for j, r in enumerate(ordered)])
                flat = np.concatenate(ordered)  # (N,) customers in giant-tour order
                cut = n - k  # customers kept in the prefix (>= 1)
                o_route = route_id[cut - 1]
                on_route = route_id[:cut] == o_route
                owner.append(b)
                prefixes.append(join_routes(_routes_of(flat[:cut], route_id[:cut])))
                windows.append(flat[cut:])
                used.append(dem[b, flat[:cut][on_route]].sum())
                # the tail as it is, in small-instance indices (o = 1, window = 2..K+1)
                tail, prev = [0, 1], o_route
                for j in range(cut, n):
                    if route_id[j] != prev:
                        tail.append(0)
                        prev = route_id[j]
                    tail.append(2 + j - cut)
                tails.append(np.asarray(tail, dtype=np.int64))
        own = torch.as_tensor(owner, device=dev)
        window = torch.as_tensor(np.stack(windows), device=dev)  # (R, K)
        origin = torch.as_tensor([int(p[-1]) for p in prefixes], device=dev)
        nodes = torch.cat([torch.zeros_like(origin)[:, None], origin[:, None], window], dim=1)
        sub = rows_of(inst, own, skip="coords")
        sub["coords"] = gather_rows(coords[own], nodes)  # (R, K+2, 2)
        sub_dem = gather_rows(demands[own], nodes)
        sub_dem[:, 1] = torch.as_tensor(used, dtype=sub_dem.dtype, device=dev)
        sub["demands"] = sub_dem
        r = len(owner)
        partial = torch.tensor([0, 1], device=dev).expand(r, 2)
        current = torch.as_tensor(self.prob.pack_solutions(tails), device=dev)
        prefix = torch.as_tensor(self.prob.pack_solutions(prefixes), device=dev)
        return Proposal(sub, partial, current, own, {"nodes": nodes, "prefix": prefix})

    def splice(self, state: RoutesState, proposal: Proposal, rebuilt: Rebuilt) -> RoutesState:
        if not bool(rebuilt.better.any()):
            return state
        saving = torch.where(rebuilt.better, rebuilt.current_cost - rebuilt.cost, -torch.inf)
        nodes, prefix = (
            proposal.extra["nodes"].cpu().numpy(),
            proposal.extra["prefix"].cpu().numpy(),
        )
        sols = list(state.solutions)
        owner, saving_np = proposal.owner.cpu().numpy(), saving.cpu().numpy()
        solution = rebuilt.solution.cpu().numpy()
        for b in np.unique(owner[np.isfinite(saving_np)]):
            rows = np.flatnonzero(owner == b)
            best = int(rows[np.argmax(saving_np[rows])])
            tail = solution[best, 2:]
            tail = nodes[best][tail[tail >= 0]]  # small-instance indices -> customers (0 -> depot)
            head = prefix[best][prefix[best] >= 0]
            sols[int(b)] = join_routes(split_routes(np.concatenate([head, tail])))
        cost = self.prob.objective_torch(state.instances, self._packed(sols, state.instances))
        # never worse, even by a rounding of the objective (the tails were compared, not tours)
        keep = cost <= state.cost
        sols = [new if bool(ok) else old for new, old, ok in zip(sols, state.solutions, keep)]
        return replace(state, solutions=sols, cost=torch.where(keep, cost, state.cost))


def _routes_of(customers: np.ndarray, route_id: np.ndarray) -> list[np.ndarray]:
    """``customers`` split where ``route_id`` changes."""
    cuts = np.flatnonzero(np.diff(route_id)) + 1
    return list(np.split(customers, cuts))
