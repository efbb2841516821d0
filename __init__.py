"""symco: a plugin-based framework for learning with symmetries.

The top-level package stays light (no torch import) so that ``symco --help`` and
``symco plugins`` start fast; the learning pieces live in the subpackages.
"""

from __future__ import annotations

from symco.core.hookspecs import hookimpl, hookspec

__all__ = ["__version__", "hookimpl", "hookspec"]
__version__ = "0.1.0"
