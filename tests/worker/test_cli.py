"""`hpo-worker` as real processes (`python -m hpo_service.worker`) and its options."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from hpo_service.store import TrialState, open_store
from hpo_service.worker.cli import main

from .conftest import OBJ, REPO, lines, make_study, wait_until


@pytest.fixture
def workers():
    """Starts worker processes from the repo root; kills leftovers at the end."""
    started = []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HPO_DB", None)

    def start(*args):
        proc = subprocess.Popen(
            [sys.executable, "-m", "hpo_service.worker", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def finish(proc, timeout=30):
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def test_completes_a_study_and_exits_when_idle(store, db_url, workers):
    make_study(store, "q", f"{OBJ}:quadratic", [{"x": float(x)} for x in range(6)])
    proc = workers("--db", db_url, "--idle-timeout", "0.5", "--worker-id", "w-cli")
    code, err = finish(proc)
    assert code == 0, err
    trials = store.get_trials("q")
    assert [t.result["loss"] for t in trials] == [(x - 3) ** 2 for x in range(6)]
    (owner,) = {t.owner for t in trials}  # the name, then the process identity
    assert owner.startswith(f"w-cli/{socket.gethostname()}:{proc.pid}:")
    assert all(
        "[w-cli]" in line for line in err.splitlines() if "hpo_service.worker" in line
    )
    assert "worker stopped: no trial to claim for 0.5 s (--idle-timeout); 6 done" in err


def test_its_last_line_counts_failed_and_error_trials_as_the_driver_does(
    store, db_url, workers
):
    """It said "2 done, 1 failed" for 1 ok, 1 STATUS_FAIL and 1 error trial, where
    the driver's end line and `hpo-driver status` call the STATUS_FAIL trial failed
    and the exception an error."""
    configs = [{"call": "quadratic", "x": 1.0}, {"call": "raises"},
               {"call": "returns_dict", "status": "fail"}]  # fmt: skip
    make_study(store, "mixed", f"{OBJ}:dispatch", configs)
    code, err = finish(workers("--db", db_url, "--study", "mixed"))
    assert code == 0, err
    states = [
        (t.state, (t.result or {}).get("status")) for t in store.get_trials("mixed")
    ]
    assert states == [(TrialState.DONE, "ok"), (TrialState.ERROR, None),
                      (TrialState.DONE, "fail")]  # fmt: skip
    assert (
        "worker stopped: its study finished; 1 done, 1 failed (status fail), "
        "1 error, 0 released, 0 abandoned"
    ) in err, err


def test_import_failure_exits_3_and_burns_nothing(store, db_url, workers):
    make_study(store, "bad", "no_such_module_xyz:fn", [{"x": 1}])
    code, err = finish(workers("--db", db_url, "--study", "bad"))
    assert code == 3
    assert (
        "cannot import objective 'no_such_module_xyz:fn' for study 'bad': "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'" in err
    )
    assert "Traceback" not in err
    trial = store.get_trial("bad", 0)
    assert (trial.state, trial.attempts) == (TrialState.NEW, 0)


def test_a_worker_that_cannot_import_the_objective_says_where_it_looked(
    store, db_url, tmp_path
):
    """A cluster keeps the team's package on a shared (NFS) path; a node whose
    worker runs elsewhere without it on PYTHONPATH got only "No module named
    'mylab'", and a typo in the function's name only "module ... has no attribute":
    the hints the driver's check gives (where modules are looked for, the closest
    names) were lost on the way from the worker's child process."""
    shared = tmp_path / "nfs"
    (shared / "mylab").mkdir(parents=True)
    (shared / "mylab" / "__init__.py").write_text("")
    (shared / "mylab" / "objectives.py").write_text(
        "def svc(config):\n    return 0.0\n"
    )
    node = tmp_path / "node1"
    node.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "HPO_DB"}
    env["PYTHONPATH"] = str(REPO)  # this checkout's hpo_service; not the package
    command = [sys.executable, "-m", "hpo_service.worker", "--db", db_url]
    make_study(store, "lost", "mylab.objectives:svc", [{"x": 1}])
    run = subprocess.run(
        [*command, "--study", "lost"], cwd=node, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 3, run.stderr
    assert (
        "cannot import objective 'mylab.objectives:svc' for study 'lost': "
        "ModuleNotFoundError: No module named 'mylab' (modules are found from the "
        f"working directory {str(node)!r} and PYTHONPATH"
    ) in run.stderr
    make_study(store, "typo", "mylab.objectives:svd", [{"x": 1}])
    env["PYTHONPATH"] = f"{shared}{os.pathsep}{REPO}"
    run = subprocess.run(
        [*command, "--study", "typo"], cwd=node, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 3, run.stderr
    assert "for study 'typo': AttributeError: the name after ':' must be" in run.stderr
    assert "did you mean 'mylab.objectives:svc'?" in run.stderr
    for study in ("lost", "typo"):
        trial = store.get_trial(study, 0)
        assert (trial.state, trial.attempts) == (TrialState.NEW, 0)


def test_sigterm_finishes_the_running_trial_and_exits_0(
    store, db_url, workers, tmp_path
):
    log = tmp_path / "log"
    configs = [{"seconds": 1.0, "log": str(log), "loss": 0.5}] * 2
    make_study(store, "t", f"{OBJ}:sleeps", configs)
    proc = workers("--db", db_url, "--study", "t")
    wait_until(lambda: lines(log))
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 0, err
    assert lines(log) == ["start ", "end "]
    assert store.get_trial("t", 0).result["loss"] == 0.5
    assert store.get_trial("t", 1).state is TrialState.NEW


def test_second_sigterm_hands_the_trial_back(store, db_url, workers, tmp_path):
    log = tmp_path / "log"
    make_study(store, "t2", f"{OBJ}:sleeps", [{"seconds": 60, "log": str(log)}])
    proc = workers("--db", db_url, "--study", "t2")
    wait_until(lambda: lines(log))
    proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "warm stop" in proc.stderr.readline())  # it noticed
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc, timeout=10)
    assert code == 0, err
    trial = store.get_trial("t2", 0)
    assert (trial.state, trial.attempts) == (TrialState.NEW, 0)
    assert lines(log) == ["start "]


