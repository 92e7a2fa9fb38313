"""The driver loop against a real SQLite store, with in-thread stand-in workers."""

from __future__ import annotations

import dataclasses
import re
import threading
import time

import numpy as np
import pytest

from examples.quadratic import objective, space
from hpo_service import hp
from hpo_service.algorithms import resolve
from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._study_loop import Driver, DriverOptions
from hpo_service.driver._suggest import Suggester
from hpo_service.exceptions import DriverLeaseError, StudyMismatchError
from hpo_service.store import TrialState, open_store

FAST = DriverOptions(progress=False, min_poll=0.005, max_poll=0.05)


def new_study(store, name="s", **given):
    settings = {
        "objective": "examples.quadratic:objective",
        **space_settings(space),
        "max_evals": 30,
        "seed": 1,
        **given,
    }
    return open_study(store, name, settings)[0]


def drive(store, settings, name="s", options=FAST, **kwargs):
    return Driver(store, name, settings, space, options=options, **kwargs).run()


def test_study_completes_with_exactly_max_evals(store, db_url, thread_workers):
    settings = new_study(store)
    with thread_workers(db_url, objective, n=3) as workers:
        outcome = drive(store, settings)
    assert outcome.reason == "max_evals"
    assert outcome.counts[TrialState.DONE] == 30
    assert sorted(workers.completed) == list(range(30))
    losses = [t.result["loss"] for t in store.get_trials("s")]
    assert outcome.best.result["loss"] == min(losses)


def queued_counts(store, n_polls):
    """A stop hook that records the queue length at each poll, stopping after n."""
    polls = []

    def should_stop():
        polls.append(store.count_by_state("s")[TrialState.NEW])
        return "enough" if len(polls) >= n_polls else None

    return polls, should_stop


@pytest.mark.parametrize(("queue_depth", "expected"), [(3, 3), (None, 1)])
def test_queue_is_filled_to_its_depth_and_no_further(store, queue_depth, expected):
    settings = new_study(store, queue_depth=queue_depth)
    polls, should_stop = queued_counts(store, 20)
    outcome = drive(store, settings, should_stop=should_stop)
    assert outcome.reason == "enough"
    assert max(polls) == polls[-1] == expected
    assert store.count_by_state("s")[TrialState.CANCELLED] == expected


def test_a_seeded_random_search_draws_the_same_points_whatever_its_batches(
    store, db_url, thread_workers
):
    """As hyperopt's MongoTrials with rand.suggest (its test_seeds_AAB): the points
    depend on the seed only, not on how many the driver queued at a time (which
    follows the workers' timing)."""
    points = []
    for name, depth in [("one", 1), ("four", 4)]:
        settings = new_study(store, name, algorithm="rand", max_evals=8,
                             queue_depth=depth)  # fmt: skip
        with thread_workers(db_url, objective):
            drive(store, settings, name=name)
        points.append([t.params for t in store.get_trials(name)])
    assert len(points[0]) == 8 and points[0] == points[1]


def test_second_live_driver_is_refused(store):
    settings = new_study(store)
    assert store.acquire_driver_lease("s", "someone-else", 30.0)
    with pytest.raises(DriverLeaseError, match="someone-else"):
        drive(store, settings)


def test_a_driver_that_lost_its_lease_says_another_took_the_study_over(store):
    """As when the driver was paused (SIGSTOP, a frozen VM) past its lease and a new
    driver took the study: the old one must not tell to stop the new one."""
    settings = new_study(store)
    options = DriverOptions(progress=False, min_poll=0.005, max_poll=0.05,
                            lease_seconds=0.3, owner="driver@here:1:old")  # fmt: skip

    def taken_over():
        store.release_driver_lease("s", "driver@here:1:old")
        assert store.acquire_driver_lease("s", "driver@there:2:new", 30.0)

    with pytest.raises(DriverLeaseError) as info:
        drive(store, settings, options=options, should_stop=lambda: taken_over())
    message = str(info.value)
    assert "driver@there:2:new" in message and "took the study over" in message
    assert "stop that driver" not in message, message


