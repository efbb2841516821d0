"""The charged-particle n-body simulator of the EGNN paper's benchmark, vectorised over
trajectories in NumPy.

Satorras, Hoogeboom & Welling, *E(n) Equivariant Graph Neural Networks*, ICML 2021 (3-D
version of the charged-particles system of Kipf et al., NRI, ICML 2018), written from its
equations:

* ``N`` (5) particles of unit mass with charges :math:`q_i \\in \\{-1, +1\\}` (each ``+1`` with
  probability 1/2), initial positions :math:`x_i \\sim \\mathcal{N}(0, \\sigma^2 I_3)`
  (:math:`\\sigma = 1`) and initial velocities of norm 0.5 in uniformly random directions;
* Coulomb forces (like charges repel), each Cartesian component clipped to
  :math:`\\pm F_{max}` with :math:`F_{max} = 0.1 / \\Delta t` (the paper's clipping, which
  tames close encounters), plus an optional constant external field :math:`E` acting on the
  charges:

  .. math::

      F_i = \\operatorname{clip}\\Big(\\sum_{j \\ne i} q_i q_j
      \\frac{x_i - x_j}{\\lVert x_i - x_j \\rVert^3}\\Big) + q_i E ;

* velocity Verlet (leapfrog) with :math:`\\Delta t = 0.001`:
  :math:`v \\leftarrow v + \\tfrac{\\Delta t}{2} F(x)`, :math:`x \\leftarrow x + \\Delta t\\, v`,
  :math:`v \\leftarrow v + \\tfrac{\\Delta t}{2} F(x)`;
* 5,000 steps sampled every 100 (frame :math:`k` is the state after :math:`100k` steps); a
  sample maps frame 30 (positions, velocities, charges) to the positions of frame 40.

Without a field the dynamics commute with every rigid motion and particle permutation
(:math:`E(3) \\times S_N`) — except for the component-wise clipping, which only commutes with
the cube's symmetries; ``clip="norm"`` clips the force's norm instead and keeps :math:`E(3)`
exact. A field along :math:`z` leaves rotations about :math:`z` and reflections in planes
containing it (:math:`O(2)` about :math:`z`), with every translation.

:class:`SimulationSpec` and :func:`simulate_samples` make the dataset's samples (each from its
own seed); :func:`write_chunk` is what the data module's worker processes run (this module
imports NumPy only, so workers start fast).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from symco.core.errors import InvalidInstanceError

Clip = Literal["component", "norm", "none"]


@dataclass(frozen=True)
class InitialConditions:
    """A batch of initial states: positions/velocities ``(T, N, 3)``, charges ``(T, N)``."""

    loc: np.ndarray
    vel: np.ndarray
    charges: np.ndarray


def initial_conditions(
    rng: np.random.Generator,
    n: int,
    num_particles: int = 5,
    *,
    dim: int = 3,
    loc_std: float = 1.0,
    speed: float = 0.5,
) -> InitialConditions:
    """``n`` random initial states drawn from ``rng`` (positions, then velocities, then charges).

    Velocities: Gaussian directions scaled to norm ``speed``; charges ``±1`` with p = 1/2.
    """
    loc = rng.normal(0.0, loc_std, size=(n, num_particles, dim))  # (T, N, d)
    direction = rng.normal(size=(n, num_particles, dim))  # (T, N, d)
    norm = np.linalg.norm(direction, axis=-1, keepdims=True)  # (T, N, 1)
    vel = speed * direction / np.maximum(norm, 1e-12)  # (T, N, d)
    charges = np.where(rng.random((n, num_particles)) < 0.5, 1.0, -1.0)  # (T, N)
    return InitialConditions(loc, vel, charges)


def coulomb_forces(
    loc: np.ndarray, charges: np.ndarray, max_force: float | None, clip: Clip = "component"
) -> np.ndarray:
    """Clipped Coulomb forces ``(T, N, d)`` on particles at ``loc`` ``(T, N, d)``.

    .. math:: F_i = \\sum_{j \\ne i} q_i q_j (x_i - x_j) / \\lVert x_i - x_j \\rVert^3

    then each component clipped to :math:`[-F_{max}, F_{max}]` (``clip="component"``), the
    vector rescaled to norm at most :math:`F_{max}` (``"norm"``), or left as is (``"none"`` or
    ``max_force=None``).
    """
    diff = loc[:, :, None, :] - loc[:, None, :, :]  # (T, N, N, d): x_i - x_j
    dist2 = np.einsum("tijd,tijd->tij", diff, diff)  # (T, N, N)
    n = loc.shape[1]
    eye = np.eye(n, dtype=bool)[None]  # (1, N, N)
    inv3 = np.where(eye, 0.0, 1.0 / np.where(eye, 1.0, dist2) ** 1.5)  # (T, N, N)
    qq = charges[:, :, None] * charges[:, None, :]  # (T, N, N)
    force = np.einsum("tij,tijd->tid", qq * inv3, diff)  # (T, N, d)
    if max_force is None or clip == "none":
        return force
    if clip == "component":
        return np.clip(force, -max_force, max_force)
    norm = np.linalg.norm(force, axis=-1, keepdims=True)  # (T, N, 1)
    return force * np.minimum(1.0, max_force / np.maximum(norm, 1e-300))


def simulate(
    init: InitialConditions,
    *,
    steps: int = 5000,
    sample_every: int = 100,
    dt: float = 1e-3,
    field: tuple[float, ...] | None = None,
    max_force: float | None = None,
    clip: Clip = "component",
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate ``init`` for ``steps`` velocity-Verlet steps; positions and velocities of the
    frames ``0, sample_every, 2 * sample_every, ...`` (``steps // sample_every + 1`` frames,
    frame 0 the initial state), each ``(T, F, N, d)``.

    :param field: constant external field ``(d,)`` acting on the charges (``None``: none).
    :param max_force: clipping bound of the Coulomb force; ``None``: the paper's ``0.1 / dt``.
    """
    if steps < 0 or sample_every < 1:
        raise ValueError(f"steps must be >= 0 and sample_every >= 1, got {steps}, {sample_every}")
    bound = 0.1 / dt if max_force is None else max_force
    q = init.charges  # (T, N)
    ext = None
    if field is not None and any(float(e) != 0.0 for e in field):
        ext = q[..., None] * np.asarray(field, dtype=np.float64)  # (T, N, d): q_i E

    def force(x: np.ndarray) -> np.ndarray:
        f = coulomb_forces(x, q, bound, clip)
        return f if ext is None else f + ext

    x = np.array(init.loc, dtype=np.float64)  # (T, N, d)
    v = np.array(init.vel, dtype=np.float64)  # (T, N, d)
    locs, vels = [x.copy()], [v.copy()]
    f = force(x)
    half = 0.5 * dt
    for step in range(1, steps + 1):
        v += half * f
        x += dt * v
        f = force(x)
        v += half * f
        if step % sample_every == 0:
            locs.append(x.copy())
            vels.append(v.copy())
    return np.stack(locs, axis=1), np.stack(vels, axis=1)  # (T, F, N, d) each