def test_trial_of_a_killed_worker_is_completed_once_by_another(
    store, db_url, workers, tmp_path
):
    log = tmp_path / "log"
    configs = [{"seconds": 0.5, "log": str(log), "tag": "t"}]
    make_study(store, "k", f"{OBJ}:sleeps", configs, lease_seconds=1.0)
    first = workers("--db", db_url, "--study", "k", "--worker-id", "first")
    wait_until(lambda: lines(log))
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = workers("--db", db_url, "--study", "k", "--worker-id", "second")
    code, err = finish(second)
    assert code == 0, err
    assert "worker stopped: its study finished;" in err
    trial = store.get_trial("k", 0)
    assert (trial.state, trial.attempts) == (TrialState.DONE, 2)
    assert trial.owner.startswith(f"second/{socket.gethostname()}:{second.pid}:")
    assert lines(log) == ["start t", "start t", "end t"]


def test_a_trial_cancelled_while_it_runs_is_said_so_without_a_warning(
    store, db_url, workers, tmp_path
):
    # As when fmin's early_stop_fn, a loss threshold or `hpo-driver cancel` stops a
    # study: the worker's result no longer counts, and nothing went wrong.
    log = tmp_path / "log"
    make_study(store, "c", f"{OBJ}:sleeps", [{"seconds": 1.0, "log": str(log)}])
    proc = workers("--db", db_url, "--study", "c", "--idle-timeout", "0.5")
    wait_until(lambda: lines(log))
    assert store.cancel("c", [0]) == 1
    code, err = finish(proc)
    assert code == 0, err
    said = [line for line in err.splitlines() if "trial c/0 was " in line]
    assert len(said) == 1, err
    assert " INFO " in said[0]
    why = (
        "trial c/0 was cancelled while it ran (its study was cancelled or stopped "
        "early, or its budget was spent): "
    )
    # the heartbeat or the refused result notices it first, whichever comes first
    assert said[0].endswith(f"{why}abandoned it") or (
        f"{why}dropped its outcome {{'loss': 1.0" in said[0]
    ), said[0]
    assert "WARNING" not in err
    assert store.get_trial("c", 0).state is TrialState.CANCELLED


