"""``symco import-model --from bq-nco`` on synthetic official-layout checkpoints: the imported
model computes the official forward pass (written here from the published description, on the
official key names), and every wrong file is refused in one line."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from symco.core.cli import main
from symco.core.training.checkpoints import load_model
from symco.plugins.bq.importer import official_key
from symco.plugins.bq.perceiver import BQPerceiver

ARCH = {"num_layers": 2, "dim": 16, "num_latents": 6, "latent_dim": 8, "heads": 4, "ff_dim": 12}
FEATURES = {"tsp": (2, 1), "cvrp": (4, 2)}


def official_net(problem: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random network in the official layout (key names and shapes of the published files)."""
    torch.manual_seed(seed)
    f, a = FEATURES[problem]
    policy = BQPerceiver(f, 3, a, **ARCH)
    net = {}
    for key, value in policy.state_dict().items():
        value = value + 0.1 * torch.randn_like(value)  # non-zero biases, norms away from 1
        if key == "latents":
            value = value[None]
        elif key == "node_type.weight":
            value = value[1:]  # begin/end tokens only
        net[official_key(key)] = value
    return net


def write_official(path: Path, problem: str, **changes) -> Path:
    net = official_net(problem)
    for k, v in changes.items():
        if v is None:
            net.pop(k)
        else:
            net[k] = v
    torch.save({"net": net, "optimizer": {}, "current_iter": 3, "other": {}}, path)
    return path


def _ln(x: torch.Tensor, net: dict, key: str) -> torch.Tensor:
    return torch.nn.functional.layer_norm(x, x.shape[-1:], net[f"{key}.weight"], net[f"{key}.bias"])


