"""The public API: every documented name imports, and the package keeps its shape."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import pkgutil
from pathlib import Path

import pytest

import hpo_service

PACKAGE = Path(hpo_service.__file__).parent

#: What users import from the top of the package (README, DESIGN.md, hyperopt's names).
DOCUMENTED = [
    "fmin",
    "Trials",
    "StoreTrials",
    "hp",
    "tpe",
    "rand",
    "motpe",
    "anneal",
    "mix",
    "base",
    "pyll",
    "Domain",
    "Ctrl",
    "MongoTrials",
    "mongoexp",
    "JOB_STATES",
    "generate_trials_to_calculate",
    "trials_from_docs",
    "partial",
    "space_eval",
    "sample",
    "early_stop",
    "exceptions",
    "open_store",
    "STATUS_OK",
    "STATUS_FAIL",
    "STATUS_NEW",
    "STATUS_RUNNING",
    "STATUS_SUSPENDED",
    "STATUS_STRINGS",
    "JOB_STATE_NEW",
    "JOB_STATE_RUNNING",
    "JOB_STATE_DONE",
    "JOB_STATE_ERROR",
    "JOB_STATE_CANCEL",
    "HPOServiceError",
    "SpaceError",
    "StoreError",
    "InvalidResultError",
    "AllTrialsFailed",
    "report",
    "should_prune",
    "TrialPruned",
    "STATUS_PRUNED",
    "pruners",
    "progress",
]

#: Module paths that hyperopt users import from, with one name each.
HYPEROPT_MODULE_PATHS = [
    ("hpo_service.fmin", "fmin"),
    ("hpo_service.early_stop", "no_progress_loss"),
    ("hpo_service.exceptions", "AllTrialsFailed"),
    ("hpo_service.pyll", "scope"),
    ("hpo_service.plotting", "main_plot_history"),
    ("hpo_service.plotting", "main_plot_histogram"),
    ("hpo_service.plotting", "main_plot_vars"),
    ("hpo_service.plotting", "main_plot_1D_attachment"),
    ("hpo_service.pyll", "as_apply"),
    ("hpo_service.pyll.base", "scope"),
    ("hpo_service.pyll.stochastic", "sample"),
    ("hpo_service.fmin", "generate_trials_to_calculate"),
    ("hpo_service.base", "JOB_STATE_ERROR"),
    ("hpo_service.base", "Domain"),
    ("hpo_service.base", "Ctrl"),
    ("hpo_service.base", "Trials"),
    ("hpo_service.exceptions", "DuplicateLabel"),
    ("hpo_service.exceptions", "BadSearchSpace"),
    ("hpo_service.exceptions", "InvalidTrial"),
    ("hpo_service.exceptions", "InvalidResultStatus"),
    ("hpo_service.exceptions", "InvalidLoss"),
    ("hpo_service.exceptions", "InvalidAnnotatedParameter"),
    ("hpo_service.tpe", "suggest"),
    ("hpo_service.rand", "suggest"),
    ("hpo_service.anneal", "suggest"),
    ("hpo_service.mix", "suggest"),
    ("hpo_service.hp", "uniform"),
    ("hpo_service.mongoexp", "MongoTrials"),
    ("hpo_service.mongoexp", "JOB_STATE_NEW"),
    ("hpo_service.mongoexp", "JOB_STATE_RUNNING"),
    ("hpo_service.mongoexp", "JOB_STATE_DONE"),
    ("hpo_service.mongoexp", "JOB_STATE_ERROR"),
    ("hpo_service.mongoexp", "JOB_STATES"),
    ("hpo_service.mongoexp", "Trials"),
    ("hpo_service.mongoexp", "OperationFailure"),
    ("hpo_service.base", "miscs_update_idxs_vals"),
    ("hpo_service.base", "miscs_to_idxs_vals"),
    ("hpo_service.base", "spec_from_misc"),
    ("hpo_service.base", "validate_timeout"),
    ("hpo_service.base", "validate_loss_threshold"),
    ("hpo_service.base", "TRIAL_KEYS"),
    ("hpo_service.base", "TRIAL_MISC_KEYS"),
    ("hpo_service.base", "JOB_STATE_DONE"),
    ("hpo_service.base", "STATUS_OK"),
    ("hpo_service.base", "pyll"),
    ("hpo_service.base", "DuplicateLabel"),
    ("hpo_service.base", "InvalidTrial"),
    ("hpo_service.progress", "no_progress_callback"),
    ("hpo_service.progress", "tqdm_progress_callback"),
]

#: Public modules allowed loose at the top of the package; all else is in folders.
TOP_LEVEL_MODULES = {
    "__init__",
    "fmin",
    "trials",
    "early_stop",
    "exceptions",
    "pyll",
    "plotting",
    "base",
    "mongoexp",
    "progress",
    # hyperopt's algorithm module paths, aliases of hpo_service.algorithms.<name>
    "tpe",
    "rand",
    "anneal",
    "mix",
    # hyperopt's ``hp`` module path, alias of hpo_service.space.hp
    "hp",
    # Optuna's ``pruners`` module path (README), alias of hpo_service.algorithms.pruners
    "pruners",
}


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_name_imports(name: str) -> None:
    module = importlib.import_module("hpo_service")
    assert getattr(module, name) is not None
    assert name in dir(hpo_service)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = hpo_service.no_such_name  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["SparkTrials", "atpe", "fmin_pass_expr_memo_ctrl"])
def test_hyperopts_names_left_out_say_what_to_use_instead(name: str) -> None:
    # A ported script's `from hyperopt import SparkTrials` becomes this import:
    # Python alone would say only "cannot import name 'SparkTrials'".
    with pytest.raises(
        ImportError, match=rf"^hpo_service has no {name} \(hyperopt's\): "
    ):
        exec(f"from hpo_service import {name}", {})
    with pytest.raises(AttributeError, match=f"has no {name}"):
        getattr(hpo_service, name)
    assert not hasattr(hpo_service, name)
    with pytest.raises(ImportError, match="StoreTrials"):
        from hpo_service import SparkTrials  # noqa: F401


@pytest.mark.parametrize(("module", "name"), HYPEROPT_MODULE_PATHS)
def test_hyperopt_module_paths_import(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name)


def test_fmin_is_the_function_even_after_its_module_is_imported() -> None:
    importlib.import_module("hpo_service.fmin")
    from hpo_service import fmin

    assert callable(fmin) and fmin.__name__ == "fmin"
    assert hpo_service.fmin is fmin


@pytest.mark.parametrize("name", ["tpe", "rand", "anneal", "mix"])
def test_algorithm_module_paths_are_the_algorithm_modules(name: str) -> None:
    alias = importlib.import_module(f"hpo_service.{name}")
    assert alias is importlib.import_module(f"hpo_service.algorithms.{name}")
    assert getattr(hpo_service, name) is alias


def test_top_level_holds_only_public_modules() -> None:
    loose = {m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if not m.ispkg}
    assert loose <= TOP_LEVEL_MODULES, sorted(loose - TOP_LEVEL_MODULES)


@pytest.mark.parametrize("script", ["hpo-driver", "hpo-worker"])
def test_console_scripts_point_at_importable_functions(script: str) -> None:
    points = importlib.metadata.entry_points(group="console_scripts")
    (entry,) = [p for p in points if p.name == script]
    assert callable(entry.load())


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_url_parsing_imports_no_backend() -> None:
    """Backends import ``_url``; ``_url`` must not import them back (no cycle)."""
    imported = _imported_modules(PACKAGE / "store" / "_url.py")
    backends = {"hpo_service.store._sqlite", "hpo_service.store._mongo"}
    assert not imported & backends
    assert "hpo_service.store._open" not in imported
