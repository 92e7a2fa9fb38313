"""Helpers to run hpo-driver and hpo-worker as real processes from the repo root."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: ``hpo-driver start``'s flags for the quadratic study of ``tests/e2e/objectives.py``
#: (its objective and space), as many of these tests give them.
QUADRATIC = [
    "--objective", "tests.e2e.objectives:quadratic",
    "--space", "tests.e2e.objectives:space",
]  # fmt: skip


class Processes:
    """Starts CLI processes in their own sessions and kills every one at the end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self._started: list[subprocess.Popen[str]] = []

    def run(
        self, module: str, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m module args`` to completion."""
        return self.run_in(REPO, module, *args, timeout=timeout)

    def run_in(
        self, cwd: Path, module: str, *args: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m module args`` to completion in directory ``cwd``."""
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, module: str, *args: str, cwd: Path = REPO) -> subprocess.Popen[str]:
        """Start ``python -m module args`` in the background, in a new session."""
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._started.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self._started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def procs() -> Iterator[Processes]:
    env = dict(os.environ, PYTHONPATH=str(REPO), HPO_DB="")
    env.pop("HPO_DB")
    started = Processes(env)
    yield started
    started.kill_all()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """The live (not zombie) child processes of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def fault_server(mongo_url: str) -> str:
    """The session's MongoDB-wire URL; the test is skipped when that server runs
    without test commands (no ``failCommand`` fail points)."""
    from tests.helpers.mongo_wire import fail_points_enabled

    if not fail_points_enabled(mongo_url):
        pytest.skip("the MongoDB server runs without test commands (fail points)")
    return mongo_url
