"""The transformer policy and decoding: equivariance, valid tours, beam >= greedy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.decoding import _best_per_owner, beam_search, greedy, policy_decoder
from symco.plugins.bq.policy import BQTransformer
from symco.plugins.bq.tsp import BQTSPReducer
from symco.problems.tsp import TSP


def _policy(seed: int = 0) -> BQTransformer:
    torch.manual_seed(seed)  # test-only: library code never touches the global RNG
    pol = BQTransformer(2, 3, 1, num_layers=2, dim=32, heads=4, ff_dim=64)
    for blk in pol.blocks:  # ReZero gates start at 0; open them so the layers matter
        torch.nn.init.constant_(blk.alpha_attn, 0.7)
        torch.nn.init.constant_(blk.alpha_ff, 0.7)
    return pol.eval()


def _inst(b: int, n: int, seed: int) -> dict[str, torch.Tensor]:
    inst = TSP().generate(b, n, rng=np.random.default_rng(seed))
    return {k: torch.as_tensor(v) for k, v in inst.items()}


def test_permuting_nodes_permutes_logits() -> None:
    red, pol = BQTSPReducer(), _policy()
    batch = red.reduce(red.init_state(_inst(2, 12, 0)))
    perm = torch.randperm(batch.features.shape[1], generator=torch.Generator().manual_seed(1))
    from dataclasses import replace

    permuted = replace(
        batch,
        features=batch.features[:, perm],
        node_type=batch.node_type[:, perm],
        action_mask=batch.action_mask[:, perm],
        node_index=batch.node_index[:, perm],
    )
    with torch.no_grad():
        torch.testing.assert_close(pol(permuted), pol(batch)[:, perm], rtol=1e-5, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(3, 25),
    b=st.integers(1, 4),
    seed=st.integers(0, 1000),
    knn=st.sampled_from([None, 2, 5]),
)
def test_greedy_returns_permutations(n: int, b: int, seed: int, knn: int | None) -> None:
    sols = greedy(_policy(seed % 3), BQTSPReducer(), _inst(b, n, seed), knn=knn)
    TSP().check_solution({"coords": np.zeros((b, n, 2))}, sols)


@pytest.mark.parametrize("width", [1, 3, 8])
def test_beam_never_worse_than_greedy(width: int) -> None:
    tsp, red, pol = TSP(), BQTSPReducer(), _policy(1)
    inst = _inst(5, 15, 7)
    np_inst = {k: v.numpy() for k, v in inst.items()}
    g = tsp.objective(np_inst, greedy(pol, red, inst))
    beam = beam_search(pol, red, tsp, inst, width)
    tsp.check_solution(np_inst, beam)
    assert np.all(tsp.objective(np_inst, beam) <= g + 1e-9)


def test_padding_is_not_attended() -> None:
    red, pol = BQTSPReducer(), _policy()
    batch = red.reduce(red.init_state(_inst(1, 6, 2)))
    from dataclasses import replace

    padded = replace(
        batch,
        features=torch.cat([batch.features, torch.randn(1, 3, 2)], 1),
        node_type=torch.cat([batch.node_type, torch.zeros(1, 3, dtype=torch.long)], 1),
        action_mask=torch.cat([batch.action_mask, torch.zeros(1, 3, 1, dtype=torch.bool)], 1),
        node_index=torch.cat([batch.node_index, torch.full((1, 3), -1)], 1),
    )
    with torch.no_grad():
        torch.testing.assert_close(pol(padded)[:, :7], pol(batch), rtol=1e-5, atol=1e-5)


@given(
    counts=st.lists(st.integers(1, 7), min_size=1, max_size=6),
    width=st.integers(1, 5),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=50, deadline=None)
def test_best_per_owner_matches_a_loop(counts: list[int], width: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    owner = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    score = torch.randn(len(owner), generator=g)
    score[torch.rand(len(owner), generator=g) < 0.2] = -torch.inf  # impossible moves
    expected = []
    for i in range(len(counts)):  # reference: rank each instance's finite candidates on its own
        rows = [r for r in range(len(owner)) if owner[r] == i and torch.isfinite(score[r])]
        expected += sorted(rows, key=lambda r: -float(score[r]))[:width]
    got = _best_per_owner(owner, score, len(counts), width).tolist()
    assert got == expected


# -- test-time augmentation ------------------------------------------------------------------------


def _shipped(name: str, registry):
    from symco.core.manager import shipped_models
    from symco.core.training.checkpoints import load_model

    from ..conftest import _PM

    return load_model(name, shipped_models(_PM), registry).module


def test_augment_lays_out_every_image(registry) -> None:
    from symco.core.decoding import augment
    from symco.core.symmetry import SquareDihedral

    tsp = registry.problem("tsp")
    inst = {
        k: torch.as_tensor(v) for k, v in tsp.generate(3, 7, rng=np.random.default_rng(0)).items()
    }
    images = augment(tsp, SquareDihedral(), inst)
    assert images["coords"].shape == (24, 7, 2)
    torch.testing.assert_close(images["coords"][:3], inst["coords"])  # element 0: identity
    d = torch.cdist(inst["coords"], inst["coords"]).repeat(8, 1, 1)
    torch.testing.assert_close(torch.cdist(images["coords"], images["coords"]), d)
    assert len({tuple(images["coords"][k * 3, 0].tolist()) for k in range(8)}) == 8


@pytest.mark.parametrize("name", ["bq-tsp", "bq-cvrp"])
def test_d4_augmentation_never_worse_than_greedy(name: str, registry) -> None:
    from symco.core.decoding import decode_augmented
    from symco.core.symmetry import SquareDihedral

    module = _shipped(name, registry)
    problem = module.problem
    inst = problem.generate(6, 20, rng=np.random.default_rng(5))
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}

    def run(t):
        return greedy(module.policy, module.reducer, t)  # packed (B, L), -1 padded

    plain = problem.objective(inst, problem.unpack_solutions(run(tensors).numpy()))
    best = problem.unpack_solutions(
        decode_augmented(run, problem, SquareDihedral(), tensors).numpy()
    )
    problem.check_solution(inst, best)
    aug = problem.objective(inst, best)
    assert (aug <= plain + 1e-9).all() and (aug < plain - 1e-9).any()


def test_augment_refused_where_the_objective_is_not_invariant(capsys) -> None:
    from symco.core.cli import main

    code = main(["evaluate", "--ckpt", "bq-kp", "--generate", "10:1", "--augment", "d4"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "symco: error: --augment: kp's objective is not declared invariant under "
        "square-dihedral (its invariances: none)"
    ]
    assert main(["evaluate", "--ckpt", "bq-tsp", "--generate", "10:1", "--augment", "d8"]) == 2
    assert capsys.readouterr().err.startswith(
        "symco: error: --augment: unknown group 'd8'; registered: "
    )


def test_greedy_and_beam_call_on_step_after_every_step() -> None:
    """Progress inside one decode: a TSP tour of ``n`` nodes takes ``n - 1`` steps (the first
    node is where it starts)."""
    tsp, red, pol = TSP(), BQTSPReducer(), _policy(2)
    calls = []
    greedy(pol, red, _inst(2, 7, 3), on_step=lambda: calls.append("greedy"))
    beam_search(pol, red, tsp, _inst(2, 7, 3), 3, on_step=lambda: calls.append("beam"))
    assert calls == ["greedy"] * 6 + ["beam"] * 6
    dec = policy_decoder(pol, red, tsp, "greedy", knn=3)
    assert dec.run_steps is not None
    torch.testing.assert_close(dec.run_steps(_inst(2, 7, 3), lambda: None), dec.run(_inst(2, 7, 3)))


def test_decoder_memory_is_linear_in_the_nodes_and_flat_with_knn() -> None:
    """The transformer's fused attention holds no ``(nodes, nodes)`` scores: without kNN a
    decode needs memory linear in the nodes (every step sees them all), with kNN the policy's
    share stays put and only the reducer's state grows."""
    from symco.core.decoding import FIXED_BYTES, STATE_BYTES

    tsp, red, pol = TSP(), BQTSPReducer(), _policy()
    full = policy_decoder(pol, red, tsp).memory
    near = policy_decoder(pol, red, tsp, knn=100).memory
    beam = policy_decoder(pol, red, tsp, "beam:4").memory
    assert full is not None and near is not None and beam is not None
    per_node = [(full(1, 2 * n) or 0) - (full(1, n) or 0) for n in (10_000, 20_000)]
    assert per_node[1] == 2 * per_node[0] > 0  # linear, not quadratic
    assert (near(1, 20_000) or 0) - (near(1, 10_000) or 0) == STATE_BYTES * 10_000
    assert (full(1, 10_000) or 0) - FIXED_BYTES > 10 * ((near(1, 10_000) or 0) - FIXED_BYTES)
    assert (full(4, 1000) or 0) - FIXED_BYTES == 4 * ((full(1, 1000) or 0) - FIXED_BYTES)
    assert beam(2, 1000) == full(8, 1000)  # W rows per instance


def test_decoder_memory_is_unknown_for_a_policy_that_does_not_say() -> None:
    class Silent(BQTransformer):
        def forward_bytes(self, batch: int, nodes: int) -> int | None:
            return None

    dec = policy_decoder(
        Silent(2, 3, 1, num_layers=1, dim=8, heads=2, ff_dim=8), BQTSPReducer(), TSP()
    )
    assert dec.memory is not None and dec.memory(4, 1000) is None