def test_a_lost_lease_whose_new_holder_is_not_shown_yet_says_another_driver(store):
    """The store refused the lease but does not name its holder yet (a takeover
    whose owner a read does not show): "another driver", never "None"."""
    settings = new_study(store)
    options = DriverOptions(progress=False, min_poll=0.005, max_poll=0.05,
                            lease_seconds=0.3, owner="driver@here:1:old")  # fmt: skip
    read = store.get_study

    def unnamed(name):
        return dataclasses.replace(read(name), driver_owner=None)

    def taken_over():
        store.release_driver_lease("s", "driver@here:1:old")
        assert store.acquire_driver_lease("s", "driver@there:2:new", 30.0)
        store.get_study = unnamed

    with pytest.raises(DriverLeaseError) as info:
        drive(store, settings, options=options, should_stop=lambda: taken_over())
    message = str(info.value)
    assert "another driver took the study over" in message, message
    assert "None" not in message, message


def test_resume_finishes_exactly_and_keeps_earlier_trials(
    store, db_url, thread_workers
):
    settings = new_study(store, max_evals=10)
    with thread_workers(db_url, objective):
        drive(store, settings)
    settings, created = open_study(store, "s", {"max_evals": 25})
    assert not created and settings.max_evals == 25
    with thread_workers(db_url, objective):
        outcome = drive(store, settings)
    assert outcome.counts[TrialState.DONE] == 25
    assert [t.tid for t in store.get_trials("s")] == list(range(25))


def test_changed_space_is_refused_unless_overridden(store):
    new_study(store)
    changed = space_settings({"x": hp.uniform("x", 0, 1)})
    with pytest.raises(
        StudyMismatchError,
        match=r"different space \(space: labels removed: shape, tilt, y; x changed "
        r"from hp.uniform\('x', -5.0, 5.0\) to hp.uniform\('x', 0.0, 1.0\)\)",
    ):
        open_study(store, "s", changed)
    settings, _ = open_study(store, "s", changed, override=True)
    assert settings.space_fingerprint == changed["space_fingerprint"]


def test_a_space_given_to_a_study_made_by_an_import_is_compared_on_later_starts(
    store,
):
    """A study made without a space takes the first space given as no change; a
    later start with another space is refused naming the difference, one with no
    space resumes it."""
    from hpo_service.driver._study import create_without_space

    create_without_space(store, "s")
    first = {"objective": "m:f", "max_evals": 5, **space_settings(space)}
    settings, created = open_study(store, "s", first)
    assert not created and settings.space_fingerprint == first["space_fingerprint"]
    changed = space_settings({"x": hp.uniform("x", 0, 1)})
    with pytest.raises(StudyMismatchError, match=r"space: labels removed: shape"):
        open_study(store, "s", changed)
    settings, _ = open_study(store, "s", {"max_evals": 6})
    assert settings.space == first["space"] and settings.max_evals == 6


def test_loss_threshold_stops_and_cancels_the_queue(store, db_url, thread_workers):
    settings = new_study(store, max_evals=500, loss_threshold=5.0, algorithm="rand")
    with thread_workers(db_url, objective):
        outcome = drive(store, settings)
    assert outcome.reason == "loss_threshold"
    assert outcome.best.result["loss"] <= 5.0
    counts = store.count_by_state("s")
    assert counts[TrialState.NEW] == counts[TrialState.RUNNING] == 0
    assert counts[TrialState.DONE] < 500


def test_cancelled_study_stops_its_driver(store, db_url):
    settings = new_study(store, max_evals=100)
    timer = threading.Timer(0.3, lambda: _cancel_study(store, "s"))
    timer.start()
    outcome = drive(store, settings)
    assert outcome.reason == "cancelled"
    assert store.count_by_state("s")[TrialState.NEW] == 0


def test_driver_queues_nothing_once_it_sees_the_study_cancelled(
    store, db_url, thread_workers
):
    settings = new_study(store, max_evals=10_000, queue_depth=4)
    cancelled_at = []

    def cancel():
        with open_store(db_url) as other:
            _cancel_study(other, "s")
            cancelled_at.append(other.now())

    with thread_workers(db_url, _slow_objective):
        timer = threading.Timer(0.5, cancel)
        timer.start()
        outcome = drive(store, settings)
    timer.join()  # the driver may see the cancel before the timer noted its time
    assert outcome.reason == "cancelled"
    late = [t for t in store.get_trials("s") if t.created_at > cancelled_at[0]]
    # At most the one batch that was being queued while the cancel landed.
    assert len(late) <= 4


