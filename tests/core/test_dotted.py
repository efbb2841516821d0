"""``symco.core.dotted``: one importer for ``pkg.mod:attr`` and ``pkg.mod.Attr`` paths."""

from __future__ import annotations

import copy

import pytest

from symco.core.dotted import DottedPathError, import_module_of, import_object, split_path
from symco.core.errors import DataFileError
from symco.core.symmetry.dihedral import SquareDihedral


@pytest.mark.parametrize(
    "path",
    ["symco.core.symmetry.dihedral:SquareDihedral", "symco.core.symmetry.dihedral.SquareDihedral"],
)
def test_both_spellings_import_the_same_object(path: str) -> None:
    assert import_object(path) is SquareDihedral


def test_colon_form_follows_a_dotted_attribute() -> None:
    assert import_object("symco.core.errors:DataFileError.__name__") == "DataFileError"
    assert import_object("symco.core.errors:DataFileError") is DataFileError


def test_split_path() -> None:
    assert split_path("a.b:C") == ("a.b", "C")
    assert split_path("a.b.C") == ("a.b", "C")
    assert split_path("a:B.c") == ("a", "B.c")


@pytest.mark.parametrize(
    "path, reason",
    [
        ("Model", "expected 'package.module:name'"),
        ("", "expected 'package.module:name'"),
        (".rel.Model", "expected 'package.module:name'"),
        ("a:b:c", "expected 'package.module:name'"),
        ("a.b:", "expected 'package.module:name'"),
        ("1.5", "expected 'package.module:name'"),
        (
            "symco_no_such_module.Model",
            "ModuleNotFoundError: No module named 'symco_no_such_module'",
        ),
        (
            "symco.core.errors.NoSuchError",
            "module 'symco.core.errors' has no attribute 'NoSuchError'",
        ),
        ("symco.core.errors:DataFileError.nope", "has no attribute 'DataFileError.nope'"),
    ],
)
def test_bad_paths_raise_one_error_type(path: str, reason: str) -> None:
    with pytest.raises(DottedPathError) as info:
        import_object(path)
    assert info.value.dotted == path and reason in info.value.reason
    assert str(info.value).startswith(f"'{path}' cannot be imported: ")
    assert isinstance(info.value, ImportError)  # callers that caught ImportError still do


def test_not_a_string() -> None:
    with pytest.raises(DottedPathError, match="not a string"):
        import_object(3)  # type: ignore[arg-type]


def test_import_module_of_stops_at_the_module() -> None:
    mod = import_module_of("symco.core.errors.NoSuchError")  # the attribute is not looked up
    assert mod.__name__ == "symco.core.errors"
    with pytest.raises(DottedPathError, match="No module named"):
        import_module_of("symco_no_such_module:X")


def test_error_survives_pickling() -> None:
    """Worker processes send exceptions back through the reduce protocol (what ``copy`` uses
    too); the fields must come through."""
    err = copy.deepcopy(DottedPathError("a.B", "why"))
    assert (err.dotted, err.reason, str(err)) == ("a.B", "why", "'a.B' cannot be imported: why")


def test_lazy_registry_entry_that_cannot_be_imported_names_the_plugin() -> None:
    from symco.core.registry import Registry

    reg = Registry()
    reg.add_kind("group")
    reg.add_lazy("group", "symco_no_such_module:Group", name="g")
    with pytest.raises(
        ImportError,
        match=r"group 'g' of plugin '<direct>' is symco_no_such_module:Group, which cannot be imported \(ModuleNotFoundError",
    ):
        reg.get("group", "g")


def test_callers_keep_their_messages() -> None:
    from symco.core.training.config import import_class
    from symco.core.training.errors import _module_classes

    assert import_class("symco.core.symmetry.dihedral.SquareDihedral") is SquareDihedral
    assert import_class("symco.core.symmetry.dihedral.nope") is None
    assert import_class("symco.core.errors.__name__") is None  # a string, not a class
    assert "symco.core.errors.DataFileError" in _module_classes("symco.core.errors.Nope")
    assert _module_classes("nope") == []