def energy(
    loc: np.ndarray, vel: np.ndarray, charges: np.ndarray, field: tuple[float, ...] | None = None
) -> np.ndarray:
    """Total energy ``(...)`` of states ``loc``/``vel`` ``(..., N, d)``, charges broadcastable to
    ``(..., N)`` (``q[:, None]`` for trajectories ``(T, F, N, d)`` and charges ``(T, N)``):

    .. math::

        H = \\tfrac12 \\sum_i \\lVert v_i \\rVert^2 + \\sum_{i < j}
        \\frac{q_i q_j}{\\lVert x_i - x_j \\rVert} - \\sum_i q_i\\, E \\cdot x_i .

    (Conserved by the unclipped dynamics; clipping removes energy in close encounters.)
    """
    kinetic = 0.5 * (vel**2).sum(axis=(-1, -2))
    diff = loc[..., :, None, :] - loc[..., None, :, :]  # (..., N, N, d)
    dist = np.sqrt((diff**2).sum(-1))  # (..., N, N)
    n = loc.shape[-2]
    iu = np.triu_indices(n, k=1)
    qq = charges[..., :, None] * charges[..., None, :]  # (..., N, N)
    potential = (qq[..., iu[0], iu[1]] / dist[..., iu[0], iu[1]]).sum(-1)
    if field is not None:
        potential = potential - (charges * (loc @ np.asarray(field, dtype=np.float64))).sum(-1)
    return kinetic + potential  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SimulationSpec:
    """Everything that determines the samples (stored in the dataset's ``manifest.json``)."""

    num_particles: int = 5
    field: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seed: int = 0
    frame_in: int = 30
    frame_out: int = 40
    sample_every: int = 100
    dt: float = 1e-3
    clip: Clip = "component"
    loc_std: float = 1.0
    speed: float = 0.5

    def __post_init__(self) -> None:
        if self.num_particles < 2:
            raise InvalidInstanceError(
                f"data: num_particles must be >= 2, got {self.num_particles}"
            )
        if len(self.field) != 3:
            raise InvalidInstanceError(
                f"data: field must have 3 components, got {list(self.field)}"
            )
        if not 0 <= self.frame_in < self.frame_out:
            raise InvalidInstanceError(
                f"data: need 0 <= frame_in < frame_out, got {self.frame_in}, {self.frame_out}"
            )
        if self.clip not in ("component", "norm", "none"):
            raise InvalidInstanceError(
                f"data: clip must be 'component', 'norm' or 'none', got {self.clip!r}"
            )

    @property
    def has_field(self) -> bool:
        return any(e != 0.0 for e in self.field)

    @property
    def name(self) -> str:
        """The dataset folder's name, e.g. ``charged5-seed0`` or ``charged5-field0_0_0.5-seed0``
        (settings left at their defaults are not spelled out; the manifest holds them all)."""
        parts = [f"charged{self.num_particles}"]
        if self.has_field:
            parts.append("field" + "_".join(f"{e:g}" for e in self.field))
        defaults = SimulationSpec()
        for key in ("frame_in", "frame_out", "sample_every", "dt", "clip", "loc_std", "speed"):
            value = getattr(self, key)
            if value != getattr(defaults, key):
                text = value if isinstance(value, str) else format(value, "g")
                parts.append(f"{key.replace('_', '')}{text}")
        parts.append(f"seed{self.seed}")
        return "-".join(parts)

    def manifest(self) -> dict[str, Any]:
        out = asdict(self)
        out["field"] = list(self.field)
        return out


