"""Helpers of the deployment checks (tests/deploy), shared by their modules.

The checks run real tools (compose, kubectl's kustomize, kubernetes-validate, hadolint,
shellcheck, systemd-analyze, Slurm). A missing tool makes its check skip with the
reason, or fail when ``HPO_REQUIRE_DEPLOY_TOOLS=1`` says that the tools must be there
(as in CI after ``.ci/deploy-deps.sh``), so that a missing install cannot hide behind
a green run.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def unavailable(reason: str) -> NoReturn:
    """Skip the current test for ``reason``, or fail it when tools are required.

    Args:
        reason: Why the check cannot run (which tool is missing and how to get it).

    Raises:
        pytest.skip.Exception: Tools are optional (the default).
        pytest.fail.Exception: ``HPO_REQUIRE_DEPLOY_TOOLS=1`` is set.
    """
    if os.environ.get("HPO_REQUIRE_DEPLOY_TOOLS") == "1":
        pytest.fail(f"{reason} (and HPO_REQUIRE_DEPLOY_TOOLS=1)")
    pytest.skip(reason)


def find_tool(name: str) -> str | None:
    """Return the path of executable ``name``: on PATH, or beside this Python."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if os.access(beside, os.X_OK) else None


def require_tool(name: str, hint: str = "run .ci/deploy-deps.sh") -> str:
    """Return the path of executable ``name``, or skip (fail) the test without it."""
    path = find_tool(name)
    if path is None:
        unavailable(f"`{name}` is not installed ({hint})")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without HPO/compose/Slurm/Docker settings, plus ``extra``."""
    prefixes = ("HPO_", "COMPOSE_", "SLURM_", "SBATCH_", "DOCKER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env
