"""A worker that cannot start the objective never burns a trial, however it fails.

Real ``hpo-worker`` processes against a SQLite study: the objective's module exits,
segfaults or ends its process while being imported, or the objective process cannot
be spawned at all. Each time the trial goes back to the queue untouched and the
worker exits 3 with the reason.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hpo_service.store import TrialState

from .conftest import REPO, make_study, wait_until

BROKEN_MODULES = {
    "parses_args": (
        "import argparse\np = argparse.ArgumentParser()\n"
        "p.add_argument('--data', required=True)\np.parse_args()\n"
    ),
    "segfaults": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    "exits_0": "import os\nos._exit(0)\n",
    "raises_keyboard_interrupt": "raise KeyboardInterrupt\n",
}
OBJECTIVE = "\ndef objective(config):\n    return 0.0\n"


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HPO_DB", None)
    return env


@pytest.mark.parametrize("module", sorted(BROKEN_MODULES))
def test_a_module_that_dies_at_import_burns_no_trial(store, db_url, tmp_path, module):
    (tmp_path / f"{module}.py").write_text(BROKEN_MODULES[module] + OBJECTIVE)
    make_study(store, "s", f"{module}:objective", [{"x": 1}, {"x": 2}, {"x": 3}])
    done = subprocess.run(
        [sys.executable, "-m", "hpo_service.worker", "--db", db_url, "--study", "s"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert f"{module}:objective" in done.stderr
    assert "Traceback (most recent call last)" not in done.stderr.split("Error:")[0]
    trials = store.get_trials("s")
    assert [(t.state, t.attempts) for t in trials] == [(TrialState.NEW, 0)] * 3
    if module == "parses_args":  # the reason reaches the operator
        assert "SystemExit" in done.stderr and "usage:" in done.stderr
    if module == "segfaults":
        assert "SIGSEGV" in done.stderr


def _python_in(folder: Path) -> Path:
    """A symlink to this interpreter that the test can later make unusable."""
    folder.mkdir()
    python = folder / "python"
    python.symlink_to(os.path.realpath(sys.executable))
    return python


FLAKY = textwrap.dedent(
    """
    import os, time

    def objective(config):
        if config["die"]:
            time.sleep(1.0)
            os._exit(5)
        return 0.0
    """
)


def test_a_spawn_failure_hands_the_trial_back_and_exits_3(store, db_url, tmp_path):
    """The objective process dies (a trial error), and its replacement cannot start."""
    python = _python_in(tmp_path / "bin")
    (tmp_path / "flaky.py").write_text(FLAKY)
    paths = [str(REPO), *site.getsitepackages()]
    env = {**_env(), "PYTHONPATH": os.pathsep.join(paths)}
    make_study(store, "s", "flaky:objective", [{"die": True}, {"die": False}])
    proc = subprocess.Popen(
        [str(python), "-m", "hpo_service.worker", "--db", db_url, "--study", "s"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # While the first trial runs, take away the interpreter that the worker
        # would start the next objective process with.
        wait_until(lambda: store.count_by_state("s")[TrialState.RUNNING] == 1, 60)
        python.unlink()
        python.write_text("not a program\n")
        python.chmod(0o644)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, err
    assert "cannot start the objective process" in err
    assert "PermissionError" in err
    assert "Traceback (most recent call last)" not in err
    first, second = store.get_trials("s")
    assert first.state == TrialState.ERROR, first
    assert first.error["type"] == "ChildProcessDied"
    assert (second.state, second.attempts) == (TrialState.NEW, 0)
