"""What stopped a study is said in the words the rule was set with: the flag as
typed for ``hpo-driver start`` (its last line, the error of the queued trials the
stop cancelled), the keyword argument for ``fmin``. Before, both said the internal
name: "study 's' finished (max_evals)", "the study stopped (early_stop)".

Real ``hpo-driver``/``hpo-worker`` processes and a real ``fmin`` script on SQLite.
A stop that must find trials still queued runs one external ``hpo-worker
--max-trials 1``: the trials it does not run stay queued whatever the load.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hpo_service.store import TrialState, open_store

from .conftest import QUADRATIC, REPO

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"
FLAT = [
    "--objective", "tests.e2e.objectives:sum_of_squares",
    "--space", "tests.e2e.objectives:flat_space",
]  # fmt: skip


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'hpo.sqlite'}"


def start(procs, db, *args):
    """``hpo-driver start --study s`` to its end."""
    return procs.run(
        DRIVER, "start", "--db", db, "--study", "s", *args, "--no-progress"
    )


def stop_messages(db: str) -> list[str]:
    """The error messages of the study's trials cancelled because it stopped."""
    with open_store(db) as store:
        trials = store.get_trials("s")
    return [
        t.error["message"]
        for t in trials
        if t.state == TrialState.CANCELLED and t.error["type"] == "StudyStopped"
    ]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--max-evals", "2", "--workers", "1"], "--max-evals 2 reached"),
        (
            [*FLAT, "--max-evals", "50", "--no-improvement", "1", "--workers", "1"],
            "--no-improvement 1 reached (finished trials without improvement)",
        ),
    ],
)
def test_the_end_line_names_the_flag_that_stopped_the_study(procs, db, args, said):
    run = start(procs, db, *([] if "--space" in args else QUADRATIC), *args)
    assert run.returncode == 0, run.stderr
    assert f"study 's' finished: {said}; " in run.stdout, run.stdout
    assert "max_evals" not in run.stdout + run.stderr
    assert "no_improvement" not in run.stdout + run.stderr


