"""The child runner: real child processes running the objectives of tests/helpers."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import threading
import time

import pytest

from hpo_service.exceptions import WorkerError
from hpo_service.worker._child import OUTPUT_LIMIT, ChildRunner, _encode

from .conftest import wait_until

OBJ = "tests.helpers.objectives"


@pytest.fixture(scope="module")
def runner():
    """One runner shared by the tests that leave its child alive."""
    shared = ChildRunner()
    yield shared
    shared.close()


@pytest.fixture
def fresh():
    """A runner of its own, for tests that kill or replace the child."""
    own = ChildRunner()
    yield own
    own.close()


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie counts: it runs nothing any more)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_gone(pid: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.02)
    return False


def test_number_becomes_ok_result_with_duration(runner):
    outcome = runner.run(f"{OBJ}:quadratic", {"x": 1.0})
    assert outcome.kind == "result"
    assert outcome.data["loss"] == 4.0
    assert outcome.data["status"] == "ok"
    assert outcome.data["duration"] >= 0
    assert "output" not in outcome.data


def test_child_is_reused_across_trials(runner):
    runner.run(f"{OBJ}:quadratic", {"x": 0.0})
    pid = runner.pid
    for x in range(5):
        assert runner.run(f"{OBJ}:quadratic", {"x": x}).data["loss"] == (x - 3) ** 2
    assert runner.pid == pid


def test_a_new_child_imports_no_more_than_an_objective_needs(fresh):
    """A child starts with every worker and after each timeout or crash: it loads
    neither the worker loop, the store, click nor numpy (5 starts took 1.6 s of CPU
    when it imported the whole worker package). numpy values still become plain
    ones when the objective imports numpy itself."""
    heavy = ["numpy", "click", "hpo_service.worker._loop", "hpo_service.store"]
    heavy += ["hpo_service.driver", "hpo_service.algorithms", "hpo_service.space"]
    heavy += ["importlib.metadata"]
    outcome = fresh.run(f"{OBJ}:imported", heavy)
    assert outcome.kind == "result"
    assert outcome.data["imported"] == []
    outcome = fresh.run(f"{OBJ}:with_attachments", {"x": 2.0})
    assert outcome.kind == "result", outcome
    assert outcome.data["loss"] == 4.0
    assert outcome.data["steps"] == [0, 1, 2]


def test_child_runs_in_its_own_session(runner):
    runner.run(f"{OBJ}:quadratic", {"x": 0.0})
    assert os.getsid(runner.pid) == runner.pid != os.getsid(0)


def test_dotted_attribute_reference(runner):
    outcome = runner.run(f"{OBJ}:Namespace.quadratic", {"x": 5.0})
    assert (outcome.kind, outcome.data["loss"]) == ("result", 4.0)


def test_fail_status_dict_keeps_extra_keys(runner):
    outcome = runner.run(f"{OBJ}:returns_dict", {"status": "fail"})
    assert outcome.kind == "result"
    assert outcome.data["status"] == "fail"
    assert outcome.data["note"] == "hi"


def test_exception_gives_error_with_raise_line_in_traceback(runner):
    outcome = runner.run(f"{OBJ}:raises", {"message": "bad lr"})
    assert outcome.kind == "error"
    assert outcome.data["type"] == "ValueError"
    assert outcome.data["message"] == "bad lr"
    tb = outcome.data["traceback"]
    assert 'raise ValueError(config.get("message", "boom"))' in tb
    assert "objectives.py" in tb and "in raises" in tb
    assert outcome.data["duration"] >= 0


@pytest.mark.parametrize(
    ("fn", "config", "kind", "fragment"),
    [
        ("returns_nan", {}, "InvalidLoss", "NaN"),
        (
            "returns_infinite_losses",
            {},
            "InvalidLoss",
            "finite numbers when there are several objectives, but got "
            "loss=[0.5, -inf]",
        ),
        ("returns_bad", {}, "InvalidResultError", "must return a number or a dict"),
        (
            "returns_bad",
            {"value": {"status": "ok"}},
            "InvalidLoss",
            "a result must have a 'loss' (a number, or a list of numbers: one per "
            "objective), but it has only 'status'",
        ),
        (
            "returns_bad",
            {"value": {"loss": "low"}},
            "InvalidLoss",
            "'loss' must be a number",
        ),
        (
            "returns_bad",
            {"value": {"loss": 1, "status": "meh"}},
            "InvalidResultStatus",
            "'status'",
        ),
        ("returns_unjsonable", {}, "InvalidResultError", "JSON"),
    ],
)
def test_invalid_returns_become_errors(runner, fn, config, kind, fragment):
    """Each invalid return is an error trial named with hyperopt's exception name."""
    outcome = runner.run(f"{OBJ}:{fn}", config)
    assert outcome.kind == "error"
    assert outcome.data["type"] == kind
    assert fragment in outcome.data["message"]