def test_help_describes_every_option():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--db",
        "--study",
        "--max-trials",
        "--idle-timeout",
        "--poll-interval",
        "--worker-id",
        "--verbose",
    ):
        assert option in result.output
    assert "HPO_DB" in result.output
    assert "sqlite:///hpo.sqlite" in result.output


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["--db", "postgres://x/y"], {}, 2, "Invalid value for '--db'"),
        ([], {"HPO_DB": "redis://x"}, 2, "Invalid value for '--db'"),
        (["--max-trials", "-1"], {}, 2, "Invalid value for '--max-trials'"),
        (["--idle-timeout", "-2"], {}, 2, "Invalid value for '--idle-timeout'"),
        (["--poll-interval", "0"], {}, 2, "Invalid value for '--poll-interval'"),
        (
            ["--db", "sqlite:////no/such/dir/hpo.sqlite"],
            {},
            1,
            "cannot reach the store",
        ),
    ],
)
def test_bad_input_is_a_clear_error_not_a_traceback(args, env, code, message):
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("flag", [None, "--no-objective-output"])
def test_the_objectives_output_is_shown_with_its_trial(store, db_url, workers, flag):
    make_study(store, "out", f"{OBJ}:prints", [{"lines": 2}, {"lines": 1}])
    args = ["--db", db_url, "--study", "out", "--max-trials", "2", "--quiet"]
    code, err = finish(workers(*args, *([flag] if flag else [])))
    assert code == 0, err
    shown = [line for line in err.splitlines() if line.startswith("[trial ")]
    expected = [
        "[trial out/0] out line 0", "[trial out/0] out line 1",
        "[trial out/0] err line", "[trial out/0] raw fd write",
        "[trial out/1] out line 0", "[trial out/1] err line",
        "[trial out/1] raw fd write",
    ]  # fmt: skip
    assert shown == ([] if flag else expected)
    assert "out line 1" in store.get_trial("out", 0).result["output"]  # kept too


def test_a_study_that_never_existed_exits_1_at_the_idle_timeout(
    store, db_url, workers, tmp_path
):
    make_study(store, "real", f"{OBJ}:quadratic", [{"x": 1.0}])
    code, err = finish(
        workers("--db", db_url, "--study", "reall", "--idle-timeout", "1")
    )
    assert code == 1, err
    where = f"SQLite database {tmp_path / 'worker.sqlite'}"
    assert (
        f"Error: study 'reall' was never found in {where} (it holds: real; "
        "did you mean 'real'?)" in err
    )
    assert store.get_trial("real", 0).state == TrialState.NEW  # not served: typo


def test_a_missing_database_with_a_study_exits_1_at_the_idle_timeout(workers, tmp_path):
    url = f"sqlite:///{tmp_path / 'none.sqlite'}"
    code, err = finish(workers("--db", url, "--study", "s", "--idle-timeout", "1"))
    assert code == 1, err
    assert "Error: study 's' was never found: no SQLite database at" in err
    assert list(tmp_path.iterdir()) == []


def test_a_study_created_while_the_worker_waits_exits_0(store, db_url, tmp_path):
    log = tmp_path / "worker.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HPO_DB", None)
    args = ["--db", db_url, "--study", "late", "--idle-timeout", "3"]
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hpo_service.worker", *args],
            cwd=REPO,
            env=env,
            stderr=err,
        )
    try:
        wait_until(lambda: "does not exist (yet)" in log.read_text(), 60)
        make_study(store, "late", f"{OBJ}:quadratic", [{"x": 2.0}])
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert store.get_trial("late", 0).state == TrialState.DONE
    assert "never found" not in log.read_text()


def _empty_store(db_url):
    with open_store(db_url):
        pass


def _stop_when_waiting(proc, text):
    """SIGTERM ``proc`` once its standard error says ``text``; its exit and stderr."""
    seen = []
    while text not in (line := proc.stderr.readline()):
        assert line, "".join(seen)  # it exited before saying so
        seen.append(line)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    return code, "".join(seen) + line + err


