"""The :class:`Encoding` interface every registered positional/structural encoding implements.

An encoding has two halves:

* :meth:`Encoding.transform`, a torch_geometric ``BaseTransform`` run once per graph (on a
  ``Data``) that stores what the encoding needs (eigenpairs, random-walk probabilities, ...);
* :meth:`Encoding.forward`, mapping a (mini-batched) ``Data``/``Batch`` carrying those
  attributes to node encodings of shape ``(N, out_dim)``, which a GNN adds to its node features.

Encodings are chosen by registry name (``"spe"``) or by class path
(``{"class_path": "symco.encodings.SPE", "init_args": {...}}``); see :func:`build_encoding`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from symco.core.dotted import DottedPathError, import_object
from symco.core.errors import InvalidInstanceError, UnknownNameError

if TYPE_CHECKING:
    import networkx as nx
    from torch_geometric.data import Data
    from torch_geometric.transforms import BaseTransform

    from symco.core.registry import Registry
    from symco.core.symmetry.declare import Symmetry


class Encoding(nn.Module):
    """Base of node encodings: ``transform()`` per graph, ``forward(batch) -> (N, out_dim)``."""

    name: ClassVar[str]
    out_dim: int

    def transform(self) -> BaseTransform | None:
        """The per-graph precomputation this encoding reads in :meth:`forward` (``None``: none)."""
        return None

    def forward(self, data: Data) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- declared symmetries (symco check-symmetry, the contract tests) --------------------------

    symmetry_nodes: ClassVar[int] = 8
    """Nodes per graph of the random graphs the symmetry check runs on."""

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Data:
        """``n`` random graphs (cycles with chords) with this encoding's transform applied."""
        from symco.encodings.symmetry import random_graphs

        return random_graphs(
            n, self.symmetry_nodes, generator, chords=2, transform=self.transform()
        )

    def symmetries(self, inputs: Data) -> list[Symmetry]:
        """Every encoding is node-permutation equivariant: relabelling a graph's nodes permutes
        the rows of its encoding. Spectral encodings add their eigenvector symmetries."""
        from symco.encodings.symmetry import node_permutation

        return [node_permutation(self.symmetry_nodes, graph_level=False)]

    def symmetry_outputs(self, inputs: Data) -> Tensor:
        return self(inputs)  # type: ignore[no-any-return]

    @torch.no_grad()
    def encode(self, graph: nx.Graph | Data) -> Data:
        """One graph in (networkx or PyG), a PyG ``Data`` out with the encoding in ``data.pe``.

        Runs :meth:`transform` and :meth:`forward` in eval mode (a learnable encoding uses its
        current weights); the module's train/eval state is restored afterwards.
        """
        from torch_geometric.data import Batch, Data

        data = to_data(graph) if not isinstance(graph, Data) else graph.clone()
        t = self.transform()
        if t is not None:
            data = t(data)
        was_training = self.training
        self.eval()
        try:
            data.pe = self(Batch.from_data_list([data]))  # (N, out_dim)
        finally:
            self.train(was_training)
        return data


def to_data(graph: nx.Graph) -> Data:
    """A networkx graph as a PyG ``Data`` (``from_networkx``); a ``weight`` edge attribute becomes
    ``edge_weight``. Directed graphs are rejected: every encoding here assumes a symmetric graph."""
    import networkx as nx
    from torch_geometric.utils import from_networkx

    if not isinstance(graph, nx.Graph):
        raise InvalidInstanceError(
            f"expected a networkx graph or a PyG Data, got {type(graph).__name__}"
        )
    if graph.is_directed():
        raise InvalidInstanceError(
            "encodings need an undirected graph; got a directed networkx graph"
        )
    if graph.number_of_nodes() == 0:
        raise InvalidInstanceError("cannot encode an empty graph (0 nodes)")
    weighted = graph.number_of_edges() > 0 and all(
        "weight" in d for _, _, d in graph.edges(data=True)
    )
    # only the structure (and weights) matter here; other attributes may not be tensor-convertible
    bare = nx.Graph()
    bare.add_nodes_from(graph.nodes)
    bare.add_edges_from(
        (u, v, {"weight": float(d["weight"])} if weighted else {})
        for u, v, d in graph.edges(data=True)
    )
    data = from_networkx(bare, group_edge_attrs=["weight"] if weighted else None)
    if weighted:
        data.edge_weight = data.edge_attr.view(-1).float()
        del data.edge_attr
    data.num_nodes = graph.number_of_nodes()
    return data


def _import(path: str) -> Any:
    try:
        return import_object(path)
    except DottedPathError:
        raise UnknownNameError(f"encoding class '{path}' cannot be imported") from None


def build_encoding(
    spec: str | Mapping[str, Any] | Encoding | None,
    args: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> Encoding | None:
    """An :class:`Encoding` from a class path, ``{class_path, init_args}``, or a registry name.

    :param spec: ``"symco.encodings.SPE"`` (a class path), ``"spe"`` (a name registered in
        ``registry``), ``{"class_path": ..., "init_args": {...}}`` (either form), an instance
        (returned as is), or ``None``/``"none"`` for no encoding. ``symco fit`` configs may use
        names: the CLI rewrites them to class paths with the registry it built.
    :param args: constructor arguments, merged over ``init_args``.
    :param registry: where names are looked up (passed in, never built here).
    """
    if spec is None or isinstance(spec, Encoding):
        return spec
    init: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"class_path", "init_args"}
        if "class_path" not in spec or unknown:
            raise InvalidInstanceError(
                "an encoding given as a mapping needs exactly 'class_path' and optional "
                f"'init_args', got {sorted(spec)}"
            )
        init = dict(spec.get("init_args") or {})
        spec = str(spec["class_path"])
    init.update(args or {})
    if spec == "none":
        return None
    if "." in spec:
        cls = _import(spec)
    elif registry is None:
        raise UnknownNameError(
            f"encoding '{spec}' is given by name: use its class path, or pass the registry"
        )
    else:
        cls = registry.get("encoding", spec)
    if not (isinstance(cls, type) and issubclass(cls, Encoding)):
        raise InvalidInstanceError(f"'{spec}' is not a symco.encodings.Encoding subclass")
    try:
        return cls(**init)
    except TypeError as exc:
        raise InvalidInstanceError(f"encoding '{spec}': {exc}") from None