def test_memory_blow_up_is_the_trials_error(runner):
    outcome = runner.run(f"{OBJ}:allocates", {"nbytes": 1 << 50})
    assert (outcome.kind, outcome.data["type"]) == ("error", "MemoryError")
    assert runner.run(f"{OBJ}:quadratic", {"x": 3.0}).data["loss"] == 0.0


def test_output_is_captured_per_trial(runner):
    outcome = runner.run(f"{OBJ}:prints", {"lines": 2})
    out = outcome.data["output"]
    assert "out line 0\nout line 1\n" in out
    assert "err line\n" in out
    assert "raw fd write\n" in out
    assert "output" not in runner.run(f"{OBJ}:quadratic", {"x": 1.0}).data


def test_output_keeps_only_the_tail(runner):
    outcome = runner.run(f"{OBJ}:prints", {"lines": 3000})
    out = outcome.data["output"]
    assert out.startswith("[") and "bytes cut]" in out.splitlines()[0]
    assert len(out.encode()) <= OUTPUT_LIMIT + 40
    assert "out line 2999\n" in out
    assert "out line 0\n" not in out


def test_timeout_kills_child_and_next_trial_gets_a_new_one(fresh):
    fresh.run(f"{OBJ}:quadratic", {"x": 0.0})
    old = fresh.pid
    outcome = fresh.run(f"{OBJ}:hangs", {}, timeout=0.3)
    assert outcome.kind == "error"
    assert outcome.data["type"] == "TrialTimeout"
    assert "trial_timeout=0.3" in outcome.data["message"]
    assert outcome.data["duration"] >= 0.3
    assert fresh.pid is None and wait_gone(old)
    assert fresh.run(f"{OBJ}:quadratic", {"x": 2.0}).data["loss"] == 1.0
    assert fresh.pid not in (None, old)


SLOW_IMPORT = textwrap.dedent(
    """
    import time

    time.sleep(1.5)

    def objective(config):
        time.sleep(config["seconds"])
        return 0.0

    time.sleep(30.0) if __import__("os").environ.get("HANG_IMPORT") else None
    """
)


def test_trial_timeout_counts_from_the_call_not_the_module_import(
    tmp_path, monkeypatch
):
    (tmp_path / "slow_import_mod.py").write_text(SLOW_IMPORT)
    monkeypatch.chdir(tmp_path)
    own = ChildRunner()
    try:
        late = own.run("slow_import_mod:objective", {"seconds": 30}, timeout=1.0)
        assert (late.kind, late.data["type"]) == ("error", "TrialTimeout")
        message = late.data["message"]
        assert "than trial_timeout=1.0s: killed 1.0 s after it was called" in message
        took = re.search(r"its module's import before that took (\d+\.\d+)", message)
        assert took and float(took.group(1)) >= 1.5, message
        # The call's time, not the import's: with the import it would be >= 2.5 s.
        assert 1.0 <= late.data["duration"] < 2.5
        # A new child imports the module again (1.5 s), then the call takes 0.1 s:
        # within a 1 s timeout, as only the call counts (import and call together
        # would be 1.6 s; the call's 0.9 s margin holds on a loaded machine).
        in_time = own.run("slow_import_mod:objective", {"seconds": 0.1}, timeout=1.0)
        assert in_time.kind == "result", in_time.data
    finally:
        own.close()