def _official_block(net: dict, p: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The published block equations, one head at a time, on the official keys."""
    a, b = _ln(x, net, f"{p}.layer_norm1"), _ln(y, net, f"{p}.layer_norm2")
    heads, _, h = net[f"{p}.attn.lambda1"].shape
    o = torch.zeros_like(y)
    for k in range(heads):
        r = a @ net[f"{p}.attn.lambda1"][k] + net[f"{p}.attn.bias_lambda"][k]  # (B, M, h)
        q = b @ net[f"{p}.attn.lambda2"][k]  # (B, N, h)
        w = (r @ q.transpose(1, 2) / math.sqrt(h)).softmax(dim=1)  # (B, M, N) over m
        mixed = (
            w.transpose(1, 2) @ (a @ net[f"{p}.attn.theta1"][k]) + net[f"{p}.attn.bias_theta"][k]
        )
        o = o + mixed @ net[f"{p}.attn.theta2"][k].T
    z = y + o
    hid = torch.relu(
        _ln(z, net, f"{p}.layer_norm3") @ net[f"{p}.linear1.weight"].T + net[f"{p}.linear1.bias"]
    )
    return z + hid @ net[f"{p}.linear2.weight"].T + net[f"{p}.linear2.bias"]


def official_scores(net: dict, seq: torch.Tensor) -> torch.Tensor:
    """Scores of the official forward pass on node sequences ``seq`` (B, M, F) whose first
    node is the current one and last the destination."""
    e = seq @ net["input_emb.weight"].T + net["input_emb.bias"]
    e[:, 0] += net["begin_end_tokens.weight"][0]
    e[:, -1] += net["begin_end_tokens.weight"][1]
    z = net["latent_array"].expand(seq.shape[0], -1, -1)
    z = _official_block(net, "encoder", e, z)
    for i in range(sum(k.endswith("attn.lambda1") for k in net) - 2):
        z = _official_block(net, f"layers.{i}", z, z)
    out = _official_block(net, "decoder", z, e)
    return out @ net["scores_projection.weight"].T + net["scores_projection.bias"]


def _import(tmp_path: Path, problem: str, src: Path, *extra: str) -> Path:
    out = tmp_path / f"{problem}.pt"
    assert main(["import-model", "--from", "bq-nco", "--problem", problem, str(src),
                 "--out", str(out), *extra]) == 0  # fmt: skip
    return out


def test_tsp_import_computes_the_official_forward(tmp_path: Path, registry) -> None:
    src = write_official(tmp_path / "tsp.best", "tsp")
    model = load_model(str(_import(tmp_path, "tsp", src)), {}, registry).module
    coords = torch.rand(3, 9, 2)
    batch = model.reducer.reduce(model.reducer.init_state({"coords": coords}))
    got = model.policy.double()(replace(batch, features=batch.features.double()))[..., 0]
    seq = torch.cat([coords, coords[:, :1]], dim=1).double()  # official [n0, ..., n_{N-1}, n0]
    want = official_scores({k: v.double() for k, v in official_net("tsp").items()}, seq)[..., 0]
    assert torch.isinf(got[:, [0, -1]]).all()
    torch.testing.assert_close(got[:, 1:-1], want[:, 1:-1], rtol=1e-10, atol=1e-10)


def test_cvrp_import_computes_the_official_forward(tmp_path: Path, registry) -> None:
    src = write_official(tmp_path / "cvrp.best", "cvrp")
    model = load_model(str(_import(tmp_path, "cvrp", src)), {}, registry).module
    gen = np.random.default_rng(0)
    inst = model.problem.generate(2, 7, rng=gen)
    tensors = {k: torch.as_tensor(v) for k, v in inst.items()}
    red = model.reducer
    state = red.init_state(tensors)
    state = red.step(state, torch.tensor([3, 5]), torch.tensor([0, 1]))  # one move in
    batch = red.reduce(state)
    got = model.policy.double()(replace(batch, features=batch.features.double()))  # (B, M, 2)
    nodes = batch.node_index
    cap = tensors["capacity"].double()[:, None]
    left = (state.load.double()[:, None] / cap).expand(-1, nodes.shape[1])
    seq = torch.stack([
        *torch.gather(tensors["coords"].float().double(), 1, nodes[..., None].expand(-1, -1, 2)).unbind(-1),
        torch.gather(tensors["demands"].double(), 1, nodes) / cap, left,
    ], dim=-1)  # fmt: skip
    want = official_scores({k: v.double() for k, v in official_net("cvrp").items()}, seq)
    fin = torch.isfinite(got)
    assert fin[:, 1:-1, 1].all()  # every customer is reachable via the depot
    # the reducer divides demands by the capacity in float32
    torch.testing.assert_close(got[fin], want[fin], rtol=1e-6, atol=1e-6)


def test_imported_model_records_source_and_licence(tmp_path: Path, capsys) -> None:
    src = write_official(tmp_path / "tsp.best", "tsp")
    (tmp_path / "LICENCE").write_text("Creative Commons Attribution-NonCommercial-ShareAlike\n")
    out = _import(tmp_path, "tsp", src)
    assert "licence text recorded" in capsys.readouterr().out
    obj = torch.load(out, weights_only=True)
    assert obj["source"]["licence"] == "CC BY-NC-SA 4.0"
    assert obj["source"]["file"] == "tsp.best" and len(obj["source"]["sha256"]) == 64
    assert "NonCommercial" in obj["source"]["licence_text"]
    assert main(["info", str(out), "--licence-text"]) == 0
    text = capsys.readouterr().out
    assert "CC BY-NC-SA 4.0" in text and "NAVER" in text and "--from bq-nco tsp.best" in text
    assert "NonCommercial-ShareAlike" in text


def test_evaluate_check_symmetry_and_decoders_on_an_import(tmp_path: Path, capsys) -> None:
    out = _import(tmp_path, "tsp", write_official(tmp_path / "tsp.best", "tsp"))
    jsonl = tmp_path / "e.jsonl"
    argv = ["evaluate", "--ckpt", str(out), "--generate", "12:2", "--reference", "none", "--quiet"]
    for extra in (["--decode", "beam:3"], ["--augment", "d4"], ["--knn", "5"],
                  ["--improve", "rrc+2opt", "--improve-steps", "3", "--out", str(jsonl)]):  # fmt: skip
        assert main(argv + extra) == 0, extra
    assert "+rrc+2opt" in capsys.readouterr().out
    assert len(jsonl.read_text().splitlines()) == 2
    assert json.loads(jsonl.read_text().splitlines()[0])["improve_steps"] == 3
    assert main(["check-symmetry", "--ckpt", str(out)]) == 0


def _first_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    ("problem", "changes", "message"),
    [
        ("cvrp", {}, "input_emb.weight has 2 input features, cvrp takes 4: a tsp checkpoint"),
        ("tsp", {"encoder.attn.theta2": None}, "missing key 'encoder.attn.theta2' in 'net'"),
        ("tsp", {"decoder.attn.extra": torch.zeros(1)}, "unexpected key 'decoder.attn.extra'"),
        (
            "tsp",
            {"layers.1.linear2.bias": torch.zeros(5)},
            "'layers.1.linear2.bias' has shape (5,)",
        ),
        ("kp", {}, "no bq-nco importer for problem 'kp'; known: cvrp, tsp"),
    ],
)
def test_wrong_checkpoints_fail_in_one_line(
    tmp_path: Path, capsys, problem: str, changes: dict, message: str
) -> None:
    src = write_official(tmp_path / "tsp.best", "tsp", **changes)
    argv = ["import-model", "--from", "bq-nco", "--problem", problem, str(src),
            "--out", str(tmp_path / "o.pt")]  # fmt: skip
    assert main(argv) == 2
    assert message in _first_error(capsys)
    assert not (tmp_path / "o.pt").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a checkpoint", "not a loadable checkpoint"),
        (None, "no 'net' state dict of a BQ-NCO checkpoint (has a, b)"),
    ],
)
def test_foreign_files_fail_in_one_line(tmp_path: Path, capsys, content, message: str) -> None:
    src = tmp_path / "x.best"
    if content is None:
        torch.save({"a": 1, "b": torch.zeros(1)}, src)
    else:
        src.write_bytes(content)
    argv = ["import-model", "--from", "bq-nco", "--problem", "tsp", str(src), "--out",
            str(tmp_path / "o.pt")]  # fmt: skip
    assert main(argv) == 2
    assert message in _first_error(capsys)


def test_unknown_or_dataset_importer_is_refused(tmp_path: Path, capsys) -> None:
    src = write_official(tmp_path / "tsp.best", "tsp")
    base = ["--problem", "tsp", str(src), "--out", str(tmp_path / "o.pt")]
    assert main(["import-model", "--from", "rl4co", *base]) == 2
    assert (
        _first_error(capsys)
        == "symco: error: --from: no model importer 'rl4co'; registered: bq-nco"
    )
    assert main(["import", "--from", "bq-nco", "--problem", "tsp", "x.npz", "--out", "o.npz"]) == 2
    assert (
        _first_error(capsys)
        == "symco: error: --from: no dataset importer 'bq-nco'; registered: rl4co"
    )
    assert main(["import-model", "--from", "bq-nco", *base[:-1], str(tmp_path / "o.ckpt")]) == 2
    assert "--out: model files end in .pt" in _first_error(capsys)
