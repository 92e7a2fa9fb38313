"""deploy/systemd: unit files that systemd accepts without a warning.

``systemd-analyze verify`` loads each unit as systemd would (it exits 0 even on unknown
keys or bad values, so its stderr must be empty too); ``systemd-analyze security
--offline`` scores the hardening. ExecStart is pointed at an executable that exists
here, since verify refuses a missing one.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from _deploy_support import DEPLOY, find_tool, require_tool

SYSTEMD = DEPLOY / "systemd"
UNITS = ["hpo-worker.service", "hpo-worker@.service"]
INSTALLED_WORKER = "/opt/hpo-service/venv/bin/hpo-worker"
MIN_STOP_SECONDS = 300
MAX_EXPOSURE = 4.0


def _entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of every assignment, in order (keys may repeat)."""
    entries, section = [], ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def _values(path: Path, section: str, key: str) -> list[str]:
    return [v for s, k, v in _entries(path) if s == section and k == key]


def _staged(tmp_path: Path, name: str, service_lines: str = "") -> Path:
    """Copy unit ``name`` with ExecStart runnable here and ``service_lines`` added."""
    worker = find_tool("hpo-worker") or "/bin/true"
    text = (SYSTEMD / name).read_text().replace(INSTALLED_WORKER, worker)
    text = text.replace("[Service]\n", f"[Service]\n{service_lines}", 1)
    target = tmp_path / name
    target.write_text(text)
    return target


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    analyze = require_tool("systemd-analyze", "apt-get install systemd")
    return subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        cwd=unit.parent,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", UNITS)
def test_unit_verifies_without_warnings(name: str, tmp_path: Path) -> None:
    done = _verify(_staged(tmp_path, name))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""


def test_verify_reports_a_bad_setting(tmp_path: Path) -> None:
    # The control case: the same check notices a misspelt key and a bad value.
    unit = _staged(tmp_path, "hpo-worker.service", "KillMod=mixed\nRestart=sometimes\n")
    done = _verify(unit)
    assert "KillMod" in done.stderr
    assert "sometimes" in done.stderr


@pytest.mark.parametrize("name", UNITS)
def test_unit_stops_gracefully_and_restarts(name: str) -> None:
    path = SYSTEMD / name
    (exec_start,) = _values(path, "Service", "ExecStart")
    assert exec_start.split()[0] == INSTALLED_WORKER
    assert _values(path, "Service", "KillSignal") == ["SIGTERM"]
    # mixed: SIGTERM reaches the worker only, never its running objective.
    assert _values(path, "Service", "KillMode") == ["mixed"]
    assert _values(path, "Service", "Restart") == ["on-failure"]
    (timeout,) = _values(path, "Service", "TimeoutStopSec")
    assert _seconds(timeout) >= MIN_STOP_SECONDS
    env_files = _values(path, "Service", "EnvironmentFile")
    assert "/etc/hpo-service/worker.env" in env_files
    assert _values(path, "Service", "User") == ["hpo"]


@pytest.mark.parametrize("name", UNITS)
def test_unit_restarts_a_bounded_number_of_times(name: str) -> None:
    # A worker that exits non-zero at every start (say it cannot import the
    # objective) must not be restarted for ever: systemd gives up after the burst.
    path = SYSTEMD / name
    (burst,) = _values(path, "Unit", "StartLimitBurst")
    (interval,) = _values(path, "Unit", "StartLimitIntervalSec")
    (delay,) = _values(path, "Service", "RestartSec")
    assert 1 <= int(burst) <= 10
    # Restarts RestartSec apart fit in the interval, so the limit is reached.
    assert int(burst) * _seconds(delay) < _seconds(interval)


@pytest.mark.parametrize("name", UNITS)
def test_unit_hardening_scores_ok(name: str, tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "apt-get install systemd")
    unit = _staged(tmp_path, name)
    if name.endswith("@.service"):
        unit = unit.rename(tmp_path / name.replace("@", "@1"))
    done = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE


def test_example_environment_file_names_hpo_db() -> None:
    lines = (SYSTEMD / "worker.env.example").read_text().splitlines()
    assignments = dict(
        line.split("=", 1) for line in lines if line and not line.startswith("#")
    )
    assert assignments["HPO_DB"].startswith("mongodb://")
    assert "HPO_WORKER_ARGS" in assignments
    # A worker that ends with exit 0 (idle, or done with its trials) is not restarted
    # (Restart=on-failure): the machine would stop serving studies for good.
    ending = {"--idle-timeout", "--max-trials", "--reserve-timeout", "--max-jobs"}
    assert not ending & set(assignments["HPO_WORKER_ARGS"].split()), assignments
    # Bounded by default: the worker runs these objectives only.
    assert re.fullmatch(r"(\S+:\S+ ?)+", assignments["HPO_WORKER_OBJECTIVES"])


def _seconds(span: str) -> float:
    """Seconds of a systemd time span such as ``15min``, ``1h 30min`` or ``900``."""
    units = {"h": 3600, "hour": 3600, "min": 60, "m": 60, "s": 1, "sec": 1, "": 1}
    parts = re.findall(r"(\d+)\s*([a-z]*)", span)
    assert parts, f"not a time span: {span!r}"
    return float(sum(int(value) * units[unit] for value, unit in parts))