def test_an_import_that_hangs_past_the_timeouts_is_a_start_failure(
    tmp_path, monkeypatch
):
    (tmp_path / "slow_import_mod.py").write_text(SLOW_IMPORT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HANG_IMPORT", "1")
    own = ChildRunner(startup_timeout=4.0)  # the import may take max(1, 4) s
    try:
        outcome = own.run("slow_import_mod:objective", {"seconds": 0}, timeout=1.0)
    finally:
        own.close()
    assert (outcome.kind, outcome.data["type"]) == ("start_failed", "ImportTimeout")
    assert "still being imported after 4." in outcome.data["message"]
    assert "the objective was never called" in outcome.data["message"]


def test_output_reaches_the_caller_while_the_objective_runs(fresh, tmp_path):
    seen = tmp_path / "seen"
    lines = []

    def on_output(line):
        lines.append(line)
        if line == "waiting":
            seen.touch()  # the objective returns 0 only if it sees this in time

    outcome = fresh.run(
        f"{OBJ}:prints_and_waits", {"seen": str(seen)}, on_output=on_output
    )
    assert (outcome.kind, outcome.data["loss"]) == ("result", 0.0)
    assert lines == ["waiting", "é \xff", "no line end"]
    outcome = fresh.run(f"{OBJ}:prints", {"lines": 2}, on_output=lines.append)
    assert lines[3:] == ["out line 0", "out line 1", "err line", "raw fd write"]


def test_the_next_child_after_a_timeout_is_not_read_for_the_last_trial(fresh):
    """A trial's output forwarder ends with the trial. It was kept, and polled while
    the next child started: on the output file's descriptor, closed by then, which
    raised EBADF and ended the worker (seen once in a shuffled full run), or, when
    the number was reused, on the new child's file, for the old trial's sink."""
    # Numbers below the output file's: the next child's file, pipes and selector
    # get them, so the old number stays closed.
    low = [os.open(os.devnull, os.O_RDONLY) for _ in range(8)]
    try:
        lines = []
        outcome = fresh.run(f"{OBJ}:hangs", {}, timeout=0.3, on_output=lines.append)
        assert (outcome.kind, outcome.data["type"]) == ("error", "TrialTimeout")
    finally:
        for fd in low:
            os.close(fd)
    assert fresh.run(f"{OBJ}:quadratic", {"x": 2.0}).data["loss"] == 1.0
    assert lines == []


def test_os_exit_is_child_process_died_with_last_output(fresh, caplog):
    fresh.start()
    pid = fresh.pid
    with caplog.at_level(logging.DEBUG, logger="hpo_service.worker._child"):
        outcome = fresh.run(f"{OBJ}:prints_then_exits", {})
    assert f"objective process {pid} killed or gone: exit code 7" in caplog.messages
    assert outcome.kind == "error"
    assert outcome.data["type"] == "ChildProcessDied"
    assert outcome.data["message"] == "exit code 7"
    assert "last words" in outcome.data["output"]
    assert fresh.run(f"{OBJ}:quadratic", {"x": 4.0}).data["loss"] == 1.0


def test_segfault_is_child_process_died(fresh):
    outcome = fresh.run(f"{OBJ}:segfaults", {})
    assert outcome.data["type"] == "ChildProcessDied"
    assert outcome.data["message"] == f"exit code {-signal.SIGSEGV} (SIGSEGV)"


def test_child_that_died_between_trials_is_replaced(fresh):
    fresh.run(f"{OBJ}:quadratic", {"x": 0.0})
    old = fresh.pid
    os.kill(old, signal.SIGKILL)
    os.waitid(os.P_PID, old, os.WEXITED | os.WNOWAIT)  # dead, left for the runner
    outcome = fresh.run(f"{OBJ}:quadratic", {"x": 1.0})
    assert (outcome.kind, outcome.data["loss"]) == ("result", 4.0)
    assert fresh.pid != old


def test_the_output_file_has_no_name_once_the_child_is_ready(monkeypatch, tmp_path):
    # Both processes keep it open, so nothing is left behind by a SIGKILL (before,
    # every killed worker left a /tmp/hpo-worker-*.out with its last trial's output).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    runner = ChildRunner()
    try:
        first = runner.run(f"{OBJ}:prints", {"lines": 2})
        assert list(tmp_path.iterdir()) == []
        old = runner.pid
        os.kill(old, signal.SIGKILL)  # replaced at the next trial
        os.waitid(os.P_PID, old, os.WEXITED | os.WNOWAIT)  # dead, left for the runner
        second = runner.run(f"{OBJ}:prints", {"lines": 1})
        assert list(tmp_path.iterdir()) == []
    finally:
        runner.close()
    assert first.data["output"].count("out line") == 2
    assert second.data["output"] == "out line 0\nerr line\nraw fd write\n"


def _queued_bytes(runner: ChildRunner) -> int:
    """Bytes the runner wrote to its child that the child has not read (Linux)."""
    return _queued_bytes_of(runner._proc.stdin.fileno())  # the runner's end


def _queued_bytes_of(fd: int) -> int:
    """Bytes in the pipe of ``fd`` that nobody has read yet (Linux)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]


def _run_as_the_child_dies(runner: ChildRunner, objective: str, params: dict):
    """Run one trial of ``objective`` after another one, killing the child (SIGKILL)
    once the second request is in its pipe but unread; returns the second trial's
    outcome (asserting the child was replaced)."""
    runner.run(f"{OBJ}:prints", {"lines": 2})
    old = runner.pid
    os.kill(old, signal.SIGSTOP)
    outcome = []
    second = threading.Thread(
        target=lambda: outcome.append(runner.run(f"{OBJ}:{objective}", params))
    )
    second.start()
    wait_until(lambda: _queued_bytes(runner) > 0)  # the request is in its pipe
    os.kill(old, signal.SIGKILL)
    second.join(timeout=60)
    assert outcome and outcome[0].kind == "result", outcome
    assert runner.pid != old
    return outcome[0]


def _frames_waiting(fd: int) -> list[str]:
    """The kinds of the frames readable at once from ``fd`` (the child's replies)."""
    data = os.read(fd, _queued_bytes_of(fd))
    kinds = []
    while data:
        (size,) = struct.unpack(">I", data[:4])
        kinds.append(json.loads(data[4 : 4 + size])["kind"])
        data = data[4 + size :]
    return kinds


def test_a_trial_of_an_imported_objective_wakes_the_worker_once_before_the_call(
    fresh,
):
    """For an objective the child has imported, "received" and "started" arrive
    together (one write, so one wake-up of the worker per trial for both); the
    result comes after the call."""
    fresh.run(f"{OBJ}:sleeps", {"seconds": 0})
    replies = fresh._proc.stdout.fileno()
    request = {"objective": f"{OBJ}:sleeps", "config": {"seconds": 2}}
    os.write(fresh._proc.stdin.fileno(), _encode(request))
    assert select.select([replies], [], [], 30)[0]
    assert _frames_waiting(replies) == ["received", "started"]


def test_a_child_dying_as_it_gets_a_trial_is_replaced_not_an_import_failure(
    fresh, caplog
):
    # The request is written while the child still lives (stopped), then it dies
    # before reading it: the death is the process's, not the objective's import.
    with caplog.at_level(logging.WARNING, logger="hpo_service.worker._child"):
        outcome = _run_as_the_child_dies(fresh, "prints", {"lines": 1})
    assert outcome.data["output"] == "out line 0\nerr line\nraw fd write\n"
    [warning] = [m for m in caplog.messages if "died between trials" in m]
    assert re.fullmatch(
        rf"objective process \d+ died between trials \(exit code {-signal.SIGKILL} "
        r"\(SIGKILL\)\)",
        warning,
    )


def test_a_child_killed_as_it_gets_another_objective_is_replaced(fresh):
    # The child never called this objective, but it died before it read the trial:
    # not an import failure (before, a start_failed carrying the last trial's output,
    # and the worker exited saying the import failed).
    outcome = _run_as_the_child_dies(fresh, "quadratic", {"x": 1.0})
    assert outcome.data["loss"] == 4.0
    assert "output" not in outcome.data


# Imported by every child at start-up (PYTHONPATH): the child SIGKILLs itself when
# its first read returns, i.e. once a trial's request has reached it, before it
# answers "received" (as an OOM kill at that instant would); with KILL_ONCE set, only
# the first child to get there does.
KILLED_AT_REQUEST = """
import os, signal
if os.environ.get("KILL_AT_REQUEST"):
    _read = os.read

    def read(fd, n):
        data = _read(fd, n)
        once = os.environ.get("KILL_ONCE")
        if not once or not os.path.exists(once):
            if once:
                open(once, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return data

    os.read = read
"""


@pytest.fixture
def killed_at_request(tmp_path, monkeypatch):
    """Children started now die as they get their first request (see above)."""
    (tmp_path / "sitecustomize.py").write_text(KILLED_AT_REQUEST)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("KILL_AT_REQUEST", "1")
    return tmp_path


def test_a_new_child_killed_as_it_gets_its_first_trial_is_replaced(
    killed_at_request, monkeypatch
):
    once = killed_at_request / "killed"
    monkeypatch.setenv("KILL_ONCE", str(once))
    runner = ChildRunner()
    try:
        outcome = runner.run(f"{OBJ}:prints", {"lines": 1})
    finally:
        runner.close()
    assert once.exists()  # a child died
    assert outcome.kind == "result", outcome
    assert outcome.data["output"] == "out line 0\nerr line\nraw fd write\n"


def test_two_children_killed_as_they_get_the_trial_stop_the_runner(killed_at_request):
    runner = ChildRunner()
    try:
        with pytest.raises(WorkerError, match="died twice in a row") as raised:
            runner.run(f"{OBJ}:quadratic", {"x": 1.0})
    finally:
        runner.close()
    assert f"exit code {-signal.SIGKILL} (SIGKILL)" in str(raised.value)


DIES_AT_IMPORT = """
import os, sys
print("importing", flush=True)
os._exit(5)
"""


def test_a_death_at_import_is_a_start_failure_with_that_imports_output_only(
    fresh, tmp_path, monkeypatch
):
    (tmp_path / "dies_at_import_mod.py").write_text(DIES_AT_IMPORT)
    monkeypatch.chdir(tmp_path)
    fresh.run(f"{OBJ}:prints", {"lines": 2})  # this child has output of its own
    outcome = fresh.run("dies_at_import_mod:objective", {})
    assert (outcome.kind, outcome.data["type"]) == ("start_failed", "ChildProcessDied")
    assert outcome.data["message"] == "exit code 5"
    assert outcome.data["output"] == "importing\n"
    # A new child runs the next trial.
    assert fresh.run(f"{OBJ}:quadratic", {"x": 4.0}).data["loss"] == 1.0


def test_abort_while_the_child_starts_sends_nothing(fresh):
    outcome = fresh.run(f"{OBJ}:quadratic", {"x": 1.0}, should_abort=lambda: True)
    assert (outcome.kind, outcome.data, outcome.code) == ("aborted", {}, None)
    assert fresh.pid is None
    assert fresh.run(f"{OBJ}:quadratic", {"x": 1.0}).data["loss"] == 4.0


def test_abort_kills_the_running_objective(fresh):
    calls = []

    def should_abort():
        calls.append(time.monotonic())
        return len(calls) > 2

    outcome = fresh.run(f"{OBJ}:sleeps", {"seconds": 30}, should_abort=should_abort)
    assert outcome.kind == "aborted"
    assert fresh.pid is None


@pytest.mark.parametrize(
    ("ref", "error_type"),
    [
        ("no_such_package_xyz.mod:fn", "ModuleNotFoundError"),
        (f"{OBJ}:no_such_function", "AttributeError"),
        (f"{OBJ}:NOT_CALLABLE", "ObjectiveImportError"),
        ("missing-colon", "ValueError"),
    ],
)
def test_import_failures_are_reported_not_run(runner, ref, error_type):
    outcome = runner.run(ref, {})
    assert outcome.kind == "import_error"
    assert outcome.data["type"] == error_type


def test_module_in_working_directory_is_importable(tmp_path, monkeypatch):
    (tmp_path / "user_objective_mod.py").write_text(
        "def fn(config):\n    return config['x'] * 2\n"
    )
    monkeypatch.chdir(tmp_path)
    own = ChildRunner()
    try:
        outcome = own.run("user_objective_mod:fn", {"x": 21})
    finally:
        own.close()
    assert (outcome.kind, outcome.data["loss"]) == ("result", 42.0)


ARGPARSE_MODULE = textwrap.dedent(
    """
    import argparse, sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.25)
    ARGS = parser.parse_args()  # at import, as scripts turned objectives often do

    def objective(config):
        return {"loss": ARGS.lr, "status": "ok", "argv": sys.argv}
    """
)


def test_a_module_parsing_arguments_sees_none_of_the_workers(tmp_path, monkeypatch):
    (tmp_path / "argparse_mod.py").write_text(ARGPARSE_MODULE)
    monkeypatch.chdir(tmp_path)
    own = ChildRunner()
    try:
        outcome = own.run("argparse_mod:objective", {})
    finally:
        own.close()
    assert outcome.kind == "result", outcome.data
    assert (outcome.data["loss"], outcome.data["argv"]) == (0.25, ["hpo-objective"])


def test_the_driver_checks_such_a_module_without_lending_it_its_arguments(
    tmp_path, monkeypatch
):
    from hpo_service.objective._reference import check_objective

    (tmp_path / "argparse_mod2.py").write_text(ARGPARSE_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["hpo-driver", "start", "--study", "s"])
    assert check_objective("argparse_mod2:objective") is None  # found, no SystemExit
    assert sys.argv == ["hpo-driver", "start", "--study", "s"]  # given back


def test_child_dies_with_its_worker(tmp_path):
    marker = tmp_path / "called"
    script = textwrap.dedent(
        f"""
        import sys
        from hpo_service.worker._child import ChildRunner
        runner = ChildRunner()
        runner.start()
        print(runner.pid, flush=True)
        runner.run("{OBJ}:marks_then_hangs", {{"marker": {str(marker)!r}}})
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    child_pid = int(parent.stdout.readline())
    wait_until(marker.exists)  # the child is now running the objective
    parent.kill()
    parent.wait()
    parent.stdout.close()
    assert wait_gone(child_pid)
