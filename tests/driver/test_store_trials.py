"""fmin(trials=StoreTrials(...)): the Python API drives a study, workers run it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from hpo_service import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    STATUS_OK,
    StoreTrials,
    early_stop,
    fmin,
    rand,
    tpe,
)
from hpo_service.driver._store_trials import _early_stopper
from hpo_service.exceptions import (
    HPOServiceError,
    SpaceError,
    StudyMismatchError,
    StudyNotFoundError,
)
from hpo_service.store import TrialState
from hpo_service.trials import make_trial_doc
from tests.e2e.objectives import big_int_space, quadratic, space, sum_of_squares


@pytest.fixture
def trials(db_url):
    opened = StoreTrials(db_url, study="py", workers=2)
    yield opened
    opened.close()


def test_fmin_runs_the_study_through_the_store(trials):
    best = fmin(quadratic, space, algo=tpe.suggest, max_evals=20, trials=trials,
                rstate=np.random.default_rng(0), show_progressbar=False)  # fmt: skip
    assert len(trials) == 20
    assert all(doc["state"] == JOB_STATE_DONE for doc in trials.trials)
    assert trials.statuses() == [STATUS_OK] * 20
    assert best == trials.argmin
    assert trials.best_trial["result"]["loss"] == min(trials.losses())
    assert quadratic(best) == pytest.approx(min(trials.losses()))
    assert set(trials.trials[0]["misc"]["vals"]) == {"x", "y"}


def test_a_second_fmin_call_resumes_the_study(trials, db_url):
    fmin(quadratic, space, max_evals=8, trials=trials, show_progressbar=False)
    again = StoreTrials(db_url, study="py", workers=1)
    fmin(quadratic, space, max_evals=12, trials=again, show_progressbar=False)
    assert again.tids == list(range(12))
    assert again.store.count_by_state("py")[TrialState.DONE] == 12
    again.close()


def test_early_stop_sees_only_finished_trials(trials):
    calls = []

    def stop_after_three(finished, *state):
        calls.append(len(finished.trials))
        assert all(d["state"] == JOB_STATE_DONE for d in finished.trials)
        return len(finished.trials) >= 3, []

    fmin(quadratic, space, max_evals=50, trials=trials, show_progressbar=False,
         early_stop_fn=stop_after_three)  # fmt: skip
    assert calls and calls[-1] >= 3
    assert len([d for d in trials.trials if d["state"] == JOB_STATE_DONE]) < 50


def test_no_progress_loss_works_on_store_trials(trials):
    fmin(quadratic, space, max_evals=200, trials=trials, show_progressbar=False,
         early_stop_fn=early_stop.no_progress_loss(3))  # fmt: skip
    finished = [d for d in trials.trials if d["state"] == JOB_STATE_DONE]
    assert len(finished) < 200
    assert all(d["state"] == JOB_STATE_CANCEL for d in trials.trials[len(finished) :])


def test_objective_must_be_importable_by_workers(db_url):
    trials = StoreTrials(db_url, study="local")
    with pytest.raises(ValueError, match="module-level"):
        fmin(lambda c: 0.0, space, max_evals=2, trials=trials)
    trials.close()


SCRIPT = """
from hpo_service import StoreTrials, fmin, hp, tpe

def objective(config):
    return config["x"] ** 2

{search}
"""
SEARCH = """trials = StoreTrials("sqlite:///h.sqlite", study="s", workers=1{objective})
print("best", fmin(objective, {{"x": hp.uniform("x", -1, 1)}}, algo=tpe.suggest,
                   max_evals=3, trials=trials, show_progressbar=False))