def sample_rng(seed: int, split: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of split ``split`` (0 train, 1 val, 2 test)."""
    return np.random.default_rng([seed, split, index])


def simulate_samples(
    spec: SimulationSpec, split: int, start: int, stop: int
) -> dict[str, np.ndarray]:
    """Samples ``start..stop-1`` of split ``split``: frame ``frame_in`` in, ``frame_out`` out.

    Initial conditions come from each sample's own generator; the dynamics are vectorised over
    the samples. Returns float32 ``loc``/``vel``/``target`` ``(n, N, 3)`` and ``charges``
    ``(n, N)``.
    """
    inits = [
        initial_conditions(sample_rng(spec.seed, split, i), 1, spec.num_particles,
                           loc_std=spec.loc_std, speed=spec.speed)
        for i in range(start, stop)
    ]  # fmt: skip
    init = InitialConditions(
        np.concatenate([c.loc for c in inits]),
        np.concatenate([c.vel for c in inits]),
        np.concatenate([c.charges for c in inits]),
    )
    locs, vels = simulate(
        init,
        steps=spec.frame_out * spec.sample_every,
        sample_every=spec.sample_every,
        dt=spec.dt,
        field=spec.field if spec.has_field else None,
        clip=spec.clip,
    )  # (n, F, N, 3) each; fmt: skip
    return {
        "loc": locs[:, spec.frame_in].astype(np.float32),
        "vel": vels[:, spec.frame_in].astype(np.float32),
        "charges": init.charges.astype(np.float32),
        "target": locs[:, spec.frame_out].astype(np.float32),
    }


def write_chunk(spec: SimulationSpec, split: int, start: int, stop: int, path: str) -> str:
    """Simulate samples ``start..stop-1`` of split ``split`` and write them atomically to
    ``path`` (top-level in a module without torch: worker processes import only NumPy)."""
    from symco.core.dataset import save_npz

    save_npz(path, simulate_samples(spec, split, start, stop))
    return path


__all__ = [
    "InitialConditions",
    "SimulationSpec",
    "coulomb_forces",
    "energy",
    "initial_conditions",
    "sample_rng",
    "simulate",
    "simulate_samples",
    "write_chunk",
]
