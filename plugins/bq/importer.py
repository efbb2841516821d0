"""``symco import-model --from bq-nco``: the published BQ-NCO PerceiverIO checkpoints as symco
models (:class:`~symco.plugins.bq.perceiver.BQPerceiver` behind the BQ reducers).

The official files (``tsp_perceiver.best``, ``cvrp_perceiver.best``; © NAVER Corp., CC BY-NC-SA
4.0) are a dict whose ``net`` entry is the network's state dict. They are never shipped or
downloaded by symco: a user converts their own copy. The conversion is a renaming of keys plus
two reshapes (the latents lose their batch axis; the begin/end tokens become rows 1 and 2 of
the node-type embedding, whose row 0, ordinary nodes, is zero), and the inputs are the
reducers' with raw coordinates (``normalize: false``):

- TSP: :class:`~symco.plugins.bq.tsp.BQTSPReducer`, features ``(x, y)``; node types origin 1
  (the official first position), destination 2 (the last).
- CVRP: :class:`~symco.plugins.bq.cvrp.BQCVRPPlainReducer`, features ``(x, y, demand / C,
  left / C)``, origin 1, depot 2; two logits per node in the official order (direct, via depot).

A kNN view of ``K`` nodes in the official code (the current node, its ``K - 2`` nearest unvisited
nodes and the destination) is symco's ``--knn K-2``: symco counts the candidate nodes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from symco.core.errors import DataFileError
from symco.core.importers import ImportedModel, ModelImporter, ModelSource, file_sha256
from symco.core.registry import class_path_of

if TYPE_CHECKING:
    from torch import Tensor

    from symco.core.problem import Problem

BLOCK_KEYS: tuple[tuple[str, str], ...] = (
    ("attn.lambda1", "key"),
    ("attn.lambda2", "query"),
    ("attn.theta1", "value"),
    ("attn.theta2", "out"),
    ("attn.bias_lambda", "key_bias"),
    ("attn.bias_theta", "value_bias"),
    ("layer_norm1.", "norm_x."),
    ("layer_norm2.", "norm_y."),
    ("layer_norm3.", "norm_ff."),
    ("linear1.", "ff.0."),
    ("linear2.", "ff.2."),
)
"""Official -> symco names inside an attention block (``encoder``, ``layers.i``, ``decoder``)."""
TOP_KEYS: tuple[tuple[str, str], ...] = (
    ("input_emb.", "embed."),
    ("scores_projection.", "head."),
)
BLOCK = re.compile(r"^(encoder|decoder|layers\.\d+)\.(.+)$")


def _renamed(name: str, pairs: tuple[tuple[str, str], ...], reverse: bool = False) -> str | None:
    """``name`` with its first matching prefix renamed: a prefix ending in ``.`` names a
    module, any other a parameter and must match whole."""
    for old, new in pairs:
        a, b = (new, old) if reverse else (old, new)
        if name == a or (a.endswith(".") and name.startswith(a)):
            return b + name[len(a) :]
    return None


LICENCE = ModelSource(
    name="BQ-NCO PerceiverIO (Drakulic et al., NeurIPS 2023; github.com/naver/bq-nco)",
    importer="bq-nco",
    file="",
    sha256="",
    licence="CC BY-NC-SA 4.0",
    licence_url="https://creativecommons.org/licenses/by-nc-sa/4.0/",
    copyright="Copyright (c) 2023-present NAVER Corp.",
)
"""What every imported model records of its source (the file fields are filled per file)."""


@dataclass(frozen=True)
class Layout:
    """How one problem's official checkpoint maps onto symco: the reducer (class and options)
    and the feature count its input layer must have."""

    reducer: str
    num_features: int
    actions_per_node: int


LAYOUTS: dict[str, Layout] = {
    "tsp": Layout("symco.plugins.bq.tsp.BQTSPReducer", 2, 1),
    "cvrp": Layout("symco.plugins.bq.cvrp.BQCVRPPlainReducer", 4, 2),
}
"""The official checkpoints by symco problem name."""


def symco_key(key: str) -> str | None:
    """The symco policy key of an official state-dict key (``None``: not a key of the model)."""
    if key == "latent_array":
        return "latents"
    if key == "begin_end_tokens.weight":
        return "node_type.weight"
    top = _renamed(key, TOP_KEYS)
    if top is not None:
        return top
    m = BLOCK.match(key)
    inner = None if m is None else _renamed(m.group(2), BLOCK_KEYS)
    return None if m is None or inner is None else f"{m.group(1)}.{inner}"


def official_key(key: str) -> str:
    """The official key of a symco policy key (the inverse of :func:`symco_key`), for messages."""
    if key == "latents":
        return "latent_array"
    if key == "node_type.weight":
        return "begin_end_tokens.weight"
    top = _renamed(key, TOP_KEYS, reverse=True)
    if top is not None:
        return top
    m = BLOCK.match(key)
    inner = None if m is None else _renamed(m.group(2), BLOCK_KEYS, reverse=True)
    return key if m is None or inner is None else f"{m.group(1)}.{inner}"


class BQNCOImporter(ModelImporter):
    """The official BQ-NCO PerceiverIO checkpoints (``*.best``) for TSP and CVRP."""

    name: ClassVar[str] = "bq-nco"
    problems: ClassVar[tuple[str, ...]] = tuple(LAYOUTS)
    description: ClassVar[str] = "BQ-NCO PerceiverIO checkpoints (naver/bq-nco *.best files)"

    def convert(self, path: Path, problem: Problem, licence_text: str = "") -> ImportedModel:
        import torch

        self.check_problem(problem.name)
        layout = LAYOUTS[problem.name]
        net = self._read(path)
        emb = net.get("input_emb.weight")
        if emb is None or emb.dim() != 2:
            raise DataFileError(f"{path}: 'net' has no 2-D 'input_emb.weight': not a BQ-NCO model")
        if emb.shape[1] != layout.num_features:
            other = [n for n, lay in LAYOUTS.items() if lay.num_features == emb.shape[1]]
            what = f"a {other[0]} checkpoint" if other else "not a BQ-NCO TSP or CVRP checkpoint"
            raise DataFileError(
                f"{path}: input_emb.weight has {emb.shape[1]} input features, {problem.name} "
                f"takes {layout.num_features}: {what}"
            )
        options = self._architecture(path, net)
        state: dict[str, Tensor] = {}
        for key, value in net.items():
            new = symco_key(key)
            if new is None:
                raise DataFileError(f"{path}: unexpected key '{key}' in 'net'")
            value = value.float()
            if new == "latents":
                value = value[0]  # (1, L, dl) -> (L, dl)
            elif new == "node_type.weight":  # rows: ordinary nodes (zero), first, last
                value = torch.cat([value.new_zeros(1, value.shape[1]), value])
            state[f"policy.{new}"] = value
        self._check_keys(path, state, options, layout)
        source = ModelSource(
            **{**LICENCE.as_dict(), "file": path.name, "sha256": file_sha256(path)},
        )
        if licence_text:
            source = ModelSource(**{**source.as_dict(), "licence_text": licence_text})
        hp = {
            "problem": {"class_path": class_path_of(type(problem))},
            "reducer": {"class_path": layout.reducer, "init_args": {"normalize": False}},
            "policy": {
                "class_path": "symco.plugins.bq.perceiver.BQPerceiver",
                "init_args": options,
            },
        }
        notes = (
            f"BQ-NCO PerceiverIO {problem.name.upper()} (official checkpoint {path.name}, "
            f"imported); {LICENCE.licence}, {LICENCE.copyright}; official kNN K = --knn K-2"
        )
        return ImportedModel("symco.plugins.bq.lightning.BQModule", hp, state, source, notes)

    @staticmethod
    def _read(path: Path) -> dict[str, Tensor]:
        """The ``net`` state dict of an official file, read with ``weights_only=True`` on CPU."""
        import torch

        if not path.is_file():
            raise DataFileError(f"{path}: no such file")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for foreign or corrupt files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataFileError(f"{path}: not a loadable checkpoint ({first[:160]})") from None
        net = obj.get("net") if isinstance(obj, dict) else None
        if not isinstance(net, dict) or not all(isinstance(v, torch.Tensor) for v in net.values()):
            keys = (
                ", ".join(sorted(map(str, obj))[:6])
                if isinstance(obj, dict)
                else type(obj).__name__
            )
            raise DataFileError(f"{path}: no 'net' state dict of a BQ-NCO checkpoint (has {keys})")
        return net

    @staticmethod
    def _architecture(path: Path, net: dict[str, Tensor]) -> dict[str, Any]:
        """The :class:`BQPerceiver` options the weights' shapes imply."""
        need = ("latent_array", "encoder.attn.lambda1", "encoder.linear1.weight")
        for key in need:
            if key not in net:
                raise DataFileError(f"{path}: missing key '{key}' in 'net'")
        layers = {int(m.group(1)) for k in net if (m := re.match(r"layers\.(\d+)\.", k))}
        latents = net["latent_array"]
        if latents.dim() != 3 or latents.shape[0] != 1:
            raise DataFileError(
                f"{path}: latent_array has shape {tuple(latents.shape)}, expected (1, L, D)"
            )
        return {
            "num_layers": max(layers) + 1 if layers else 0,
            "dim": int(net["input_emb.weight"].shape[0]),
            "num_latents": int(latents.shape[1]),
            "latent_dim": int(latents.shape[2]),
            "heads": int(net["encoder.attn.lambda1"].shape[0]),
            "ff_dim": int(net["encoder.linear1.weight"].shape[0]),
        }

    @staticmethod
    def _check_keys(
        path: Path, state: dict[str, Tensor], options: dict[str, Any], layout: Layout
    ) -> None:
        """Every weight of the policy the options build, with its shape: one line naming the
        first (official) key missing or misshapen."""
        from symco.plugins.bq.perceiver import BQPerceiver

        policy = BQPerceiver(layout.num_features, 3, layout.actions_per_node, **options)
        want = {f"policy.{k}": v.shape for k, v in policy.state_dict().items()}
        for key, shape in want.items():
            name = official_key(key[len("policy.") :])
            if key not in state:
                raise DataFileError(f"{path}: missing key '{name}' in 'net'")
            if state[key].shape != shape:
                raise DataFileError(
                    f"{path}: '{name}' has shape {tuple(state[key].shape)}, the model "
                    f"{options} needs {tuple(shape)}"
                )