@pytest.mark.parametrize("how", ["idle_timeout", "sigterm"])
def test_a_worker_whose_database_never_appears_exits_1(workers, tmp_path, how):
    """Without --study too: a wrong --db must fail the job, not look finished."""
    url = f"sqlite:///{tmp_path / 'none.sqlite'}"
    if how == "idle_timeout":
        code, err = finish(workers("--db", url, "--idle-timeout", "1"))
    else:
        code, err = _stop_when_waiting(
            workers("--db", url), "waiting for it to be created"
        )
        assert "stopped by SIGTERM: no SQLite database at" in err
    assert code == 1, err
    assert "Error: no study was ever found: no SQLite database at" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["idle_timeout", "sigterm"])
def test_a_worker_of_any_study_on_a_store_without_studies_exits_1(
    db_url, workers, tmp_path, how
):
    _empty_store(db_url)
    if how == "idle_timeout":
        code, err = finish(workers("--db", db_url, "--idle-timeout", "1"))
    else:
        code, err = _stop_when_waiting(workers("--db", db_url), "worker started")
    assert code == 1, err
    where = f"SQLite database {tmp_path / 'worker.sqlite'}"
    assert f"Error: no study was ever found in {where} while this worker ran" in err


def test_a_signal_before_the_study_exists_exits_1(store, db_url, workers, tmp_path):
    make_study(store, "real", f"{OBJ}:quadratic", [{"x": 1.0}])
    proc = workers("--db", db_url, "--study", "reall")
    code, err = _stop_when_waiting(proc, "does not exist (yet)")
    assert code == 1, err
    where = f"SQLite database {tmp_path / 'worker.sqlite'}"
    assert (
        f"Error: study 'reall' was never found in {where} (it holds: real; "
        "did you mean 'real'?)" in err
    )


def test_a_worker_waiting_for_a_mistyped_study_names_the_close_ones(
    store, db_url, workers
):
    """The line a worker says while it waits for its study names the stored studies
    close to it, so a typo in --study shows in the first minute of a Slurm job or
    systemd unit that has no --idle-timeout, not only when it ends."""
    make_study(store, "real", f"{OBJ}:quadratic", [{"x": 1.0}])
    make_study(store, "other", f"{OBJ}:quadratic", [{"x": 1.0}])
    code, err = _stop_when_waiting(workers("--db", db_url, "--study", "reall"),
                                   "does not exist (yet)")  # fmt: skip
    waiting = next(line for line in err.splitlines() if "does not exist (yet)" in line)
    assert waiting.endswith("to create it; did you mean 'real'?"), waiting
    assert code == 1, err
    code, err = _stop_when_waiting(workers("--db", db_url, "--study", "zzz"),
                                   "does not exist (yet)")  # fmt: skip
    waiting = next(line for line in err.splitlines() if "does not exist (yet)" in line)
    assert waiting.endswith("to create it"), waiting  # nothing close: no hint
    assert code == 1, err


def test_idle_timeout_0_exits_at_once_and_its_help_says_so_beside_hyperopts(
    store, db_url, workers
):
    """`--idle-timeout 0` stops a worker as soon as nothing is queued, while
    hyperopt's `--reserve-timeout 0` (its name for the same option) waits for ever
    (test_hyperopt_options): the help of each now says so. Before, --idle-timeout's
    help gave no meaning for 0 and --reserve-timeout's only its own."""
    make_study(store, "q", f"{OBJ}:quadratic", [], max_evals=5)  # nothing queued
    code, err = finish(workers("--db", db_url, "--study", "q", "--idle-timeout", "0"))
    assert code == 0, err
    assert "worker stopped: no trial to claim for 0 s (--idle-timeout)" in err
    shown = workers("--help").communicate(timeout=60)[0]
    text = " ".join(shown.split())
    assert ("--idle-timeout FLOAT RANGE Exit after this many seconds with nothing to "
            "run (0: as soon as nothing is queued, where hyperopt's --reserve-timeout "
            "0 waits for ever)") in text  # fmt: skip
    assert ("0 or inf waits for ever, as in hyperopt, where --idle-timeout 0 exits "
            "at once]") in text  # fmt: skip


