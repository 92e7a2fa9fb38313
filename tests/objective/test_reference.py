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