"""


def test_an_objective_of_the_script_run_is_refused_with_advice_that_works(tmp_path):
    """`python train.py` whose objective lives in the script: the error names the
    reference workers can import (`train:objective`) and the `__main__` guard that
    keeps them from running the search again; the script changed so runs its study
    with a local worker. Before, it said only objective='package.module:function'."""
    import subprocess
    import sys
    import textwrap

    def run(search: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "train.py").write_text(SCRIPT.format(search=search))
        return subprocess.run([sys.executable, "train.py"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    refused = run(SEARCH.format(objective=""))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "ValueError: workers cannot import 'objective' from __main__: move the "
        "objective to a module, or put the search of 'train.py' under `if __name__ "
        "== \"__main__\":` and pass objective='train:objective' to StoreTrials (or "
        f"MongoTrials): workers started in {str(tmp_path)!r} (or with it on "
        "PYTHONPATH) import the script as module 'train'"
    )
    guarded = textwrap.indent(
        SEARCH.format(objective=', objective="train:objective"'), "    "
    )
    done = run('if __name__ == "__main__":\n' + guarded)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("best {'x': ")


def test_fmin_fails_instead_of_waiting_when_every_local_worker_dies(db_url):
    trials = StoreTrials(
        db_url, study="bad", workers=1, objective="tests.e2e.objectives:missing"
    )
    raised = []

    def run():
        try:
            fmin(quadratic, space, max_evals=3, trials=trials, show_progressbar=False)
        except HPOServiceError as e:
            raised.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "fmin kept waiting for workers that had exited"
    assert raised and "local workers exited" in str(raised[0])
    assert trials.store.count_by_state("bad")[TrialState.DONE] == 0
    trials.close()


class _FakeStoreTrials:
    def __init__(self):
        self._dynamic_trials = self.trials = []  # no error trials here

    def finish(self, tid, loss):
        result = {"loss": loss, "status": STATUS_OK}
        doc = make_trial_doc(
            tid, state=JOB_STATE_DONE, params={}, labels=[], result=result
        )
        self.trials.append(doc)


def test_early_stop_fn_sees_every_trial_that_finished_between_polls():
    seen = []

    def record(finished, *state):
        seen.append((finished.trials[-1]["tid"], len(finished.trials)))
        return False, []

    fake = _FakeStoreTrials()
    check = _early_stopper(fake, record)
    fake.finish(0, 5.0)
    assert check() is None
    fake.finish(1, 1.0)
    fake.finish(2, 6.0)
    assert check() is None
    assert check() is None
    assert seen == [(0, 1), (1, 2), (2, 3)]


def test_no_progress_loss_counts_an_improvement_that_was_not_last_in_a_poll():
    fake = _FakeStoreTrials()
    check = _early_stopper(fake, early_stop.no_progress_loss(2))
    fake.finish(0, 5.0)
    check()
    for tid, loss in [(1, 1.0), (2, 4.0), (3, 3.0)]:
        fake.finish(tid, loss)
    assert check() == "early_stop"  # 1.0 improved on 5.0; 4.0 and 3.0 did not


@pytest.mark.parametrize(
    ("constructed", "given", "named"),
    [
        ("asha", "median", ("asha(", "median(")),
        ("asha", {"max_resource": 9}, ("max_resource=None", "max_resource=9")),
    ],
)
def test_store_trials_refuses_a_different_pruner_in_fmin(
    db_url, constructed, given, named
):
    from hpo_service import pruners
    from tests.e2e.objectives import curve, curve_space

    if isinstance(given, dict):
        given = pruners.ASHAPruner(**given)
    trials = StoreTrials(db_url, study="two", workers=1, pruner=constructed)
    with pytest.raises(ValueError, match="must match `StoreTrials") as raised:
        fmin(curve, curve_space, max_evals=3, trials=trials, pruner=given,
             show_progressbar=False)  # fmt: skip
    assert all(part in str(raised.value) for part in named)
    assert trials.store.list_studies() == []  # refused before anything is written
    trials.close()


def test_store_trials_with_a_pruner(db_url, capsys):
    from hpo_service import pruners
    from tests.e2e.objectives import curve, curve_space

    pruner = pruners.ASHAPruner(max_resource=9)
    trials = StoreTrials(db_url, study="pr", workers=1, pruner=pruner)
    # the same pruner given again to fmin (a name and settings, not the object) is fine
    best = fmin(curve, curve_space, max_evals=12, trials=trials,
                pruner=pruners.ASHAPruner(max_resource=9),
                rstate=np.random.default_rng(1))  # fmt: skip
    settings = trials.store.get_study("pr").settings
    assert settings["pruner"] == "asha"
    assert settings["pruner_settings"] == pruner.settings()
    assert len(trials) == 12
    statuses = trials.statuses()
    assert "pruned" in statuses and statuses.count("ok") >= 1
    assert {d["state"] for d in trials.trials} == {JOB_STATE_DONE}
    pruned = [d for d in trials.trials if d["result"]["status"] == "pruned"]
    for doc in pruned:
        assert doc["result"]["loss"] == doc["intermediate"][doc["result"]["step"]]
    assert trials.best_trial["result"]["status"] == STATUS_OK
    assert best == trials.argmin
    # fmin's end says what the pruner did at each rung (1 and 2: eta 2, the default),
    # on standard error
    last = [max(map(int, d["intermediate"])) for d in trials.trials]
    at = [d["result"]["step"] for d in pruned]
    rows = [(r, sum(s >= r for s in last), at.count(r)) for r in (1, 2)]
    err = capsys.readouterr().err.splitlines()
    table = err.index("step  reached  went on  pruned")
    assert err[table - 1].startswith("ASHA keeps the best 1/2 at each rung")
    # in the words of Python, where the user is: keyword arguments, not flags
    # (eta 2 is the smallest: only min_resource can change)
    less = "to prune less: raise min_resource (README"
    assert [line for line in err if line.startswith(less)], err
    assert not [line for line in err if "--min-resource" in line]
    assert [line.split() for line in err[table + 1 : table + 3]] == [
        [str(r), str(n), str(n - p), str(p)] for r, n, p in rows
    ]
    trials.close()


def test_a_pruner_named_on_resume_keeps_the_stored_settings(db_url):
    """fmin(pruner="asha") resuming a study stored before ASHA's eta default became 2
    (it stored eta 3, what pruner="asha" gave then) was refused as a change of
    reduction_factor (3 -> 2), override=True then switching the study to eta 2: a
    name gives no setting, so the study keeps its own, as ``hpo-driver start
    --pruner asha`` does. A pruner object is explicit: another eta is a change."""
    from hpo_service import pruners
    from tests.e2e.objectives import curve, curve_space

    old_default = pruners.ASHAPruner(max_resource=9, reduction_factor=3)
    trials = StoreTrials(db_url, study="eta", workers=1, pruner=old_default)
    fmin(curve, curve_space, max_evals=1, trials=trials, show_progressbar=False,
         rstate=np.random.default_rng(1))  # fmt: skip
    trials.close()
    for constructed, given in (("asha", None), (None, "asha"), ("asha", "asha")):
        trials = StoreTrials(db_url, study="eta", workers=1, pruner=constructed)
        fmin(curve, curve_space, max_evals=len(trials) + 1, trials=trials,
             pruner=given, show_progressbar=False)  # fmt: skip
        stored = trials.store.get_study("eta").settings
        assert (stored["pruner"], stored["pruner_settings"]) == (
            "asha",
            old_default.settings(),
        )
        trials.close()
    trials = StoreTrials(db_url, study="eta", workers=1, pruner=pruners.ASHAPruner())
    with pytest.raises(StudyMismatchError, match="reduction_factor 3 -> 2"):
        fmin(curve, curve_space, max_evals=9, trials=trials, show_progressbar=False)
    trials.close()


def test_a_stored_pruner_setting_no_longer_taken_is_a_difference_on_resume(db_url):
    """fmin(pruner="asha") on a study whose stored ASHA settings hold one the class
    no longer takes (a study of an older version) is refused as a change naming
    that setting, as ``hpo-driver start --pruner asha`` refuses it (25970347):
    before, the name kept the stored settings whole and the search failed later
    with the pruner's own error ("invalid settings for pruner 'asha': ...
    unexpected keyword argument 'rung_cap'"). With override=True it goes on,
    without the setting."""
    from hpo_service import pruners
    from tests.e2e.objectives import curve, curve_space

    eta_3 = pruners.ASHAPruner(max_resource=9, reduction_factor=3)
    trials = StoreTrials(db_url, study="old", workers=1, pruner=eta_3)
    fmin(curve, curve_space, max_evals=1, trials=trials, show_progressbar=False,
         rstate=np.random.default_rng(1))  # fmt: skip
    held = dict(trials.store.get_study("old").settings["pruner_settings"])
    trials.store.patch_study_settings(
        "old", {"pruner_settings": {**held, "rung_cap": 4}}
    )
    trials.close()
    trials = StoreTrials(db_url, study="old", workers=1, pruner="asha")
    with pytest.raises(StudyMismatchError, match=r"rung_cap 4 -> \(unset\)"):
        fmin(curve, curve_space, max_evals=2, trials=trials, show_progressbar=False)
    trials.close()
    trials = StoreTrials(db_url, study="old", workers=1, pruner="asha", override=True)
    fmin(curve, curve_space, max_evals=2, trials=trials, show_progressbar=False)
    assert trials.store.get_study("old").settings["pruner_settings"] == held
    trials.close()


def test_quiet_fmin_with_a_pruner_reads_no_pruning_counts(db_url, capsys, monkeypatch):
    """The counts are read only when shown: fmin with show_progressbar=False (or a
    progress callback) ends without reading every trial's last step, which costs
    about 0.1 s per 10,000 trials (benchmarks/README.md)."""
    from hpo_service import pruners
    from hpo_service.store._sqlite import SQLiteTrialStore
    from tests.e2e.objectives import curve, curve_space

    reads = []
    real = SQLiteTrialStore.last_steps

    def counted(store, study):  # the real read, counted
        reads.append(study)
        return real(store, study)

    monkeypatch.setattr(SQLiteTrialStore, "last_steps", counted)
    from hpo_service.progress import no_progress_callback

    for show, study in ((False, "quiet"), (no_progress_callback, "callback")):
        trials = StoreTrials(db_url, study=study, workers=1)
        fmin(curve, curve_space, max_evals=3, trials=trials, show_progressbar=show,
             pruner=pruners.ASHAPruner(), rstate=np.random.default_rng(1))  # fmt: skip
        assert len(trials) == 3
        trials.close()
    assert reads == []
    assert "ASHA keeps the best" not in capsys.readouterr().err
    trials = StoreTrials(db_url, study="shown", workers=1)
    fmin(curve, curve_space, max_evals=3, trials=trials, show_progressbar=True,
         pruner=pruners.ASHAPruner(), rstate=np.random.default_rng(1))  # fmt: skip
    trials.close()
    assert reads == ["shown"]  # the same run showing its progress reads them once


@pytest.mark.parametrize("url", ["mongomock://st", "sqlite:///:memory:"])
def test_local_workers_need_a_store_other_processes_reach(url):
    """StoreTrials("mongomock://...", workers=2): the worker processes each opened
    their own empty store and fmin waited for ever; refused when made, and fmin on
    such a store (no worker process can ever reach it) is refused too."""
    with pytest.raises(ValueError, match="lives inside one process"):
        StoreTrials(url, study="s", workers=2)
    trials = StoreTrials(url, study="s")  # reading such a store stays possible
    with pytest.raises(ValueError, match="lives inside this process"):  # waited
        fmin(quadratic, space, algo=tpe.suggest, max_evals=2, trials=trials)
    assert trials.store.list_studies() == []  # refused before the study was made
    trials.close()


def test_store_trials_sets_the_trial_timeout_and_a_resume_keeps_it(db_url, monkeypatch):
    """`hpo-driver start --trial-timeout` had no Python equivalent."""
    from hpo_service.exceptions import AllTrialsFailed

    monkeypatch.setenv("HPO_TEST_SLEEP", "30")  # the workers inherit it
    trials = StoreTrials(db_url, study="tt", workers=1, trial_timeout=0.5)
    # the workers' error, which fmin's user saw nowhere, is named
    failed = r"no trial finished \(2 ended in error, the last: TrialTimeout: .*0\.5"
    with pytest.raises(AllTrialsFailed, match=failed):
        fmin(quadratic, space, max_evals=2, trials=trials, show_progressbar=False)
    assert trials.store.get_study("tt").settings["trial_timeout"] == 0.5
    assert trials.store.count_by_state("tt")[TrialState.ERROR] == 2
    errors = [d["misc"]["error"] for d in trials._dynamic_trials]  # trials: none
    assert len(errors) == 2 and all("trial_timeout=0.5" in e[1] for e in errors)
    trials.close()
    monkeypatch.delenv("HPO_TEST_SLEEP")
    again = StoreTrials(db_url, study="tt", workers=1)  # as the CLI: kept on resume
    fmin(quadratic, space, max_evals=3, trials=again, show_progressbar=False)
    assert again.store.get_study("tt").settings["trial_timeout"] == 0.5
    again.close()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "5", True])
def test_store_trials_refuses_a_bad_trial_timeout(db_url, bad):
    with pytest.raises(ValueError, match="`trial_timeout` must be") as raised:
        StoreTrials(db_url, study="s", trial_timeout=bad)
    assert f"trial_timeout={bad!r}" in str(raised.value)


def test_store_trials_fmin_refuses_a_trial_timeout_argument(db_url):
    """hyperopt's Trials.fmin ignores unknown keywords; this one would be lost."""
    trials = StoreTrials(db_url, study="s", workers=1)
    with pytest.raises(TypeError, match=r"StoreTrials\(\.\.\., trial_timeout="):
        trials.fmin(quadratic, space, max_evals=1, trial_timeout=5)
    assert trials.store.list_studies() == []
    trials.close()