def test_a_driver_whose_study_another_start_gave_a_new_space_queues_nothing(store):
    """Only the holder of the driver lease queues trials, so every tid from the
    first one of a new space on (the mark ``--override`` stores) is of that space.
    A driver that lost its lease without noticing yet (paused between its lease
    renewal and its next batch) reads the study before each batch: it finds
    another space and stops, queueing no trial of the old space after the mark."""
    settings = new_study(store, max_evals=10, timeout=2.0)  # ends without workers
    mark = {"fingerprint": "another", "first_tid": 0, "kept": []}
    store.patch_study_settings(  # what another start's --override wrote
        "s", {"space_fingerprint": "another", "space_mark": mark}
    )
    with pytest.raises(DriverLeaseError, match="changed its space"):
        drive(store, settings)
    assert store.get_trials("s") == []


def _slow_objective(config):
    time.sleep(0.005)
    return objective(config)


def _cancel_study(store, name):
    store.patch_study_settings(name, {"cancelled": True})
    store.cancel(name)


def _finish_trials(store, n):
    """Run ``n`` trials of study "s" outside any driver (an earlier run's work)."""
    suggester = Suggester(space, resolve("rand"))
    new = suggester.suggest(np.random.default_rng(0), n)
    store.insert_trials("s", new)
    for _ in range(n):
        trial = store.claim("earlier-worker", 30.0, study="s")
        store.complete("s", trial.tid, trial.token, {"loss": 1.0, "status": "ok"})


def test_resumed_trials_do_not_count_as_throughput(store):
    settings = new_study(store, max_evals=500)
    _finish_trials(store, 100)
    polls = []

    def one_live_completion_then_watch():
        polls.append(store.count_by_state("s")[TrialState.NEW])
        if len(polls) == 3:  # the window of the throughput estimate has passed
            time.sleep(0.3)
            trial = store.claim("live-worker", 30.0, study="s")
            store.complete("s", trial.tid, trial.token, {"loss": 2.0, "status": "ok"})
        return "enough" if len(polls) >= 15 else None

    drive(store, settings, should_stop=one_live_completion_then_watch)
    assert max(polls) <= 2  # one slow live trial, no workers: the minimum depth


def test_lease_released_by_the_other_driver_meanwhile_is_taken(store, monkeypatch):
    settings = new_study(store)
    acquire = store.acquire_driver_lease
    calls = []

    def refused_once(*args):  # the other driver released its lease just after
        calls.append(args)
        return len(calls) > 1 and acquire(*args)

    monkeypatch.setattr(store, "acquire_driver_lease", refused_once)
    outcome = drive(store, settings, should_stop=lambda: "enough")
    assert outcome.reason == "enough"


def test_a_lower_max_evals_on_resume_keeps_what_already_finished(store, caplog):
    settings = new_study(store, max_evals=10)
    tids = store.insert_trials("s", Suggester(space, resolve("rand")).suggest(
        np.random.default_rng(0), 6, []))  # fmt: skip
    for _ in tids:
        trial = store.claim("w", 60.0, study="s")
        store.complete("s", trial.tid, trial.token, {"loss": 1.0, "status": "ok"})
    assert len(tids) == 6
    given = {"max_evals": 4}
    resumed, created = open_study(store, "s", given)
    assert not created and settings.max_evals == 10
    assert resumed.max_evals == 6  # never below what finished: not "6/4 finished"
    assert store.get_study("s").settings["max_evals"] == 6
    assert "already finished 6 trials, more than --max-evals 4" in caplog.text


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("x" * 201, "201 characters"),
        (" padded", "leading or trailing blanks"),
        ("tab\there", "control character"),
    ],
)
def test_a_bad_study_name_is_refused_before_the_study_exists(store, name, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        new_study(store, name)
    assert store.list_studies() == []


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "7"])
def test_a_bad_seed_is_refused_before_the_study_exists(store, seed):
    with pytest.raises(ValueError, match="seed"):
        new_study(store, "s", seed=seed)
    assert store.list_studies() == []


def test_names_and_seeds_at_the_limits_are_accepted(store):
    assert new_study(store, "x" * 200, seed=2**32 - 1).seed == 2**32 - 1
    assert new_study(store, "été 2026 (v1.2)", seed=0).seed == 0
    assert new_study(store, "mnist/v2", seed=1).seed == 1  # as hyperopt's exp_key


