"""Every encoding by registry name or class path; networkx in, PyG Data out; PyG math reused."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import AddLaplacianEigenvectorPE, AddRandomWalkPE

from symco.core.errors import InvalidInstanceError, UnknownNameError
from symco.core.registry import Registry
from symco.encodings import RWPE, SPE, Encoding, LapPE, build_encoding

NAMES = ["lappe", "rwpe", "signnet", "spe"]


def test_registered(registry: Registry) -> None:
    assert set(NAMES) <= set(registry.names("encoding"))
    for name in NAMES:
        entry = registry.entry("encoding", name)
        assert entry.plugin == "encodings" and issubclass(entry.obj, Encoding)


@pytest.mark.parametrize("name", NAMES)
def test_networkx_in_data_out(name: str, registry: Registry) -> None:
    torch.manual_seed(0)
    enc = build_encoding(name, registry=registry)
    assert enc is not None
    data = enc.encode(nx.petersen_graph())
    assert isinstance(data, Data) and data.pe.shape == (10, enc.out_dim)
    assert torch.isfinite(data.pe).all()
    assert enc.training  # encode() restores the mode


def test_by_class_path_and_mapping(registry: Registry) -> None:
    a = build_encoding("symco.encodings.SPE", {"m": 3})
    b = build_encoding({"class_path": "symco.encodings.spe.SPE", "init_args": {"m": 5}})
    c = build_encoding(
        {"class_path": "rwpe", "init_args": {"walk_length": 4}}, {"walk_length": 6}, registry
    )
    assert isinstance(a, SPE) and a.m == 3 and isinstance(b, SPE) and b.m == 5
    assert isinstance(c, RWPE) and c.out_dim == 6
    assert build_encoding(None) is None and build_encoding("none") is None


@pytest.mark.parametrize(
    "spec, error, message",
    [
        ("nope", UnknownNameError, "unknown encoding 'nope'"),
        ("symco.encodings.Nope", UnknownNameError, "cannot be imported"),
        ("torch.nn.Linear", InvalidInstanceError, "not a symco.encodings.Encoding"),
        ({"class_path": "spe", "init_argz": {}}, InvalidInstanceError, "class_path"),
        ({"class_path": "spe", "init_args": {"mm": 1}}, InvalidInstanceError, "mm"),
    ],
)
def test_bad_specs(spec: object, error: type[Exception], message: str, registry: Registry) -> None:
    with pytest.raises(error, match=message):
        build_encoding(spec, registry=registry)  # type: ignore[arg-type]


def test_names_need_the_registry() -> None:
    with pytest.raises(UnknownNameError, match="given by name: use its class path"):
        build_encoding("spe")


def test_wrappers_reuse_torch_geometric() -> None:
    data = Data(edge_index=torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]]), num_nodes=4)
    rw = RWPE(5).encode(data).pe
    ref = AddRandomWalkPE(5, attr_name="x")(data.clone()).x
    torch.testing.assert_close(rw, ref)
    lap = LapPE(2).encode(data).pe
    ref = AddLaplacianEigenvectorPE(2, attr_name="x", is_undirected=True)(data.clone()).x.float()
    torch.testing.assert_close(lap.abs(), ref.abs())  # the same eigenvectors, up to sign
    # graphs smaller than k + 1 are zero-padded so they still batch
    assert LapPE(6).encode(data).pe.shape == (4, 6)


def test_lappe_uses_its_own_generator() -> None:
    """Signs come from the encoding's seeded generator: reproducible, global RNG untouched."""
    data = Data(edge_index=torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]]), num_nodes=4)
    state = torch.get_rng_state()
    a = LapPE(2, seed=3).transform()(data.clone()).lap_pe
    b = LapPE(2, seed=3).transform()(data.clone()).lap_pe
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    enc = LapPE(2, seed=3)
    flipped = [enc(Data(lap_pe=a, batch=None)) for _ in range(4)]
    assert torch.equal(torch.get_rng_state(), state)
    assert any(not torch.equal(f, flipped[0]) for f in flipped)  # fresh signs while training


def test_lappe_flips_signs_only_in_training() -> None:
    enc = LapPE(3)
    data = enc.transform()(Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3))
    enc.eval()
    assert torch.equal(enc(data), data.lap_pe)
    enc.train()
    torch.manual_seed(0)
    outs = {tuple(enc(data)[0].sign().tolist()) for _ in range(20)}
    assert len(outs) > 1 and torch.equal(enc(data).abs(), data.lap_pe.abs())