def test_trials_save_file_with_a_store_is_said_to_be_unused(db_url, tmp_path):
    path = tmp_path / "trials.pkl"
    trials = StoreTrials(db_url, study="saved", workers=1)
    with pytest.warns(UserWarning) as caught:
        fmin(quadratic, space, max_evals=2, trials=trials, show_progressbar=False,
             trials_save_file=str(path))  # fmt: skip
    assert len(trials) == 2
    trials.close()
    assert [str(w.message) for w in caught] == [
        f"trials_save_file={str(path)!r} is not written with StoreTrials: its store "
        "keeps every trial as it finishes, and fmin with the same study (exp_key) "
        "resumes it"
    ]
    assert caught[0].filename == __file__  # points at the fmin call
    assert not path.exists()


def test_store_trials_fmin_takes_hyperopts_arguments_by_position(db_url, tmp_path):
    """hyperopt's Trials.fmin order, through trials_save_file; a save file is said
    to be unused from the method too, pointing at its call."""
    trials = StoreTrials(db_url, study="positional", workers=1)
    path = str(tmp_path / "trials.pkl")
    with pytest.warns(UserWarning, match="is not written") as caught:
        best = trials.fmin(
            quadratic, space, None, 2, None, None, 1, None, False, None, False,
            True, False, None, path,
        )  # fmt: skip
    assert caught[0].filename == __file__
    assert len(trials) == 2 and best == trials.argmin
    with pytest.raises(ValueError, match="pass_expr_memo_ctrl"):
        trials.fmin(quadratic, space, None, 3, None, None, 1, None, False, True)
    trials.close()