def test_stop_rules_apply_to_the_run_that_gives_them(store, db_url, thread_workers):
    settings = new_study(store, max_evals=40, no_improvement=1, algorithm="rand")
    with thread_workers(db_url, objective):
        first = drive(store, settings)
    assert first.reason == "no_improvement"
    settings, _ = open_study(store, "s", {"max_evals": 40})
    assert (settings.no_improvement, settings.loss_threshold, settings.timeout) == (
        None, None, None,
    )  # fmt: skip
    assert store.get_study("s").settings["no_improvement"] is None
    with thread_workers(db_url, objective):
        outcome = drive(store, settings)
    assert outcome.reason == "max_evals"
    assert outcome.counts[TrialState.DONE] == 40


def test_a_run_stopped_by_a_signal_reads_no_pruning_counts(store, monkeypatch):
    """The counts are shown only at a run's normal end: a run stopped by a signal
    (``interrupt``) ends with a command to resume instead. It read them all the
    same, every trial's last step, after giving its lease back; when the store was
    what failed, that read first waited out the store's retries."""
    settings = new_study(store, pruner="median")
    driver = Driver(store, "s", settings, space, options=FAST)
    read = []
    monkeypatch.setattr(store, "last_steps", lambda study: read.append(study) or [])
    driver.interrupt("SIGTERM")
    outcome = driver.run()
    assert (outcome.reason, outcome.pruning, read) == ("SIGTERM", None, [])
    ended = Driver(store, "s", settings, space, options=FAST, should_stop=lambda: "x")
    assert ended.run().pruning is not None and read == ["s"]  # a normal end reads


def test_opening_a_study_takes_its_driver_lease_once(store, monkeypatch):
    """open_driven_study took the lease of a study that existed twice (before
    open_study, and again in open_study before it reads the study): one write too
    many at every start. Now once, when resuming as when creating."""
    from hpo_service.driver._study import open_driven_study

    taken = []
    acquire = store.acquire_driver_lease

    def counted(name, owner, seconds):
        taken.append(owner)
        return acquire(name, owner, seconds)

    monkeypatch.setattr(store, "acquire_driver_lease", counted)
    given = {"objective": "examples.quadratic:objective", **space_settings(space),
             "max_evals": 3}  # fmt: skip
    options = DriverOptions(owner="driver@here:1:aaaaaa")
    for created in (True, False):
        taken.clear()
        opened = open_driven_study(store, "s", given, override=False, options=options)
        assert (opened[1], taken) == (created, [options.owner])
        store.release_driver_lease("s", options.owner)
    assert store.get_study("s").driver_owner is None


def test_opening_a_study_gives_its_own_lease_back_on_failure_only(store):
    """open_driven_study: a new study is reported (on_create) before its lease is
    taken (on_lease); a refused resume gives the lease back; another driver's lease
    is refused and kept."""
    from hpo_service.driver._lease import default_owner
    from hpo_service.driver._study import open_driven_study

    given = {"objective": "examples.quadratic:objective", **space_settings(space),
             "max_evals": 3}  # fmt: skip
    options = DriverOptions(owner="driver@here:1:aaaaaa")
    calls = []

    def noting(call):
        return lambda: calls.append((call, store.get_study("s").driver_owner))

    def opening(given):
        return open_driven_study(
            store, "s", given, override=False, options=options,
            on_create=noting("create"), on_lease=noting("lease"),
        )  # fmt: skip

    assert opening(given)[1]
    assert calls == [("create", None), ("lease", options.owner)]
    store.release_driver_lease("s", options.owner)
    calls.clear()
    with pytest.raises(StudyMismatchError):
        opening({**given, **space_settings({"x": hp.uniform("x", 0, 1)})})
    assert calls == [("lease", options.owner)]
    assert store.get_study("s").driver_owner is None
    calls.clear()
    alive = default_owner("driver")  # this process: a live holder, refused at once
    assert store.acquire_driver_lease("s", alive, 30.0)
    with pytest.raises(DriverLeaseError, match=re.escape(alive)):
        opening(given)
    assert (calls, store.get_study("s").driver_owner) == ([], alive)