def test_a_loss_threshold_stop_names_the_flag_on_the_end_line_and_the_cancelled_trials(
    procs, db
):
    """Every loss of the quadratic on [-5, 5]^2 is at most 85: the first trial
    reaches --loss-threshold 100. The one worker runs only it: the two others the
    driver keeps queued (--queue-depth 3) are cancelled by the stop."""
    procs.start(WORKER, "--db", db, "--study", "s", "--max-trials", "1")
    run = start(
        procs, db, *QUADRATIC, "--max-evals", "5", "--queue-depth", "3",
        "--loss-threshold", "100",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "study 's' finished: --loss-threshold 100 reached; 1 done" in run.stdout
    messages = stop_messages(db)
    assert len(messages) >= 2, messages
    for message in messages:
        assert "the study stopped (--loss-threshold 100 reached)" in message, message


def test_a_timeout_before_any_trial_finished_names_the_flag(procs, db):
    """No worker: --timeout 0.5 ends the study with its trials still queued."""
    run = start(procs, db, *QUADRATIC, "--max-evals", "3", "--timeout", "0.5")
    assert run.returncode == 1, run.stderr
    assert "study 's' finished: --timeout 0.5 s ran out; 0 done" in run.stdout
    assert (
        "Error: no trial of study 's' finished: --timeout 0.5 s ran out before the "
        "first one did"
    ) in " ".join(run.stderr.split())
    messages = stop_messages(db)
    assert messages, "no queued trial was cancelled"
    for message in messages:
        assert "the study stopped (--timeout 0.5 s ran out)" in message, message


def test_an_exhausted_grid_says_so(procs, db):
    run = start(
        procs, db, "--objective", "tests.e2e.objectives:sum_of_squares",
        "--space", "tests.e2e.objectives:flat_space", "--algo", "grid",
        "--max-evals", "10", "--workers", "1",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "study 's' finished: its search space was exhausted; 2 done" in run.stdout


SCRIPT = textwrap.dedent(
    """
    import sys
    from hpo_service import StoreTrials, fmin
    from tests.e2e.objectives import quadratic, space

    trials = StoreTrials(sys.argv[1], "s", objective="tests.e2e.objectives:quadratic")
    points = [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 0.0}, {"x": 2.0, "y": 0.0}]
    rule = sys.argv[2]
    if rule == "loss_threshold":
        stop = {"loss_threshold": 100.0}
    else:
        stop = {"early_stop_fn": lambda trials, *state: (True, [])}
    fmin(
        quadratic, space, max_evals=3, trials=trials, points_to_evaluate=points,
        show_progressbar=False, **stop,
    )
    """
)


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ("loss_threshold", "loss_threshold=100 reached"),
        ("early_stop", "early_stop_fn asked to stop"),
    ],
)
def test_fmin_names_its_argument_on_the_trials_a_stop_cancelled(
    procs, db, tmp_path, rule, said
):
    """``fmin`` queues its three points at once; the one worker runs only the first,
    which stops the study: the other two are cancelled, saying why in fmin's words."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    procs.start(WORKER, "--db", db, "--study", "s", "--max-trials", "1")
    done = subprocess.run(
        [sys.executable, str(script), db, rule], cwd=REPO, env=procs.env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    messages = stop_messages(db)
    assert len(messages) == 2, messages
    for message in messages:
        assert f"the study stopped ({said})" in message, message


BUDGET_SCRIPT = textwrap.dedent(
    """
    import sys
    from hpo_service import StoreTrials, fmin
    from tests.e2e.objectives import quadratic, space

    trials = StoreTrials(
        sys.argv[1], "s", workers=1, objective="tests.e2e.objectives:quadratic"
    )
    fmin(quadratic, space, max_evals=2, trials=trials, show_progressbar=False)
    """
)


def test_a_point_queued_past_the_budget_of_an_fmin_study_names_max_evals(
    procs, db, tmp_path
):
    """A study ``fmin(max_evals=2)`` finished, then a point queued by hand: the
    worker that claims it cancels it, saying the budget as fmin set it."""
    script = tmp_path / "script.py"
    script.write_text(BUDGET_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), db], cwd=REPO, env=procs.env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    queued = procs.run(DRIVER, "enqueue", "--db", db, "--study", "s",
                       "--params", '{"x": 0.5, "y": 0.0}')  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    worker = procs.run(WORKER, "--db", db, "--study", "s", "--idle-timeout", "60")
    assert worker.returncode == 0, worker.stderr
    assert "its budget max_evals=2 is spent" in worker.stderr, worker.stderr
    with open_store(db) as store:
        (cancelled,) = store.get_trials("s", [TrialState.CANCELLED])
    message = cancelled.error["message"]
    assert "the study had already finished its max_evals=2 trials" in message
    assert "resume the study with a larger max_evals," in message


END_SCRIPT = textwrap.dedent(
    """
    import sys
    from hpo_service import StoreTrials, fmin
    from tests.e2e.objectives import quadratic, space

    workers = int(sys.argv[2])
    trials = StoreTrials(
        sys.argv[1], "s", workers=workers, objective="tests.e2e.objectives:quadratic"
    )
    stop = {"timeout": 0.5} if workers == 0 else {}
    fmin(quadratic, space, max_evals=2, trials=trials, **stop)
    """
)


def run_end_script(procs, db, tmp_path, workers: int):
    script = tmp_path / "script.py"
    script.write_text(END_SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), db, str(workers)], cwd=REPO, env=procs.env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_fmin_through_a_store_says_why_it_stopped_on_its_end_line(procs, db, tmp_path):
    """Before, its end line was only "2/2 trials finished (2 done), best loss: X"."""
    done = run_end_script(procs, db, tmp_path, workers=1)
    assert done.returncode == 0, done.stderr
    end = done.stderr.strip().splitlines()[-1]
    assert end.startswith("2/2 trials finished (2 done), best loss: "), end
    assert end.endswith("; stopped: max_evals=2 reached"), end


def test_fmin_through_a_store_names_a_timeout_before_any_trial_finished(
    procs, db, tmp_path
):
    """No worker: ``timeout=0.5`` ends the study with its trials queued. Before,
    fmin raised "no trial finished (every one raised or none ran)"."""
    done = run_end_script(procs, db, tmp_path, workers=0)
    assert done.returncode == 1, done.stderr
    assert (
        "AllTrialsFailed: no trial finished (timeout=0.5 s ran out before any trial "
        "finished), so there is no best trial to return"
    ) in done.stderr, done.stderr
    end = [line for line in done.stderr.splitlines() if "trials finished (" in line]
    assert end[-1].endswith("; stopped: timeout=0.5 s ran out"), end
