"""Errors that reach a user as one clear line (the CLI prints them without a traceback)."""

from __future__ import annotations


class SymcoError(Exception):
    """Base of every error caused by the user's input: a file, a field, a value or a name.

    The message names what is wrong and where; the CLI prints ``symco: error: <message>`` and
    exits with status 2. Anything that is *not* a ``SymcoError`` is a bug in symco or a plugin.
    """


class UsageError(SymcoError):
    """A command-line mistake: an option's value, a missing option, options that exclude each
    other (pytest's convention). Raised by the command-line layer only, and its message names the
    flag (``--generate: expected SIZE:NUM, got '100:abc'``); library classes raise errors that
    name their parameters instead."""


class InvalidInstanceError(SymcoError, ValueError):
    """An instance (array, file field or value) breaks the problem's rules."""


class InfeasibleSolutionError(SymcoError, ValueError):
    """A solution does not satisfy the problem's constraints."""


class UnknownNameError(SymcoError, LookupError):
    """A registry lookup of a name nobody registered."""


class DuplicateNameError(SymcoError):
    """Two plugins register the same name for the same kind (and problem)."""


class DataFileError(SymcoError, OSError):
    """A file is missing, unreadable, malformed or of the wrong kind."""


class SolverUnavailableError(SymcoError):
    """A registered solver whose optional dependency is not installed."""
