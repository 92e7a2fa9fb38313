"""Objective references: a module that cannot be found says where Python looked."""

from __future__ import annotations

import sys

import pytest

from hpo_service.exceptions import ObjectiveImportError
from hpo_service.objective._reference import (
    check_objective,
    import_reference,
    split_reference,
)


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


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package ``studypkg`` with module ``train`` (``objective``, ``Nested.fit``)."""
    (tmp_path / "studypkg").mkdir()
    (tmp_path / "studypkg" / "__init__.py").write_text("")
    (tmp_path / "studypkg" / "train.py").write_text(
        "def objective(c):\n    return 0.0\n\n"
        "class Nested:\n    @staticmethod\n    def fit(c):\n        return 0.0\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.split(".")[0] == "studypkg"]:
        del sys.modules[name]


@pytest.mark.parametrize("load", [check_objective, import_reference])
@pytest.mark.parametrize(
    ("reference", "meant"),
    [
        ("studypkg.train:objectve", "studypkg.train:objective"),
        ("studypkg.train:Nested.fitt", "studypkg.train:Nested.fit"),
        ("studypkg.trian:objective", "studypkg.train:objective"),
        ("studypk.train:objective", "studypkg.train:objective"),
    ],
)
def test_a_typo_gets_the_closest_whole_reference(load, package, reference, meant):
    with pytest.raises(ObjectiveImportError) as e:
        load(reference)
    assert f"; did you mean {meant!r}?" in str(e.value)


@pytest.mark.parametrize("load", [check_objective, import_reference])
def test_a_missing_attribute_says_what_must_hold_and_nothing_close(load, package):
    with pytest.raises(ObjectiveImportError) as e:
        load("studypkg.train:zzzzzz")
    assert str(e.value) == (
        "cannot import 'studypkg.train:zzzzzz': the name after ':' must be an "
        "attribute of module 'studypkg.train', but got 'zzzzzz'"
    )


@pytest.mark.parametrize("load", [check_objective, import_reference])
def test_a_missing_package_is_not_matched_to_a_module_that_cannot_hold_the_rest(
    load, tmp_path, monkeypatch
):
    """``mylab.objectives`` missing (a shared folder not on PYTHONPATH) was answered
    "did you mean 'pylab.objectives:svc'?": matplotlib's ``pylab`` is a close name,
    but a module, so it holds no ``objectives``. A package that holds it still is
    suggested."""
    (tmp_path / "mylob.py").write_text("")  # a module of a close name
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ObjectiveImportError) as e:
        load("mylab.objectives:svc")
    assert "did you mean" not in str(e.value)
    (tmp_path / "mylub").mkdir()  # a package of a close name holding "objectives"
    (tmp_path / "mylub" / "__init__.py").write_text("")
    (tmp_path / "mylub" / "objectives.py").write_text("")
    with pytest.raises(ObjectiveImportError) as e:
        load("mylab.objectives:svc")
    assert "; did you mean 'mylub.objectives:svc'?" in str(e.value)


def test_a_missing_dependency_gets_no_suggestion(tmp_path, monkeypatch):
    """The module exists; what it imports does not: no name to correct."""
    (tmp_path / "uses_nump.py").write_text("import nump\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ObjectiveImportError) as e:
        import_reference("uses_nump:objective")
    assert "did you mean" not in str(e.value)


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


@pytest.mark.parametrize(
    ("reference", "hint"),
    [
        (
            "tests.e2e.objectives.quadratic",
            "did you mean 'tests.e2e.objectives:quadratic'?",
        ),
        ("train.py", "name a function in it: 'train:FUNCTION'"),
        ("pkg.train.py", "name a function in it: 'pkg.train:FUNCTION'"),
        ("train", "name a function in it: 'train:FUNCTION'"),
    ],
)
def test_a_reference_without_a_colon_gets_a_hint_that_can_work(reference, hint):
    """A script's file name (`--objective train.py`, as one runs a hyperopt script)
    was answered "did you mean 'train:py'?", a module train holding py."""
    with pytest.raises(ValueError) as e:
        split_reference(reference)
    assert str(e.value) == (
        "a reference must look like `package.module:name`, but got "
        f"{reference!r}; {hint}"
    )
