"""The worker and the insight tools stand beside the driver, not on it: they import
shared pieces from ``hpo_service._common`` (study settings, stop signals, standard
JSON), never from ``hpo_service.driver``, so a worker host loads none of the
driver's code."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_LOADED = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("hpo_service."))))
"""


@pytest.mark.parametrize(
    ("package", "shared"),
    [
        ("hpo_service.worker", "hpo_service._common.settings"),
        ("hpo_service.insight", "hpo_service._common.standard_json"),
    ],
)
def test_importing_every_module_of_the_package_leaves_the_driver_out(package, shared):
    path = importlib.import_module(package).__path__
    modules = [
        info.name
        for info in pkgutil.iter_modules(path, f"{package}.")
        if not info.name.endswith(".__main__")  # it runs the command
    ]
    assert len(modules) > 5, modules
    run = subprocess.run(
        [sys.executable, "-c", _LOADED, *modules],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout)
    assert shared in loaded  # the check sees what the package shares
    driver = [m for m in loaded if m.split(".")[:2] == ["hpo_service", "driver"]]
    assert driver == [], driver


def _driver_imports(path: Path, package: str) -> list[str]:
    """Every import of ``hpo_service.driver`` in the module at ``path`` (of
    ``package``), wherever it stands: at the top, inside a function or under
    ``TYPE_CHECKING``, absolute or relative, and ``import_module`` of a name."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]  # importlib.import_module("hpo_service.driver...")
        else:
            continue
        found += [
            f"{path.name}:{node.lineno}: {name}"
            for name in names
            if name == "hpo_service.driver" or name.startswith("hpo_service.driver.")
        ]
    return found


@pytest.mark.parametrize("package", ["hpo_service.worker", "hpo_service.insight"])
def test_no_module_of_the_package_imports_the_driver_anywhere(package):
    root = Path(importlib.import_module(package).__path__[0])
    paths = sorted(root.rglob("*.py"))
    assert len(paths) > 5, paths
    found = [hit for path in paths for hit in _driver_imports(path, package)]
    assert found == [], found
