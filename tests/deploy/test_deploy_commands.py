"""The driver and worker commands of docker-compose.yml and of the Kubernetes build,
run for real here, as the image would run them.

Each command line is taken from the resolved deployment (compose's normalised model,
kustomize's output), the store URL is swapped for a SQLite file (no MongoDB here), and
the processes start in a folder laid out like the image's workdir (``examples/`` only,
no repository): the driver must complete a short example study with the workers,
which then stop on SIGTERM with exit status 0, as on ``docker compose down``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from _deploy_support import (
    REPO,
    clean_env,
    compose_model,
    find_tool,
    kustomize_build,
    runnable,
)

MAX_EVALS = 6
TIMEOUT = 120


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder like the image's WORKDIR: the examples package and nothing else."""
    if find_tool("hpo-driver") is None or find_tool("hpo-worker") is None:
        pytest.skip("hpo-driver/hpo-worker are not installed (pip install -e .)")
    app = tmp_path / "app"
    shutil.copytree(
        REPO / "examples",
        app / "examples",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return app


def _with_option(command: list[str], option: str, value: str) -> list[str]:
    index = command.index(option)
    return [*command[: index + 1], value, *command[index + 2 :]]


def _run_study(driver: list[str], worker: list[str], app: Path) -> dict[str, int]:
    """Run two workers and the driver in ``app``; return the study's state counts."""
    env = clean_env(HPO_DB=f"sqlite:///{app.parent / 'hpo.sqlite'}")
    logs = [(app.parent / f"worker-{i}.log").open("w") for i in range(2)]
    driver, worker = runnable(driver), runnable(worker)
    workers = [
        subprocess.Popen(worker, cwd=app, env=env, stdout=log, stderr=log)
        for log in logs
    ]
    try:
        done = subprocess.run(
            driver, cwd=app, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=TIMEOUT) for process in workers]
        for log in logs:
            log.close()
    worker_logs = "".join(p.read_text() for p in app.parent.glob("worker-*.log"))
    assert done.returncode == 0, done.stdout + done.stderr + worker_logs
    assert codes == [0, 0], worker_logs
    study = driver[driver.index("--study") + 1]
    from hpo_service.store import open_store

    with open_store(env["HPO_DB"]) as store:
        return {s.value: n for s, n in store.count_by_state(study).items()}


@pytest.mark.slow
def test_compose_commands_run_the_example_study(workdir: Path) -> None:
    services = compose_model(HPO_MAX_EVALS=str(MAX_EVALS))["services"]
    driver, worker = services["driver"]["command"], services["worker"]["command"]
    counts = _run_study(driver, worker, workdir)
    assert counts["done"] == MAX_EVALS, counts
    assert counts["new"] == counts["running"] == 0, counts


@pytest.mark.slow
def test_kubernetes_commands_run_the_example_study(workdir: Path) -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in kustomize_build()}
    pods = [
        objects[("Job", "hpo-driver-quadratic")],
        objects[("Deployment", "hpo-worker")],
    ]
    driver, worker = (
        [*c["command"], *c.get("args", [])]
        for c in (p["spec"]["template"]["spec"]["containers"][0] for p in pods)
    )
    driver = _with_option(driver, "--max-evals", str(MAX_EVALS))
    counts = _run_study(driver, worker, workdir)
    assert counts["done"] == MAX_EVALS, counts
    assert counts["new"] == counts["running"] == 0, counts
