"""Built-in plugin: weight-space symmetry (entry point ``weights`` in the ``symco`` group).

What it offers so far is a library for any model that declares ``weight_permutations()``
(:mod:`symco.core.symmetry.weights`): :func:`~.weight_matching.weight_matching`,
:func:`~.activation_matching.activation_matching`, :func:`~.interpolation.interpolate` and a
small :class:`~.mlp.MLP`. It registers nothing yet: no core kind fits a matcher, and its
commands (``align``, ``merge``, ``barrier``) will be added here through ``symco_add_commands``.
"""

from __future__ import annotations