def test_a_quiet_fmin_given_no_pruner_keeps_the_store_trials_pruner(db_url, capsys):
    """fmin passes StoreTrials.fmin no pruner when given none (the constructor's
    stays), and verbose=False as no progress (so no pruning table at the end)."""
    from hpo_service import pruners
    from tests.e2e.objectives import curve, curve_space

    pruner = pruners.ASHAPruner(max_resource=9)
    trials = StoreTrials(db_url, study="kept", workers=1, pruner=pruner)
    fmin(curve, curve_space, max_evals=3, trials=trials, verbose=False,
         rstate=np.random.default_rng(1))  # fmt: skip
    settings = trials.store.get_study("kept").settings
    assert (settings["pruner"], settings["pruner_settings"]) == (
        "asha",
        pruner.settings(),
    )
    assert len(trials) == 3
    assert "ASHA keeps the best" not in capsys.readouterr().err
    trials.close()


def test_fmin_not_allowed_to_use_store_trials_fmin_refuses_them(trials):
    with pytest.raises(TypeError) as raised:
        fmin(quadratic, space, max_evals=1, trials=trials, allow_trials_fmin=False,
             show_progressbar=False)  # fmt: skip
    assert str(raised.value) == (
        "`trials` must be a Trials when allow_trials_fmin=False (a StoreTrials or "
        "MongoTrials runs its search through its store, which needs "
        "allow_trials_fmin=True), but got StoreTrials"
    )
    assert trials.store.list_studies() == []


def test_a_point_whose_config_no_store_can_hold_is_refused_before_any_write(db_url):
    """fmin(points_to_evaluate=...) on a StoreTrials checks each point's config by
    the rule of ``hpo-driver enqueue`` and the driver's suggestions (integers within
    64 bits, MongoDB's limit): 2**70 is refused naming the point, nothing written.
    Before, SQLite queued it (and MongoDB refused it at the insert, naming neither
    the space nor the point)."""
    trials = StoreTrials(db_url, study="big", workers=0)
    try:
        with pytest.raises(SpaceError, match="every store can hold") as refused:
            fmin(sum_of_squares, big_int_space, algo=rand.suggest, max_evals=1,
                 trials=trials, points_to_evaluate=[{"e": 70}],
                 show_progressbar=False, timeout=10)  # fmt: skip  # no worker
        assert "of params {'e': 70" in str(refused.value), refused.value
        assert "1180591620717411303424" in str(refused.value), refused.value
        with pytest.raises(StudyNotFoundError):
            trials.store.count_by_state("big")
    finally:
        trials.close()