@pytest.mark.parametrize("study", [None, "q"])
def test_a_worker_that_found_its_study_exits_0_without_claiming(
    store, db_url, workers, study
):
    """The study finished already (a late Slurm task), or a SIGTERM came while the
    queue was empty: nothing failed, nothing is lost."""
    make_study(store, "q", f"{OBJ}:quadratic", [])
    make_study(store, "done", f"{OBJ}:quadratic", [{"x": 1.0}])
    trial = store.claim("w", 30.0, study="done")
    assert store.complete("done", trial.tid, trial.token, {"loss": 4.0, "status": "ok"})
    finished = finish(workers("--db", db_url, "--study", "done"))
    assert finished[0] == 0, finished[1]
    assert "worker stopped: its study finished; 0 done" in finished[1]
    args = ["--db", db_url] + (["--study", study] if study else [])
    code, err = _stop_when_waiting(workers(*args), "worker started")
    assert code == 0, err
    assert "worker stopped: a stop signal; 0 done" in err


def test_a_signal_as_the_store_opens_stops_before_claiming(store, db_url, tmp_path):
    """The signal noted while the store opened (too short a moment to hit from
    another process): exit 0 when the study exists, 1 when it does not."""
    from hpo_service.worker.cli import _stop_before_start

    make_study(store, "q", f"{OBJ}:quadratic", [{"x": 1.0}])
    with open_store(db_url) as opened:
        _stop_before_start(opened, db_url, "q", "SIGTERM")
    with open_store(db_url) as opened, pytest.raises(click.ClickException) as e:
        _stop_before_start(opened, db_url, "qq", "SIGTERM")
    assert "study 'qq' was never found in SQLite database" in e.value.message
    assert store.get_trial("q", 0).state is TrialState.NEW  # nothing was claimed


def test_a_worker_starts_without_numpy():
    """Every worker start imported numpy (0.1 s of CPU, most of a worker's start)
    only for the median and percentile pruners' arrays; they import it when made."""
    code = (
        "import sys\n"
        "import hpo_service.worker.cli\n"
        "from hpo_service.algorithms.pruners import make_pruner\n"
        "print('numpy' in sys.modules)\n"
        "make_pruner('median')\n"
        "print('numpy' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--reserve-timeout", "0.5"],
            "no trial to claim for 0.5 s (--reserve-timeout)",
        ),
        (["--idle-timeout", "0.5"], "no trial to claim for 0.5 s (--idle-timeout)"),
        (["--max-jobs", "1"], "ran 1 trial (--max-jobs)"),
        (["--max-trials", "2"], "ran 2 trials (--max-trials)"),
    ],
)
def test_why_a_worker_stopped_names_the_flag_as_typed(
    store, db_url, workers, args, said
):
    """The last line said "worker stopped (idle_timeout)", an internal name, after
    ``--reserve-timeout 5``; it names the limit with the flag the user typed."""
    points = [{"x": 1.0}, {"x": 2.0}]
    make_study(store, "q", f"{OBJ}:quadratic", points, max_evals=10)  # never ends
    code, err = finish(workers("--db", db_url, "--study", "q", *args))
    assert code == 0, err
    assert f"worker stopped: {said};" in err, err
    assert "_timeout" not in err and "max_trials" not in err, err


def test_a_worker_of_a_study_made_by_an_import_waits_for_its_space(store, db_url):
    """`hpo-driver import --create` makes a study with no objective, space or budget
    yet: a worker of it ran into the missing objective (AttributeError in its
    objective check) and the missing budget (a TypeError in its end-of-study
    check); it waits for trials as for any study, here until --idle-timeout."""
    from hpo_service.driver._warm_start import Evaluated, import_results

    done = Evaluated({"x": 0.5}, {"loss": 0.25, "status": "ok"}, "file#0")
    import_results(store, "imported", [done], create=True)
    env = {k: v for k, v in os.environ.items() if k != "HPO_DB"}
    env["PYTHONPATH"] = str(REPO)
    run = subprocess.run(
        [sys.executable, "-m", "hpo_service.worker", "--db", db_url, "--study",
         "imported", "--idle-timeout", "0.5"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "worker stopped: no trial to claim for 0.5 s (--idle-timeout);" in run.stderr
    assert "Traceback" not in run.stderr
