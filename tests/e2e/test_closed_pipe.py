"""A read command whose reader closed standard output (``hpo-driver trials | head
-1``) ends as a Unix tool does, by SIGPIPE and silently (real processes)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.e2e.conftest import QUADRATIC, REPO


@pytest.fixture
def db(procs, tmp_path) -> str:
    """A SQLite store holding study 'q' with 2 finished trials."""
    url = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = procs.run("hpo_service.driver", "start", "--db", url, "--study", "q",
                    *QUADRATIC, "--max-evals", "2", "--workers", "1",
                    "--no-progress")  # fmt: skip
    assert run.returncode == 0, run.stderr
    return url


@pytest.mark.parametrize(
    "command",
    [["trials", "--study", "q"], ["trials", "--study", "q", "--format", "json"],
     ["best", "--study", "q"], ["status", "--study", "q"], ["studies"]],
    ids=["trials", "trials-json", "best", "status", "studies"],
)  # fmt: skip
def test_a_closed_pipe_ends_a_read_command_by_sigpipe_silently(procs, db, command):
    """It exited 1 without a word (click's EPIPE handling): a script could not tell
    it from a failure. The reader's end is closed before the command writes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo_service.driver", *command, "--db", db],
        cwd=REPO, env=procs.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    process.stdout.close()  # as `head` once it has its line
    _, err = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGPIPE, err
    assert err == "", err
