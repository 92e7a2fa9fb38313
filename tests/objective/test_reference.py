"""Objective references: a module that cannot be found says where Python looked."""

from __future__ import annotations

import pytest

from hpo_service.exceptions import ObjectiveImportError
from hpo_service.objective._reference import check_objective, import_reference


@pytest.mark.parametrize("load", [check_objective, import_reference])
def test_a_missing_module_names_the_directory_and_pythonpath(
    load, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ObjectiveImportError, match=r"(?i)no module named") as e:
        load("examples_not_here.sgd:objective")
    assert f"working directory {str(tmp_path)!r} and PYTHONPATH" in str(e.value)


def test_a_missing_dependency_of_the_module_gets_no_directory_hint(
    tmp_path, monkeypatch
):
    (tmp_path / "needs_dep_xyz.py").write_text("import dep_not_installed_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ObjectiveImportError, match="dep_not_installed_xyz") as e:
        import_reference("needs_dep_xyz:objective")
    assert "PYTHONPATH" not in str(e.value)


@pytest.mark.parametrize(
    ("reference", "use", "where"),
    [
        ("mod_xyz.py:fn", "mod_xyz:fn", "this directory"),
        ("./mod_xyz.py:fn", "mod_xyz:fn", "this directory"),
        ("pkg/mod_xyz.py:fn", "pkg.mod_xyz:fn", "this directory"),
        ("pkg/mod_xyz:fn", "pkg.mod_xyz:fn", "this directory"),
        ("{tmp}/pkg/mod_xyz.py:fn", "mod_xyz:fn", "{tmp}/pkg"),
        ("../up_xyz.py:fn", "up_xyz:fn", "{parent}"),
    ],
)
def test_a_file_path_is_refused_naming_the_module_to_use(
    reference, use, where, tmp_path, monkeypatch
):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "mod_xyz.py").write_text("def fn(config):\n    return 0.0\n")
    monkeypatch.chdir(tmp_path)
    reference = reference.format(tmp=tmp_path)
    where = where.format(tmp=tmp_path, parent=tmp_path.parent)
    where = where if where == "this directory" else repr(where)
    for load in (check_objective, import_reference):
        with pytest.raises(ValueError) as e:
            load(reference)
        assert str(e.value) == (
            "a reference must name a module, `package.module:name`, not a file, but "
            f"got {reference!r}: use `{use}`, run from {where} or with it on "
            "PYTHONPATH"
        )


def test_a_submodule_named_py_is_still_a_module(tmp_path, monkeypatch):
    (tmp_path / "tool_xyz").mkdir()
    (tmp_path / "tool_xyz" / "__init__.py").write_text("")
    (tmp_path / "tool_xyz" / "py.py").write_text("def fn(config):\n    return 1.0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_reference("tool_xyz.py:fn")({}) == 1.0
