"""MACE (Batatia et al., NeurIPS 2022) as a symco potential, through a thin adapter.

Batatia, Kovács, Simm, Ortner, Csányi: *MACE: Higher Order Equivariant Message Passing Neural
Networks for Fast and Accurate Force Fields*, NeurIPS 2022. The model itself is mace-torch's
``mace.modules.MACE``, built as its command line builds the default ``--model MACE`` (a plain
interaction block first, residual interaction blocks after, ``16x0e`` gated readout MLP) with
zero reference energies: symco's training module subtracts per-element references and scales
the target itself. The adapter only translates symco's padded ``(z, pos)`` batches into MACE's
input dictionary; forces stay outside, as :math:`-\\partial E / \\partial x` by autograd.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from symco.core.errors import SolverUnavailableError
from symco.plugins.mlip.atoms import ELEMENTS, ElementIndex, radius_graph

_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


def _import_mace() -> tuple[ModuleType, ModuleType, ModuleType]:
    """``(mace.modules, e3nn.o3, e3nn)``, imported without their side effects on the process.

    ``import mace`` sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the whole process, which
    turns every later ``torch.load`` (checkpoints included) back into full unpickling: arbitrary
    code on load. The variable is put back as it was right after the import. mace also prints a
    line about cuequivariance to stdout on import, which would mix into symco's own output.
    """
    try:
        from symco.plugins.mlip.e3nn_compat import import_o3

        o3 = import_o3()  # allow-lists ``slice`` for e3nn's constants file first
        import e3nn

        before = os.environ.get(_ENV)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                from mace import modules
        finally:
            if before is None:
                os.environ.pop(_ENV, None)
            else:
                os.environ[_ENV] = before
    except ImportError as err:
        raise SolverUnavailableError(
            "MACEPotential needs mace-torch: pip install 'symco[mace]'"
        ) from err
    return modules, o3, e3nn


@contextlib.contextmanager
def _eager_e3nn(e3nn: ModuleType) -> Iterator[None]:
    """Build e3nn's generated code as plain ``torch.fx`` modules, not TorchScript (deprecated in
    torch 2.13, and it warns on every module); the global e3nn setting is restored after."""
    before = e3nn.get_optimization_defaults()
    e3nn.set_optimization_defaults(jit_script_fx=False)
    try:
        yield
    finally:
        e3nn.set_optimization_defaults(**before)


class MACEPotential(nn.Module):
    """MACE energy of padded molecule batches: ``(z (B, N), pos (B, N, 3)) -> (B,)``.

    :param elements: atomic numbers the model knows (its one-hot node attributes, in order).
    :param r_max: cutoff radius in Å.
    :param num_channels: channels per irrep of the hidden node features.
    :param max_L: highest degree of the hidden node features (``num_channels x (0e + 1o + ...)``).
    :param max_ell: highest degree of the edge spherical harmonics (mace's default is 3; 2 is
        about twice as fast on a CPU).
    :param correlation: body order minus one of each product basis.
    :param num_interactions: message-passing layers.
    :param num_bessel: radial Bessel functions.
    :param num_polynomial_cutoff: order of the polynomial envelope.
    :param radial_mlp: hidden widths of the radial MLP.
    :param avg_num_neighbors: message normalisation (mean neighbours within ``r_max``).
    """

    def __init__(
        self,
        elements: Sequence[int] = ELEMENTS,
        r_max: float = 5.0,
        num_channels: int = 32,
        max_L: int = 1,
        max_ell: int = 2,
        correlation: int = 3,
        num_interactions: int = 2,
        num_bessel: int = 8,
        num_polynomial_cutoff: int = 5,
        radial_mlp: tuple[int, ...] = (64, 64, 64),
        avg_num_neighbors: float = 12.0,
    ) -> None:
        super().__init__()
        modules, o3, e3nn = _import_mace()
        self.index = ElementIndex(elements)
        self.r_max = float(r_max)
        hidden = (num_channels * o3.Irreps.spherical_harmonics(max_L)).sort().irreps.simplify()
        with _eager_e3nn(e3nn):
            self.model = modules.MACE(
                r_max=self.r_max,
                num_bessel=num_bessel,
                num_polynomial_cutoff=num_polynomial_cutoff,
                max_ell=max_ell,
                interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
                # mace's ``--model MACE`` replaces a residual first block by the plain one
                interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
                num_interactions=num_interactions,
                num_elements=len(self.index),
                hidden_irreps=o3.Irreps(hidden),
                MLP_irreps=o3.Irreps("16x0e"),
                atomic_energies=np.zeros(len(self.index)),
                avg_num_neighbors=float(avg_num_neighbors),
                atomic_numbers=list(self.index.elements),
                correlation=correlation,
                gate=torch.nn.functional.silu,
                radial_MLP=list(radial_mlp),
                use_reduced_cg=False,  # the command line's default
            )

    def forward(self, z: Tensor, pos: Tensor) -> Tensor:
        """Energies ``(B,)`` of atoms ``z`` ``(B, N)`` (0 = padding) at ``pos`` ``(B, N, 3)`` Å."""
        bsz, n = z.shape
        hot = self.index.one_hot(z)  # (B, N, K); raises on unknown elements
        graph = radius_graph(z, pos, self.r_max)  # edge_index rows: (sender j, receiver i)
        if graph.node.numel() == 0:  # only padding: MACE cannot reshape empty node features
            return (pos * 0).sum(dim=(1, 2))  # (B,) zeros, still a function of ``pos``
        counts = (z > 0).sum(dim=1)  # (B,)
        ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])  # (B + 1,)
        num_edges = graph.edge_index.shape[1]
        data: dict[str, Any] = {
            "positions": graph.pos,  # (A, 3), indexed from ``pos``: gradients reach it
            "node_attrs": hot.reshape(bsz * n, -1)[graph.node].to(pos.dtype),  # (A, K)
            "edge_index": graph.edge_index,  # (2, E): MACE's sender, receiver order
            "shifts": pos.new_zeros(num_edges, 3),  # no periodic cell
            "unit_shifts": pos.new_zeros(num_edges, 3),
            "cell": pos.new_zeros(bsz * 3, 3),  # (B * 3, 3) as MACE batches cells
            "batch": graph.batch,  # (A,)
            "ptr": ptr,
        }
        out = self.model(data, training=self.training, compute_force=False)
        return out["energy"]  # (B,)

    def __deepcopy__(self, memo: dict[int, Any]) -> MACEPotential:
        # e3nn's generated modules deep-copy themselves through TorchScript (script, save, load:
        # exact, but each step warns that TorchScript is deprecated in torch 2.13).
        twin = type(self).__new__(type(self))
        memo[id(self)] = twin
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
            )
            warnings.filterwarnings(
                "ignore", message="The TorchScript type system", category=UserWarning
            )
            twin.__setstate__(copy.deepcopy(self.__dict__, memo))
        return twin

    def extra_repr(self) -> str:
        return f"r_max={self.r_max}"


__all__ = ["MACEPotential"]
