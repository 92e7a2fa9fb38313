"""The deployment checks find this install's console scripts, as users run pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _deploy_support import find_tool, runnable


def test_console_scripts_are_found_beside_python_first(tmp_path: Path) -> None:
    """``.venv/bin/python -m pytest`` with no venv on PATH, or another one first."""
    impostor = tmp_path / "hpo-worker"
    impostor.write_text("#!/bin/sh\nexit 42\n")
    impostor.chmod(0o755)
    beside = Path(sys.executable).parent / "hpo-worker"
    old_path = os.environ["PATH"]
    try:
        os.environ["PATH"] = str(tmp_path)
        assert find_tool("hpo-worker") == str(beside)
        os.environ["PATH"] = "/nonexistent"
        command = runnable(["hpo-worker", "--help"])
    finally:
        os.environ["PATH"] = old_path
    done = subprocess.run(
        command,
        env={"PATH": "/nonexistent", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--study" in done.stdout
