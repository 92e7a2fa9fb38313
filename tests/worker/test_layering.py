"""The worker package stands below the driver: it imports shared pieces from
``hpo_service._common`` (study settings, stop signals), never from
``hpo_service.driver``, so a worker host loads none of the driver's code."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import hpo_service.worker

REPO = Path(__file__).resolve().parents[2]

_LOADED = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("hpo_service."))))
"""


def test_importing_every_worker_module_leaves_the_driver_out():
    modules = [
        info.name
        for info in pkgutil.iter_modules(
            hpo_service.worker.__path__, "hpo_service.worker."
        )
        if info.name != "hpo_service.worker.__main__"  # it runs the command
    ]
    assert {"hpo_service.worker._loop", "hpo_service.worker.cli"} <= set(modules)
    run = subprocess.run(
        [sys.executable, "-c", _LOADED, *modules],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout)
    assert "hpo_service._common.settings" in loaded  # the check sees shared modules
    driver = [m for m in loaded if m.split(".")[:2] == ["hpo_service", "driver"]]
    assert driver == [], driver
