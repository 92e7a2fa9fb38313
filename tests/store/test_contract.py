"""The trials-store contract (``hpo_service/store/_base.py``), run on every backend.

Tests talk to :class:`BaseTrialStore` only. Leases are real and short (a tenth of a
second) with sleeps a few times longer, so expiry is certain whatever the load.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hpo_service.exceptions import (
    SettingRecordedError,
    StoreError,
    StudyExistsError,
    StudyNotFoundError,
    TrialNotFoundError,
    UnstorableError,
)
from hpo_service.store import (
    LEASE_EXPIRED,
    MAX_ATTACHMENT_BYTES,
    BaseTrialStore,
    FinishedTrial,
    NewTrial,
    Trial,
    TrialKeys,
    TrialReports,
    TrialState,
)
from hpo_service.store._summary import RunningTrial
from tests.store.conftest import StoreOpener

SHORT = 0.1  # a lease that will have expired after EXPIRE seconds
LONG = 60.0  # a lease that will not expire during a test
# MongoDB's ``now()`` estimates the server's clock (local clock + an offset measured
# over a round trip, BSON dates truncated to the millisecond), while the times it
# stores come from the server's own clock: the two may differ by half a round trip
# and a millisecond. SQLite stores and reads one clock, so it needs no slack.
CLOCK_ERROR = 0.05
# A sleep begun after the write that set a SHORT lease: the lease ends before the
# sleep does, by either clock (a loaded machine only makes the sleep longer).
EXPIRE = SHORT + 2 * CLOCK_ERROR

S = TrialState


def new_trials(n: int, start: int = 0) -> list[NewTrial]:
    return [
        NewTrial(params={"x": float(i)}, config={"x": float(i), "tag": f"t{i}"})
        for i in range(start, start + n)
    ]


@pytest.fixture
def study(store: BaseTrialStore) -> str:
    store.create_study("s", {"objective": "pkg.mod:fn", "max_evals": 10})
    return "s"


def on_store_clock_between(before: float, stamp: float, after: float) -> bool:
    """Whether a stored time lies between two ``store.now()`` readings."""
    return before - CLOCK_ERROR <= stamp <= after + CLOCK_ERROR


def queued(store: BaseTrialStore, study: str, n: int) -> list[int]:
    return store.insert_trials(study, new_trials(n))


def claimed(store: BaseTrialStore, study: str, lease: float = LONG) -> Trial:
    trial = store.claim("w1", lease, study=study)
    assert trial is not None
    return trial


def _running_and_done(store: BaseTrialStore, study: str, n: int) -> tuple[Trial, Trial]:
    """Queue ``n`` trials, claim two and complete the second: ``(running, done)``."""
    queued(store, study, n)
    running = claimed(store, study)
    done = claimed(store, study)
    store.complete(study, done.tid, done.token, {"loss": 1.0})
    return running, done


# ---- studies -------------------------------------------------------------------------


class TestStudies:
    def test_next_tid_bounds_the_number_of_trials(self, store: BaseTrialStore) -> None:
        """``next_tid``: tids allocated so far, so no more trials than that exist
        (what a worker reads to skip counting a study that cannot exceed its
        budget)."""
        assert store.create_study("n", {}).next_tid == 0
        assert store.get_study("n").next_tid == 0
        tids = store.insert_trials("n", new_trials(3))
        tids += store.insert_finished("n", [FinishedTrial({}, {}, {"loss": 1.0})])
        assert store.get_study("n").next_tid >= max(tids) + 1 == 4
        assert [s.next_tid for s in store.list_studies()] == [
            store.get_study("n").next_tid
        ]
        store.cancel("n")
        assert store.get_study("n").next_tid >= 4

    def test_create_then_get_round_trips(self, store: BaseTrialStore) -> None:
        settings = {"space": {"lr": {"kind": "loguniform", "low": -5}}, "seed": None}
        created = store.create_study("a", settings)
        got = store.get_study("a")
        assert got == created
        assert got.name == "a"
        assert got.settings == settings
        assert got.created_at == got.updated_at
        assert got.driver_owner is None and got.driver_lease_expires_at is None

    def test_created_at_is_store_clock(self, store: BaseTrialStore) -> None:
        before = store.now()
        created = store.create_study("a", {})
        assert on_store_clock_between(before, created.created_at, store.now())

    def test_duplicate_name_is_refused(self, store: BaseTrialStore) -> None:
        store.create_study("a", {"v": 1})
        with pytest.raises(StudyExistsError, match="'a'"):
            store.create_study("a", {"v": 2})
        assert store.get_study("a").settings == {"v": 1}

    def test_missing_study_is_a_key_error(self, store: BaseTrialStore) -> None:
        with pytest.raises(StudyNotFoundError, match="nope") as info:
            store.get_study("nope")
        assert isinstance(info.value, KeyError)

    def test_list_is_oldest_first(self, store: BaseTrialStore) -> None:
        for name in ["b", "c", "a"]:
            store.create_study(name, {})
        assert [s.name for s in store.list_studies()] == ["b", "c", "a"]

    def test_list_is_empty_at_first(self, store: BaseTrialStore) -> None:
        assert store.list_studies() == []

    def test_update_settings_replaces_them(self, store: BaseTrialStore) -> None:
        created = store.create_study("a", {"v": 1, "old": True})
        updated = store.update_study_settings("a", {"v": 2})
        assert updated.settings == {"v": 2}
        assert store.get_study("a").settings == {"v": 2}
        assert updated.created_at == created.created_at
        assert updated.updated_at >= created.updated_at

    def test_update_settings_of_missing_study(self, store: BaseTrialStore) -> None:
        with pytest.raises(StudyNotFoundError):
            store.update_study_settings("nope", {})

    @pytest.mark.parametrize("name", ["", None, 3])
    def test_bad_name_is_a_value_error(self, store: BaseTrialStore, name: Any) -> None:
        with pytest.raises(ValueError, match="name"):
            store.create_study(name, {})

    def test_settings_must_be_a_dict(self, store: BaseTrialStore) -> None:
        with pytest.raises(ValueError, match="settings"):
            store.create_study("a", [1, 2])  # type: ignore[arg-type]


class TestPatchSettings:
    def test_sets_the_given_keys_and_keeps_the_others(
        self, store: BaseTrialStore
    ) -> None:
        created = store.create_study("a", {"v": 1, "d": {"p": 1, "q": 2}, "w": None})
        patched = store.patch_study_settings("a", {"d": {"r": 3}, "new": [1, (2,)]})
        expected = {"v": 1, "d": {"r": 3}, "w": None, "new": [1, [2]]}
        assert patched.settings == expected  # a dict value replaces, never merges
        assert store.get_study("a").settings == expected
        assert patched.created_at == created.created_at
        assert patched.updated_at >= created.updated_at

    def test_awkward_keys_and_values_round_trip(self, store: BaseTrialStore) -> None:
        store.create_study("a", {"a.b": 1})
        changes = {"a.b": 2, "$x": "$y", "nan": math.inf, "d": {"$k.k": 1}}
        assert store.patch_study_settings("a", changes).settings == changes
        assert store.get_study("a").settings == changes

    def test_only_unset_keeps_values_and_fills_gaps(
        self, store: BaseTrialStore
    ) -> None:
        store.create_study("a", {"set": 1, "none": None, "zero": 0, "off": False})
        changes = {"set": 2, "none": 2, "zero": 2, "off": True, "missing": {"d": 2}}
        patched = store.patch_study_settings("a", changes, only_unset=True)
        expected = {"set": 1, "none": 2, "zero": 0, "off": False, "missing": {"d": 2}}
        assert patched.settings == expected
        assert store.get_study("a").settings == expected

    def test_missing_study(self, store: BaseTrialStore) -> None:
        for only_unset in (False, True):
            with pytest.raises(StudyNotFoundError, match="nope"):
                store.patch_study_settings("nope", {"v": 1}, only_unset=only_unset)

    @pytest.mark.parametrize("changes", [{}, [("v", 1)], {"": 1}, {3: 1}, {"v": {1}}])
    def test_bad_changes_are_value_errors(
        self, store: BaseTrialStore, changes: Any
    ) -> None:
        store.create_study("a", {"v": 0})
        with pytest.raises(ValueError, match="changes"):
            store.patch_study_settings("a", changes)
        assert store.get_study("a").settings == {"v": 0}

    def test_concurrent_writers_of_different_keys_all_keep_their_change(
        self, store_opener: StoreOpener
    ) -> None:
        """Each of 4 store objects (threads) patches its own keys 10 times at once."""
        store_opener().create_study("a", {"base": True})
        stores = [store_opener() for _ in range(4)]
        start = threading.Barrier(len(stores))

        def writer(i: int) -> None:
            start.wait()
            for n in range(10):
                stores[i].patch_study_settings("a", {f"w{i}_{n}": n, f"last{i}": n})

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        expected = {"base": True} | {f"last{i}": 9 for i in range(4)}
        expected |= {f"w{i}_{n}": n for i in range(4) for n in range(10)}
        assert stores[0].get_study("a").settings == expected

    def test_a_claim_after_a_settings_change_reads_the_new_settings(
        self, store_opener: StoreOpener
    ) -> None:
        """What a worker relies on to run a claimed trial with the study's current
        settings: one client changes them, another claims, then reads the study,
        and sees the change (no stale copy, whatever the client)."""
        driver, worker = store_opener(), store_opener()
        driver.create_study("a", {"objective": "m:old", "max_evals": 3})
        worker.get_study("a")  # the worker read the old settings once
        driver.insert_trials("a", new_trials(2))
        driver.update_study_settings("a", {"objective": "m:new", "max_evals": 3})
        assert worker.claim("w", LONG, study="a") is not None
        assert worker.get_study("a").settings["objective"] == "m:new"
        driver.patch_study_settings("a", {"max_evals": 5})
        assert worker.claim("w", LONG, study="a") is not None
        assert worker.get_study("a").settings == {"objective": "m:new", "max_evals": 5}

    def test_first_writer_wins_with_only_unset(self, store_opener: StoreOpener) -> None:
        """Writers racing to record a value all learn the one that was kept."""
        store_opener().create_study("a", {"count": None})
        stores = [store_opener() for _ in range(4)]
        start = threading.Barrier(len(stores))
        seen: dict[int, Any] = {}

        def writer(i: int) -> None:
            start.wait()
            study = stores[i].patch_study_settings("a", {"count": i}, only_unset=True)
            seen[i] = study.settings["count"]

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        kept = stores[0].get_study("a").settings["count"]
        assert kept in range(4)
        assert seen == dict.fromkeys(range(4), kept)


# ---- driver lease --------------------------------------------------------------------


class TestDriverLease:
    def test_free_lease_is_taken(self, store: BaseTrialStore, study: str) -> None:
        assert store.acquire_driver_lease(study, "d1", LONG)
        got = store.get_study(study)
        assert got.driver_owner == "d1"
        assert got.driver_lease_expires_at == pytest.approx(store.now() + LONG, abs=5)

    def test_live_lease_is_exclusive(self, store: BaseTrialStore, study: str) -> None:
        assert store.acquire_driver_lease(study, "d1", LONG)
        assert not store.acquire_driver_lease(study, "d2", LONG)
        assert store.get_study(study).driver_owner == "d1"

    def test_owner_extends_its_lease(self, store: BaseTrialStore, study: str) -> None:
        assert store.acquire_driver_lease(study, "d1", 1.0)
        first = store.get_study(study).driver_lease_expires_at
        assert store.acquire_driver_lease(study, "d1", LONG)
        assert store.get_study(study).driver_lease_expires_at > first

    def test_expired_lease_is_taken_over(
        self, store: BaseTrialStore, study: str
    ) -> None:
        assert store.acquire_driver_lease(study, "d1", SHORT)
        time.sleep(EXPIRE)
        assert store.acquire_driver_lease(study, "d2", LONG)
        assert store.get_study(study).driver_owner == "d2"

    def test_release_frees_it(self, store: BaseTrialStore, study: str) -> None:
        store.acquire_driver_lease(study, "d1", LONG)
        store.release_driver_lease(study, "d1")
        got = store.get_study(study)
        assert got.driver_owner is None and got.driver_lease_expires_at is None
        assert store.acquire_driver_lease(study, "d2", LONG)

    def test_release_by_other_is_ignored(
        self, store: BaseTrialStore, study: str
    ) -> None:
        store.acquire_driver_lease(study, "d1", LONG)
        store.release_driver_lease(study, "d2")
        assert store.get_study(study).driver_owner == "d1"

    def test_missing_study(self, store: BaseTrialStore) -> None:
        with pytest.raises(StudyNotFoundError):
            store.acquire_driver_lease("nope", "d1", LONG)
        with pytest.raises(StudyNotFoundError):
            store.release_driver_lease("nope", "d1")

    @pytest.mark.parametrize("seconds", [0, -1.0, math.nan, math.inf])
    def test_bad_seconds(
        self, store: BaseTrialStore, study: str, seconds: float
    ) -> None:
        with pytest.raises(ValueError, match="seconds"):
            store.acquire_driver_lease(study, "d1", seconds)


# ---- insert --------------------------------------------------------------------------


class TestInsert:
    def test_tids_count_up_from_zero(self, store: BaseTrialStore, study: str) -> None:
        assert store.insert_trials(study, new_trials(3)) == [0, 1, 2]
        assert store.insert_trials(study, new_trials(2)) == [3, 4]

    def test_tids_are_per_study(self, store: BaseTrialStore, study: str) -> None:
        store.create_study("other", {})
        queued(store, study, 3)
        assert store.insert_trials("other", new_trials(2)) == [0, 1]

    def test_new_trial_fields(self, store: BaseTrialStore, study: str) -> None:
        before = store.now()
        (tid,) = store.insert_trials(
            study, [NewTrial({"x": 1.5}, {"x": 1.5, "k": [1]})]
        )
        trial = store.get_trial(study, tid)
        assert trial.study == study and trial.tid == tid
        assert trial.state is S.NEW
        assert trial.params == {"x": 1.5}
        assert trial.config == {"x": 1.5, "k": [1]}
        assert trial.attempts == 0
        assert trial.owner is trial.token is trial.lease_expires_at is None
        assert trial.started_at is trial.finished_at is None
        assert trial.result is trial.error is None
        assert on_store_clock_between(before, trial.created_at, store.now())
        store.changes_since(study)  # numbers the write (MongoDB numbers on read)
        assert store.get_trial(study, tid).version > 0

    def test_tids_are_never_reused(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 3)
        trial = claimed(store, study)
        store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        store.cancel(study)
        assert store.insert_trials(study, new_trials(2)) == [3, 4]
        assert [t.tid for t in store.get_trials(study)] == [0, 1, 2, 3, 4]

    def test_empty_insert(self, store: BaseTrialStore, study: str) -> None:
        _, cursor = store.changes_since(study)
        assert store.insert_trials(study, []) == []
        assert store.changes_since(study, cursor) == ([], cursor)

    def test_missing_study(self, store: BaseTrialStore) -> None:
        with pytest.raises(StudyNotFoundError):
            store.insert_trials("nope", new_trials(1))
        with pytest.raises(StudyNotFoundError):
            store.insert_trials("nope", [])

    @pytest.mark.parametrize(
        "bad",
        [[{"params": {}, "config": {}}], [NewTrial(params=[1], config={})], "x"],  # type: ignore[arg-type]
    )
    def test_bad_trials(self, store: BaseTrialStore, study: str, bad: Any) -> None:
        with pytest.raises(ValueError):
            store.insert_trials(study, bad)
        assert store.get_trials(study) == []

    def test_non_json_config_is_refused(
        self, store: BaseTrialStore, study: str
    ) -> None:
        with pytest.raises(ValueError, match="config"):
            store.insert_trials(study, [NewTrial({"x": 1}, {"f": object()})])
        assert store.get_trials(study) == []

    def test_concurrent_inserts_get_distinct_tids(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        stores = [store_opener() for _ in range(4)]
        got: list[list[int]] = []

        def insert(s: BaseTrialStore) -> None:
            for _ in range(10):
                got.append(s.insert_trials(study, new_trials(3)))

        run_threads([lambda s=s: insert(s) for s in stores])
        tids = sorted(t for batch in got for t in batch)
        assert len(tids) == len(set(tids)) == 120
        assert all(batch == list(range(batch[0], batch[0] + 3)) for batch in got)
        assert len(store.get_trials(study)) == 120


def run_threads(targets: list[Any]) -> None:
    """Run each target in a thread; re-raise the first error any of them raised."""
    errors: list[BaseException] = []

    def guarded(fn: Any) -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(fn,)) for fn in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]


# ---- claim ---------------------------------------------------------------------------


class TestClaim:
    def test_nothing_queued(self, store: BaseTrialStore, study: str) -> None:
        assert store.claim("w1", LONG) is None
        assert store.claim("w1", LONG, study=study) is None

    def test_claim_sets_the_attempt(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 2)
        before = store.now()
        trial = claimed(store, study, lease=30.0)
        assert trial.tid == 0
        assert trial.state is S.RUNNING
        assert trial.owner == "w1"
        assert isinstance(trial.token, str) and len(trial.token) == 32
        assert trial.attempts == 1
        assert on_store_clock_between(before, trial.started_at, store.now())
        assert trial.lease_expires_at == pytest.approx(trial.started_at + 30.0)
        assert trial.params == {"x": 0.0} and trial.config["tag"] == "t0"
        assert store.get_trial(study, 0) == trial

    def test_oldest_first_and_fresh_tokens(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 3)
        trials = [claimed(store, study) for _ in range(3)]
        assert [t.tid for t in trials] == [0, 1, 2]
        assert len({t.token for t in trials}) == 3
        assert store.claim("w1", LONG, study=study) is None

    def test_claim_of_one_study(self, store: BaseTrialStore, study: str) -> None:
        store.create_study("other", {})
        store.insert_trials("other", new_trials(2))
        queued(store, study, 1)
        assert claimed(store, study).study == study
        assert store.claim("w1", LONG, study=study) is None
        assert store.count_by_state("other")[S.NEW] == 2

    def test_claim_of_any_study_is_fifo(
        self, store: BaseTrialStore, study: str
    ) -> None:
        store.create_study("other", {})
        queued(store, study, 1)
        store.insert_trials("other", new_trials(1))
        queued(store, study, 1)
        got = [store.claim("w1", LONG) for _ in range(4)]
        assert [(t.study, t.tid) for t in got[:3]] == [
            (study, 0),
            ("other", 0),
            (study, 1),
        ]
        assert got[3] is None

    def test_requeued_trial_is_claimed_first(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 3)
        first = claimed(store, study, lease=SHORT)
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3, study=study)
        again = claimed(store, study)
        assert again.tid == first.tid
        assert again.attempts == 2
        assert again.token != first.token

    def test_missing_study(self, store: BaseTrialStore) -> None:
        with pytest.raises(StudyNotFoundError):
            store.claim("w1", LONG, study="nope")

    @pytest.mark.parametrize("lease", [0, -1, math.nan, math.inf, "5", True, None])
    def test_bad_lease(self, store: BaseTrialStore, study: str, lease: Any) -> None:
        queued(store, study, 1)
        with pytest.raises(ValueError, match="lease_seconds"):
            store.claim("w1", lease, study=study)
        assert store.get_trial(study, 0).state is S.NEW

    def test_bad_owner(self, store: BaseTrialStore, study: str) -> None:
        with pytest.raises(ValueError, match="owner"):
            store.claim("", LONG, study=study)

    def test_concurrent_claims_never_share_a_trial(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 60)
        stores = [store_opener() for _ in range(4)]
        got: list[tuple[int, str]] = []

        def drain(s: BaseTrialStore) -> None:
            while (trial := s.claim("w", LONG, study=study)) is not None:
                got.append((trial.tid, trial.token))
                assert s.complete(study, trial.tid, trial.token, {"loss": 0.0})

        run_threads([lambda s=s: drain(s) for s in stores])
        assert sorted(tid for tid, _ in got) == list(range(60))
        assert store.count_by_state(study)[S.DONE] == 60
        assert all(t.attempts == 1 for t in store.get_trials(study))


# ---- heartbeat -----------------------------------------------------------------------


class TestClaimWithStudy:
    """``claim_with_study``: the claim and the claimed trial's study as it is once
    the claim landed, what a worker judges and runs the trial by."""

    def test_the_trial_of_a_claim_and_its_study(
        self, store_opener: StoreOpener
    ) -> None:
        driver, worker = store_opener(), store_opener()
        driver.create_study("a", {"objective": "m:f", "max_evals": 3})
        driver.insert_trials("a", new_trials(2))
        worker.get_study("a")  # the worker read the settings before they changed
        driver.patch_study_settings("a", {"max_evals": 1, "cancelled": True})
        claimed = worker.claim_with_study("w1", LONG, study="a")
        assert claimed is not None
        trial, study = claimed
        assert (trial.tid, trial.state, trial.owner, trial.attempts) == (
            0,
            S.RUNNING,
            "w1",
            1,
        )
        assert worker.get_trial("a", 0) == trial
        assert study == driver.get_study("a")
        assert study.settings == {"objective": "m:f", "max_evals": 1, "cancelled": True}
        assert study.next_tid == 2

    def test_of_any_study_the_claimed_trial_s_study(
        self, store: BaseTrialStore, study: str
    ) -> None:
        store.create_study("other", {"objective": "m:g"})
        store.insert_trials("other", new_trials(1))
        claimed = store.claim_with_study("w1", LONG)
        assert claimed is not None
        assert claimed[0].study == claimed[1].name == "other"
        assert claimed[1].settings == {"objective": "m:g"}

    def test_nothing_queued_and_missing_study(
        self, store: BaseTrialStore, study: str
    ) -> None:
        assert store.claim_with_study("w1", LONG) is None
        assert store.claim_with_study("w1", LONG, study=study) is None
        with pytest.raises(StudyNotFoundError):
            store.claim_with_study("w1", LONG, study="nope")


class TestHeartbeat:
    def test_current_attempt_is_extended(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study, lease=1.0)
        assert store.heartbeat(study, trial.tid, trial.token, LONG)
        got = store.get_trial(study, trial.tid)
        assert got.lease_expires_at > trial.lease_expires_at + LONG / 2
        assert got.state is S.RUNNING and got.token == trial.token

    def test_heartbeat_keeps_a_trial_alive(
        self, store: BaseTrialStore, study: str
    ) -> None:
        # 1.2 s of beats outlive the first 1 s lease. Each beat may come up to 0.7 s
        # late, and the requeue up to 1 s after it (a loaded machine: the MongoDB
        # server is a process too); with a 0.3 s lease beaten every 0.1 s, 0.2 s.
        queued(store, study, 1)
        trial = claimed(store, study, lease=1.0)
        for _ in range(4):
            time.sleep(0.3)
            assert store.heartbeat(study, trial.tid, trial.token, 1.0)
            store.requeue_expired(max_attempts=1, study=study)
        assert store.get_trial(study, trial.tid).state is S.RUNNING

    def test_wrong_token(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert not store.heartbeat(study, trial.tid, "0" * 32, LONG)
        assert (
            store.get_trial(study, trial.tid).lease_expires_at == trial.lease_expires_at
        )

    def test_false_once_finished(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        assert not store.heartbeat(study, trial.tid, trial.token, LONG)

    def test_false_once_cancelled(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        store.cancel(study, [trial.tid])
        assert not store.heartbeat(study, trial.tid, trial.token, LONG)

    def test_false_once_requeued(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study, lease=SHORT)
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3)
        assert not store.heartbeat(study, trial.tid, trial.token, LONG)
        assert store.get_trial(study, trial.tid).state is S.NEW

    def test_heartbeat_is_not_a_change(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        _, cursor = store.changes_since(study)
        store.heartbeat(study, trial.tid, trial.token, LONG)
        assert store.changes_since(study, cursor) == ([], cursor)

    def test_missing_trial(self, store: BaseTrialStore, study: str) -> None:
        with pytest.raises(TrialNotFoundError) as info:
            store.heartbeat(study, 7, "t", LONG)
        assert isinstance(info.value, KeyError)
        with pytest.raises(StudyNotFoundError):
            store.heartbeat("nope", 0, "t", LONG)

    def test_bad_lease(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(ValueError, match="lease_seconds"):
            store.heartbeat(study, trial.tid, trial.token, 0)


# ---- complete / fail / release -------------------------------------------------------


class TestComplete:
    def test_accepted_once(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        result = {"loss": 0.5, "status": "ok", "duration": 1.25}
        assert store.complete(study, trial.tid, trial.token, result)
        assert not store.complete(study, trial.tid, trial.token, {"loss": 9.0})
        got = store.get_trial(study, trial.tid)
        assert got.state is S.DONE
        assert got.result == result
        assert got.error is None
        assert got.started_at <= got.finished_at
        assert on_store_clock_between(got.started_at, got.finished_at, store.now())
        assert got.attempts == 1 and got.owner == "w1"

    def test_stale_token_is_refused(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        old = claimed(store, study, lease=SHORT)
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3)
        assert not store.complete(study, old.tid, old.token, {"loss": 1.0})
        new = claimed(store, study)
        assert not store.complete(study, old.tid, old.token, {"loss": 1.0})
        assert store.complete(study, new.tid, new.token, {"loss": 2.0})
        assert store.get_trial(study, old.tid).result == {"loss": 2.0}

    def test_cancelled_trial_is_refused(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert store.cancel(study) == 1
        assert not store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        assert not store.fail(study, trial.tid, trial.token, error_of("X"))
        got = store.get_trial(study, trial.tid)
        assert got.state is S.CANCELLED and got.result is None and got.error is None

    def test_queued_trial_is_refused(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        assert not store.complete(study, 0, "any", {"loss": 1.0})
        assert store.get_trial(study, 0).state is S.NEW

    def test_result_must_be_a_dict(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(ValueError, match="result"):
            store.complete(study, trial.tid, trial.token, 0.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="result"):
            store.complete(study, trial.tid, trial.token, {"loss": {1, 2}})
        assert store.get_trial(study, trial.tid).state is S.RUNNING

    def test_missing_trial(self, store: BaseTrialStore, study: str) -> None:
        with pytest.raises(TrialNotFoundError):
            store.complete(study, 3, "t", {"loss": 1.0})
        with pytest.raises(StudyNotFoundError):
            store.complete("nope", 0, "t", {"loss": 1.0})


class TestCompleteUnlessSetting:
    """``complete(..., unless_setting=key)``: what a worker that does not know the
    study's constraint count yet relies on to refuse a result without constraints
    once another process recorded a count, without reading the study first."""

    def test_written_while_the_setting_is_unset(
        self, store: BaseTrialStore, study: str
    ) -> None:
        store.patch_study_settings(study, {"n_constraints": None})
        queued(store, study, 2)
        first, second = claimed(store, study), claimed(store, study)
        assert store.complete(
            study, first.tid, first.token, {"loss": 1.0}, unless_setting="n_constraints"
        )  # held as None
        assert store.complete(
            study, second.tid, second.token, {"loss": 2.0}, unless_setting="absent"
        )  # not held at all
        assert [store.get_trial(study, t).result for t in (0, 1)] == [
            {"loss": 1.0},
            {"loss": 2.0},
        ]

    def test_refused_once_another_store_recorded_it(
        self, store_opener: StoreOpener
    ) -> None:
        worker, other = store_opener(), store_opener()
        worker.create_study("a", {"objective": "m:f", "max_evals": 2})
        worker.insert_trials("a", new_trials(1))
        trial = worker.claim("w", LONG, study="a")
        assert trial is not None
        other.patch_study_settings("a", {"n_constraints": 2}, only_unset=True)
        with pytest.raises(SettingRecordedError) as raised:
            worker.complete(
                "a",
                trial.tid,
                trial.token,
                {"loss": 1.0},
                unless_setting="n_constraints",
            )
        assert (raised.value.key, raised.value.value) == ("n_constraints", 2)
        got = worker.get_trial("a", trial.tid)  # nothing written: still running
        assert (got.state, got.result, got.token) == (S.RUNNING, None, trial.token)
        assert worker.fail("a", trial.tid, trial.token, error_of("InvalidResultError"))
        assert worker.get_trial("a", trial.tid).state is S.ERROR

    def test_a_stale_attempt_gets_false_whatever_the_setting(
        self, store: BaseTrialStore, study: str
    ) -> None:
        store.patch_study_settings(study, {"n_constraints": 1})
        queued(store, study, 1)
        trial = claimed(store, study)
        store.cancel(study)
        assert not store.complete(
            study, trial.tid, trial.token, {"loss": 1.0}, unless_setting="n_constraints"
        )
        assert store.get_trial(study, trial.tid).state is S.CANCELLED

    def test_settings_sqlite_cannot_read_still_refuse(
        self, store: BaseTrialStore
    ) -> None:
        """Settings holding NaN (JSON5 tokens SQLite before 3.42 cannot parse)."""
        store.create_study("n", {"bound": math.inf, "n_constraints": 3})
        store.insert_trials("n", new_trials(1))
        trial = claimed(store, "n")
        with pytest.raises(SettingRecordedError):
            store.complete(
                "n",
                trial.tid,
                trial.token,
                {"loss": 1.0},
                unless_setting="n_constraints",
            )
        store.patch_study_settings("n", {"n_constraints": None})
        assert store.complete(
            "n", trial.tid, trial.token, {"loss": 1.0}, unless_setting="n_constraints"
        )

    @pytest.mark.parametrize(
        "record",
        [
            lambda s: s.patch_study_settings(
                "a", {"n_constraints": 2}, only_unset=True
            ),
            lambda s: s.patch_study_settings("a", {"n_constraints": 2}),
            lambda s: s.update_study_settings(
                "a", {"max_evals": 3, "n_constraints": 2}
            ),
        ],
        ids=["patch_only_unset", "patch", "update"],
    )
    def test_refused_after_claim_with_study_once_recorded_meanwhile(
        self, store_opener: StoreOpener, record: Callable[[BaseTrialStore], Any]
    ) -> None:
        """A worker claims with the study read (``claim_with_study``); a count
        another store records while the trial runs, by any settings write, still
        refuses its result (MongoDB writes it without a read of the study)."""
        worker, other = store_opener(), store_opener()
        worker.create_study("a", {"objective": "m:f", "max_evals": 3})
        worker.insert_trials("a", new_trials(2))
        first = worker.claim_with_study("w", LONG, study="a")
        assert first is not None and first[1].settings.get("n_constraints") is None
        trial = first[0]
        record(other)
        with pytest.raises(SettingRecordedError) as raised:
            worker.complete(
                "a",
                trial.tid,
                trial.token,
                {"loss": 1.0},
                unless_setting="n_constraints",
            )
        assert (raised.value.key, raised.value.value) == ("n_constraints", 2)
        got = worker.get_trial("a", trial.tid)
        assert (got.state, got.result) == (S.RUNNING, None)
        second = worker.claim_with_study("w", LONG, study="a")  # read with the count
        assert second is not None and second[1].settings["n_constraints"] == 2
        with pytest.raises(SettingRecordedError):
            worker.complete(
                "a", second[0].tid, second[0].token, {"loss": 1.0},
                unless_setting="n_constraints",
            )  # fmt: skip

    def test_written_after_claim_with_study_when_other_settings_changed(
        self, store_opener: StoreOpener
    ) -> None:
        """Settings writes that leave the key unset do not refuse the result."""
        worker, other = store_opener(), store_opener()
        worker.create_study("a", {"objective": "m:f"})
        worker.insert_trials("a", new_trials(1))
        claimed_with = worker.claim_with_study("w", LONG, study="a")
        assert claimed_with is not None
        trial = claimed_with[0]
        other.patch_study_settings("a", {"max_evals": 9})
        other.patch_study_settings("a", {"n_objectives": 1}, only_unset=True)
        assert worker.complete(
            "a", trial.tid, trial.token, {"loss": 1.0}, unless_setting="n_constraints"
        )
        assert worker.get_trial("a", trial.tid).result == {"loss": 1.0}

    def test_refused_after_a_take_back_once_recorded_while_requeued(
        self, store_opener: StoreOpener
    ) -> None:
        """An attempt requeued after its lease ran out, the count recorded while
        its trial waited in the queue, and the attempt taken back: refused."""
        worker, other = store_opener(), store_opener()
        worker.create_study("a", {"objective": "m:f"})
        worker.insert_trials("a", new_trials(1))
        claimed_with = worker.claim_with_study("w", SHORT, study="a")
        assert claimed_with is not None
        trial = claimed_with[0]
        time.sleep(EXPIRE)
        assert other.requeue_expired(max_attempts=3, study="a").requeued == [("a", 0)]
        other.patch_study_settings("a", {"n_constraints": 1}, only_unset=True)
        assert worker.reclaim("a", trial.tid, trial.token, "w", LONG)
        with pytest.raises(SettingRecordedError):
            worker.complete(
                "a",
                trial.tid,
                trial.token,
                {"loss": 1.0},
                unless_setting="n_constraints",
            )

    @pytest.mark.parametrize("value", [True, False, 0, 2.5, "x", [1, 2], {"a": 1}])
    def test_the_refusal_carries_the_value_as_stored(
        self, store: BaseTrialStore, study: str, value: Any
    ) -> None:
        """The same value on every store, as :meth:`get_study` reads it. Before,
        SQLite gave json_extract's SQL value: 1 for true, a JSON text for a list
        or an object."""
        store.patch_study_settings(study, {"flag": value})
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(SettingRecordedError) as refused:
            store.complete(
                study, trial.tid, trial.token, {"loss": 1.0}, unless_setting="flag"
            )
        got = refused.value.value
        assert (type(got), got) == (type(value), value)

    @pytest.mark.parametrize("key", ["", "a.b", "$x", "1a", 3])
    def test_a_key_that_is_not_a_setting_name_is_refused(
        self, store: BaseTrialStore, study: str, key: Any
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(ValueError, match="unless_setting"):
            store.complete(
                study, trial.tid, trial.token, {"loss": 1.0}, unless_setting=key
            )
        assert store.get_trial(study, trial.tid).state is S.RUNNING


def error_of(kind: str) -> dict[str, Any]:
    return {"type": kind, "message": f"{kind} happened", "traceback": "Traceback..."}


class TestFail:
    def test_accepted_once(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert store.fail(study, trial.tid, trial.token, error_of("ValueError"))
        assert not store.fail(study, trial.tid, trial.token, error_of("Other"))
        assert not store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        got = store.get_trial(study, trial.tid)
        assert got.state is S.ERROR
        assert got.error == error_of("ValueError")
        assert got.result is None and got.finished_at is not None

    def test_traceback_defaults_to_none(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        store.fail(study, trial.tid, trial.token, {"type": "Timeout", "message": "m"})
        assert store.get_trial(study, trial.tid).error == {
            "type": "Timeout",
            "message": "m",
            "traceback": None,
        }

    @pytest.mark.parametrize(
        "bad", ["boom", {"message": "m"}, {"type": 1, "message": "m"}]
    )
    def test_bad_error(self, store: BaseTrialStore, study: str, bad: Any) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(ValueError, match="error"):
            store.fail(study, trial.tid, trial.token, bad)

    def test_stale_token_is_refused(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert not store.fail(study, trial.tid, trial.token[::-1], error_of("X"))
        assert store.get_trial(study, trial.tid).state is S.RUNNING


class TestRelease:
    def test_hands_the_trial_back_untouched(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        trial = claimed(store, study)
        assert store.release(study, trial.tid, trial.token)
        got = store.get_trial(study, trial.tid)
        assert got.state is S.NEW
        assert got.attempts == 0
        assert got.owner is got.token is got.lease_expires_at is got.started_at is None
        assert claimed(store, study).tid == trial.tid

    def test_old_token_is_refused_afterwards(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert store.release(study, trial.tid, trial.token)
        assert not store.release(study, trial.tid, trial.token)
        assert not store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        assert not store.heartbeat(study, trial.tid, trial.token, LONG)

    def test_release_keeps_earlier_attempts(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        claimed(store, study, lease=SHORT)
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3)
        second = claimed(store, study)
        assert second.attempts == 2
        store.release(study, second.tid, second.token)
        assert store.get_trial(study, second.tid).attempts == 1

    def test_missing_trial(self, store: BaseTrialStore, study: str) -> None:
        with pytest.raises(TrialNotFoundError):
            store.release(study, 0, "t")


# ---- requeue_expired -----------------------------------------------------------------


class TestRequeueExpired:
    def test_expired_attempt_goes_back_to_new(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        dead = claimed(store, study, lease=SHORT)
        live = claimed(store, study, lease=LONG)
        time.sleep(EXPIRE)
        report = store.requeue_expired(max_attempts=3)
        assert report.requeued == [(study, dead.tid)]
        assert report.failed == []
        got = store.get_trial(study, dead.tid)
        assert got.state is S.NEW and got.attempts == 1
        assert got.owner is got.token is got.lease_expires_at is None
        assert store.get_trial(study, live.tid).state is S.RUNNING

    def test_nothing_expired(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        claimed(store, study)
        report = store.requeue_expired(max_attempts=1)
        assert report.requeued == [] and report.failed == []

    def test_attempt_cap_makes_an_error(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        for attempt in (1, 2):
            trial = claimed(store, study, lease=SHORT)
            assert trial.attempts == attempt
            time.sleep(EXPIRE)
            report = store.requeue_expired(max_attempts=2)
        assert report.requeued == []
        assert report.failed == [(study, trial.tid)]
        got = store.get_trial(study, trial.tid)
        assert got.state is S.ERROR
        assert got.error["type"] == LEASE_EXPIRED == "LeaseExpired"
        assert "max_attempts=2" in got.error["message"]
        assert got.error["traceback"] is None
        assert got.finished_at is not None
        assert store.claim("w1", LONG, study=study) is None
        assert not store.complete(study, trial.tid, trial.token, {"loss": 1.0})

    def test_only_the_given_study(self, store: BaseTrialStore, study: str) -> None:
        store.create_study("other", {})
        queued(store, study, 1)
        store.insert_trials("other", new_trials(1))
        claimed(store, study, lease=SHORT)
        claimed(store, "other", lease=SHORT)
        time.sleep(EXPIRE)
        assert store.requeue_expired(max_attempts=3, study="other").requeued == [
            ("other", 0)
        ]
        assert store.get_trial(study, 0).state is S.RUNNING
        assert store.requeue_expired(max_attempts=3).requeued == [(study, 0)]

    def test_requeue_is_a_change(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        claimed(store, study, lease=SHORT)
        _, cursor = store.changes_since(study)
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3)
        changes, _ = store.changes_since(study, cursor)
        assert [(t.tid, t.state) for t in changes] == [(0, S.NEW)]

    @pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
    def test_bad_max_attempts(self, store: BaseTrialStore, bad: Any) -> None:
        with pytest.raises(ValueError, match="max_attempts"):
            store.requeue_expired(max_attempts=bad)

    def test_missing_study(self, store: BaseTrialStore) -> None:
        with pytest.raises(StudyNotFoundError):
            store.requeue_expired(max_attempts=1, study="nope")


# ---- a late result: reclaim ----------------------------------------------------------


def expired_and_requeued(
    store: BaseTrialStore, study: str, n: int = 1, max_attempts: int = 3
) -> list[Trial]:
    """Queue ``n`` trials, claim them all with a short lease, let the leases run out
    and requeue them: the expired attempts."""
    queued(store, study, n)
    late = [claimed(store, study, lease=SHORT) for _ in range(n)]
    time.sleep(EXPIRE)
    report = store.requeue_expired(max_attempts=max_attempts, study=study)
    assert report.requeued == [(study, t.tid) for t in late]
    return late


class TestLateResult:
    """A worker whose lease ran out (a store it could not reach, a paused machine)
    finishes its trial late. Its result counts if no other attempt took the trial
    meanwhile (the same attempt, nothing else happened: nothing is counted twice and
    a rerun is saved), and is refused once another attempt claimed it."""

    def test_before_any_requeue_the_result_counts(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        late = claimed(store, study, lease=SHORT)
        time.sleep(EXPIRE)  # expired, but nobody requeued it yet
        assert store.complete(study, late.tid, late.token, {"loss": 1.0})
        assert store.requeue_expired(max_attempts=3, study=study).requeued == []
        got = store.get_trial(study, late.tid)
        assert (got.state, got.result, got.attempts) == (S.DONE, {"loss": 1.0}, 1)

    def test_requeued_and_not_claimed_since_the_same_attempt_takes_it_back(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        late = claimed(store, study, lease=SHORT)
        assert store.report(study, late.tid, late.token, 0, 4.0)
        assert store.put_attachments(study, late.tid, late.token, {"log": b"x"})
        time.sleep(EXPIRE)
        assert store.requeue_expired(max_attempts=3, study=study).requeued == [
            (study, late.tid)
        ]
        assert not store.complete(study, late.tid, late.token, {"loss": 1.0})
        queued_now = store.get_trial(study, late.tid)
        assert queued_now.state is S.NEW and queued_now.intermediate == {}
        assert queued_now.owner is queued_now.token is queued_now.started_at is None
        before = store.now()
        assert store.reclaim(study, late.tid, late.token, "w1-again", LONG)
        got = store.get_trial(study, late.tid)
        assert (got.state, got.token, got.owner) == (S.RUNNING, late.token, "w1-again")
        assert (got.attempts, got.started_at) == (1, late.started_at)  # the same one
        assert got.lease_expires_at >= before + LONG - CLOCK_ERROR
        assert got.intermediate == {0: 4.0}  # its reports and attachments count again
        assert store.get_attachments(study, late.tid) == {"log": b"x"}
        assert store.running_intermediate(study) == {late.tid: {0: 4.0}}
        assert store.complete(study, late.tid, late.token, {"loss": 1.0})
        assert store.get_trial(study, late.tid).result == {"loss": 1.0}
        assert not store.reclaim(study, late.tid, late.token, "w1", LONG)  # finished
        assert store.claim("w2", LONG, study=study) is None  # it runs once

    def test_claimed_by_another_attempt_the_late_one_is_refused(
        self, store: BaseTrialStore, study: str
    ) -> None:
        (late,) = expired_and_requeued(store, study)
        other = claimed(store, study, lease=SHORT)
        assert other.tid == late.tid and other.attempts == 2
        assert not store.reclaim(study, late.tid, late.token, "w1", LONG)
        assert not store.complete(study, late.tid, late.token, {"loss": 1.0})
        time.sleep(EXPIRE)  # the other attempt's lease runs out too: only it may
        store.requeue_expired(max_attempts=3, study=study)  # take the trial back
        assert not store.reclaim(study, late.tid, late.token, "w1", LONG)
        assert store.reclaim(study, other.tid, other.token, "w2", LONG)
        assert store.complete(study, other.tid, other.token, {"loss": 2.0})
        got = store.get_trial(study, late.tid)
        assert (got.result, got.attempts) == ({"loss": 2.0}, 2)

    def test_cancelled_the_attempt_is_over(
        self, store: BaseTrialStore, study: str
    ) -> None:
        (late,) = expired_and_requeued(store, study)
        assert store.cancel(study, [late.tid]) == 1
        assert not store.reclaim(study, late.tid, late.token, "w1", LONG)
        got = store.get_trial(study, late.tid)
        assert got.state is S.CANCELLED
        assert got.started_at is None  # cancelled while queued: no attempt ran it

    def test_claimed_and_handed_back_the_attempt_is_over(
        self, store: BaseTrialStore, study: str
    ) -> None:
        (late,) = expired_and_requeued(store, study)
        again = claimed(store, study)
        assert store.release(study, again.tid, again.token)
        assert not store.reclaim(study, late.tid, late.token, "w1", LONG)
        assert not store.reclaim(study, again.tid, again.token, "w1", LONG)
        assert store.get_trial(study, late.tid).state is S.NEW

    def test_quarantined_after_its_last_attempt_the_attempt_is_over(
        self, store: BaseTrialStore, study: str
    ) -> None:
        expired_and_requeued(store, study, max_attempts=2)
        last = claimed(store, study, lease=SHORT)
        time.sleep(EXPIRE)
        report = store.requeue_expired(max_attempts=2, study=study)
        assert report.failed == [(study, last.tid)]
        assert not store.reclaim(study, last.tid, last.token, "w1", LONG)
        assert not store.complete(study, last.tid, last.token, {"loss": 1.0})
        assert store.get_trial(study, last.tid).state is S.ERROR

    def test_only_a_requeued_attempt_of_that_trial_takes_it_back(
        self, store: BaseTrialStore, study: str
    ) -> None:
        first, second = expired_and_requeued(store, study, 2)
        assert not store.reclaim(study, first.tid, second.token, "w1", LONG)
        assert not store.reclaim(study, first.tid, "0" * 32, "w1", LONG)
        running = claimed(store, study)  # running, never requeued: nothing to take
        assert not store.reclaim(study, running.tid, running.token, "w1", LONG)
        assert store.get_trial(study, running.tid).lease_expires_at == (
            running.lease_expires_at
        )

    def test_reclaim_is_a_change(self, store: BaseTrialStore, study: str) -> None:
        (late,) = expired_and_requeued(store, study)
        _, cursor = store.changes_since(study)
        assert store.reclaim(study, late.tid, late.token, "w1", LONG)
        changes, _ = store.changes_since(study, cursor)
        assert [(t.tid, t.state, t.token) for t in changes] == [
            (late.tid, S.RUNNING, late.token)
        ]

    def test_a_reclaim_and_a_claim_racing_never_both_win(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        late = expired_and_requeued(store, study, 30)
        claimer, reclaimer = store_opener(), store_opener()
        claims: list[Trial] = []
        reclaimed: list[int] = []

        def claim_all() -> None:
            while (trial := claimer.claim("w2", LONG, study=study)) is not None:
                claims.append(trial)

        def reclaim_all() -> None:
            for t in late:
                if reclaimer.reclaim(study, t.tid, t.token, "w1", LONG):
                    reclaimed.append(t.tid)

        run_threads([claim_all, reclaim_all])
        claimed_tids = [t.tid for t in claims]
        assert sorted(claimed_tids + reclaimed) == [t.tid for t in late]
        tokens = {t.tid: t.token for t in late} | {t.tid: t.token for t in claims}
        for got in store.get_trials(study):
            assert (got.state, got.token) == (S.RUNNING, tokens[got.tid])
            assert got.attempts == (2 if got.tid in claimed_tids else 1)

    def test_bad_arguments(self, store: BaseTrialStore, study: str) -> None:
        (late,) = expired_and_requeued(store, study)
        with pytest.raises(ValueError, match="lease_seconds"):
            store.reclaim(study, late.tid, late.token, "w1", 0)
        with pytest.raises(ValueError, match="owner"):
            store.reclaim(study, late.tid, late.token, "", LONG)
        with pytest.raises(TrialNotFoundError):
            store.reclaim(study, 9, late.token, "w1", LONG)
        with pytest.raises(StudyNotFoundError):
            store.reclaim("nope", 0, late.token, "w1", LONG)
        assert store.get_trial(study, late.tid).state is S.NEW


# ---- cancel --------------------------------------------------------------------------


class TestCancel:
    def test_cancels_new_and_running(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 4)
        done = claimed(store, study)
        store.complete(study, done.tid, done.token, {"loss": 1.0})
        running = claimed(store, study)
        assert store.cancel(study) == 3
        counts = store.count_by_state(study)
        assert counts[S.CANCELLED] == 3 and counts[S.DONE] == 1
        got = store.get_trial(study, running.tid)
        assert got.state is S.CANCELLED and got.finished_at is not None
        assert store.claim("w1", LONG, study=study) is None
        assert store.cancel(study) == 0

    def test_cancels_only_the_given_tids(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 4)
        assert store.cancel(study, [1, 3, 99]) == 2
        states = [t.state for t in store.get_trials(study)]
        assert states == [S.NEW, S.CANCELLED, S.NEW, S.CANCELLED]
        assert store.cancel(study, []) == 0

    def test_records_why_as_the_error(self, store: BaseTrialStore, study: str) -> None:
        """``error=`` says why (what `hpo-driver trials` shows); without it a
        cancelled trial has no error."""
        queued(store, study, 3)
        running = claimed(store, study)
        why = {"type": "BudgetSpent", "message": "beyond max_evals=10"}
        assert store.cancel(study, [running.tid, 1], error=why) == 2
        store.cancel(study, [2])
        got = store.get_trials(study)
        assert [t.state for t in got] == [S.CANCELLED] * 3
        assert [t.error for t in got] == [{**why, "traceback": None}] * 2 + [None]
        assert not store.complete(study, running.tid, running.token, {"loss": 1.0})
        with pytest.raises(ValueError, match="error"):
            store.cancel(study, error={"type": "X"})

    def test_queued_only_leaves_a_trial_claimed_meanwhile_running(
        self, store: BaseTrialStore, study: str
    ) -> None:
        """A driver drops its queue from a view read earlier: a trial a worker
        claimed since then runs on and its result counts (a stop rule's drain)."""
        queued(store, study, 3)
        running = claimed(store, study)  # read as queued, claimed before the cancel
        why = {"type": "Stopped", "message": "early stop"}
        assert store.cancel(study, [0, 1], error=why, queued_only=True) == 1
        assert store.cancel(study, queued_only=True) == 1
        states = [t.state for t in store.get_trials(study)]
        assert states == [S.RUNNING, S.CANCELLED, S.CANCELLED]
        assert store.get_trial(study, 1).error == {**why, "traceback": None}
        assert store.heartbeat(study, running.tid, running.token, LONG)
        assert store.complete(study, running.tid, running.token, {"loss": 1.0})
        assert store.get_trial(study, running.tid).state is S.DONE
        assert store.cancel(study, [0], queued_only=True) == 0

    def test_other_studies_untouched(self, store: BaseTrialStore, study: str) -> None:
        store.create_study("other", {})
        store.insert_trials("other", new_trials(2))
        queued(store, study, 1)
        store.cancel(study)
        assert store.count_by_state("other")[S.NEW] == 2

    def test_missing_study(self, store: BaseTrialStore) -> None:
        with pytest.raises(StudyNotFoundError):
            store.cancel("nope")

    def test_bad_tids(self, store: BaseTrialStore, study: str) -> None:
        with pytest.raises(ValueError, match="tid"):
            store.cancel(study, [-1])


# ---- reads ---------------------------------------------------------------------------


class TestReads:
    def test_get_trials_by_tid_and_state(
        self, store: BaseTrialStore, study: str
    ) -> None:
        a, b = _running_and_done(store, study, 4)
        assert [t.tid for t in store.get_trials(study)] == [0, 1, 2, 3]
        assert [t.tid for t in store.get_trials(study, [S.NEW])] == [2, 3]
        assert [t.tid for t in store.get_trials(study, [S.DONE, S.RUNNING])] == [
            a.tid,
            b.tid,
        ]
        assert store.get_trials(study, ["done"]) == store.get_trials(study, [S.DONE])
        assert store.get_trials(study, []) == []
        by_tids = {  # a window of tids (hpo-driver trials), beyond the study too
            (1, 2): range(1, 3), (2, 3): range(2, 9), (0, 2): [2, 0, 2],
            (3,): [3, 5, 4], (): range(7, 9),
        }  # fmt: skip
        for want, tids in by_tids.items():
            assert tuple(t.tid for t in store.get_trials(study, tids=tids)) == want
        assert [t.tid for t in store.get_trials(study, [S.NEW], tids=range(3))] == [2]
        assert store.get_trials(study, tids=[]) == []  # no tids: none, not all
        assert [t.tid for t in store.get_trials(study, tids={3, 1})] == [1, 3]
        with pytest.raises(ValueError, match=r"`tid` must be an int >= 0.*tid=-1"):
            store.get_trials(study, tids=[1, -1])

    def test_running_trials_name_who_runs_them(
        self, store: BaseTrialStore, study: str
    ) -> None:
        first, _ = _running_and_done(store, study, 4)
        last = claimed(store, study)
        running = store.get_trials(study, [S.RUNNING])
        assert [t.tid for t in running] == [first.tid, last.tid]
        assert store.running_trials(study) == [RunningTrial.of(t) for t in running]
        with pytest.raises(StudyNotFoundError):
            store.running_trials("missing")

    def test_running_by_study_lists_every_studys_running_trials(
        self, store: BaseTrialStore, study: str
    ) -> None:
        assert store.running_by_study() == {}
        first, _ = _running_and_done(store, study, 4)
        for name in ("b-idle", "a-busy"):
            store.create_study(name, {})
            store.insert_trials(name, new_trials(3))
        busy = [store.claim(f"w{i}", LONG, study="a-busy") for i in range(2)]
        store.complete("a-busy", busy[0].tid, busy[0].token, {"loss": 1.0})
        claimed(store, study)
        got = store.running_by_study()
        assert got == {
            name: store.running_trials(name) for name in ("a-busy", study)
        }  # b-idle runs nothing: left out
        assert [t.tid for t in got[study]] == [first.tid, 2]
        assert [(t.tid, t.owner) for t in got["a-busy"]] == [(1, "w1")]

    def test_running_by_study_reads_only_what_a_worker_may_requeue(
        self, store: BaseTrialStore, study: str
    ) -> None:
        """An idle worker's read: leases expired by the store's clock, and trials
        owned by processes of its namespace (which it may find dead); not those of
        live leases elsewhere, nor other studies' with ``study``."""
        ours, theirs = "0123456789ab", "ba9876543210"
        owners = {
            "ours": f"n/host:11:aaaa/{ours}-1f",  # kept
            "theirs": f"host:12:bbbb/{theirs}-2e",
            "plain": "host:13:cccc",  # no namespace (not Linux)
            "lookalike": f"host:14:dddd/{ours}-1f/x",  # not at the end
            "late": f"host:15:eeee/{theirs}-3d",  # kept: expired
        }
        store.create_study("other", {})
        for name in (study, "other"):
            queued(store, name, len(owners))
            for who, owner in owners.items():
                lease = SHORT if who == "late" else LONG
                assert store.claim(owner, lease, study=name) is not None
        time.sleep(EXPIRE)
        every = store.running_by_study()
        expected = {
            name: [
                t for t in every[name] if t.owner in (owners["ours"], owners["late"])
            ]
            for name in (study, "other")
        }
        assert [len(trials) for trials in expected.values()] == [2, 2]
        got = store.running_by_study(only_requeuable=True, namespace=ours)
        assert got == expected
        mine = store.running_by_study(study=study, only_requeuable=True, namespace=ours)
        assert mine == {study: expected[study]}
        late = store.running_by_study(only_requeuable=True)  # no namespace
        assert {n: [t.owner for t in ts] for n, ts in late.items()} == {
            name: [owners["late"]] for name in (study, "other")
        }
        assert store.running_by_study(study=study) == {study: every[study]}
        assert store.running_by_study(study="missing", only_requeuable=True) == {}

    def test_get_tids_reads_the_tids_of_trials_in_states(
        self, store: BaseTrialStore, study: str
    ) -> None:
        a, b = _running_and_done(store, study, 5)
        store.cancel(study, [3])
        assert store.get_tids(study, [S.NEW]) == [2, 4]
        assert store.get_tids(study, [S.DONE, S.RUNNING]) == [a.tid, b.tid]
        assert store.get_tids(study, ["cancelled"]) == [3]
        assert store.get_tids(study, []) == []
        for states in ([S.NEW], [S.DONE, S.CANCELLED], list(S)):
            whole = [t.tid for t in store.get_trials(study, states)]
            assert store.get_tids(study, states) == whole
        with pytest.raises(StudyNotFoundError):
            store.get_tids("nope", [S.NEW])
        with pytest.raises(ValueError, match="states"):
            store.get_tids(study, ["finished"])  # type: ignore[list-item]

    def test_get_trials_of_missing_study(self, store: BaseTrialStore) -> None:
        with pytest.raises(StudyNotFoundError):
            store.get_trials("nope")

    def test_bad_state(self, store: BaseTrialStore, study: str) -> None:
        with pytest.raises(ValueError, match="states"):
            store.get_trials(study, ["finished"])  # type: ignore[list-item]

    def test_get_missing_trial(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        with pytest.raises(TrialNotFoundError, match="1") as info:
            store.get_trial(study, 1)
        assert isinstance(info.value, KeyError)
        with pytest.raises(StudyNotFoundError):
            store.get_trial("nope", 0)
        with pytest.raises(ValueError, match="tid"):
            store.get_trial(study, -1)

    def test_count_by_state(self, store: BaseTrialStore, study: str) -> None:
        assert store.count_by_state(study) == dict.fromkeys(S, 0)
        queued(store, study, 6)
        for finish in ("complete", "fail", "prune", None):
            trial = claimed(store, study)
            if finish == "complete":
                store.complete(study, trial.tid, trial.token, {"loss": 1.0})
            elif finish == "fail":
                store.fail(study, trial.tid, trial.token, error_of("X"))
            elif finish == "prune":
                store.prune(study, trial.tid, trial.token, {"status": "pruned"})
        store.cancel(study, [5])
        assert store.count_by_state(study) == {
            S.NEW: 1,
            S.RUNNING: 1,
            S.DONE: 1,
            S.ERROR: 1,
            S.CANCELLED: 1,
            S.PRUNED: 1,
        }

    def test_count_of_missing_study(self, store: BaseTrialStore) -> None:
        with pytest.raises(StudyNotFoundError):
            store.count_by_state("nope")


# ---- changes_since -------------------------------------------------------------------


def states_of(changes: list[Trial]) -> dict[int, TrialState]:
    return {t.tid: t.state for t in changes}


class TestChangesSince:
    def test_zero_returns_everything(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 3)
        changes, cursor = store.changes_since(study)
        assert sorted(t.tid for t in changes) == [0, 1, 2]
        assert cursor > 0

    def test_empty_study(self, store: BaseTrialStore, study: str) -> None:
        assert store.changes_since(study) == ([], 0)

    def test_only_later_writes_each_once_in_latest_state(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 3)
        _, cursor = store.changes_since(study)
        assert store.changes_since(study, cursor) == ([], cursor)
        trial = claimed(store, study)
        store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        queued(store, study, 1)
        changes, next_cursor = store.changes_since(study, cursor)
        assert sorted(t.tid for t in changes) == [0, 3]
        assert states_of(changes) == {0: S.DONE, 3: S.NEW}
        assert next_cursor > cursor
        assert next(t for t in changes if t.tid == 0).result == {"loss": 1.0}
        assert store.changes_since(study, next_cursor) == ([], next_cursor)

    def test_every_kind_of_write_is_a_change(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 4)
        _, cursor = store.changes_since(study)
        trials = [claimed(store, study, lease=SHORT) for _ in range(3)]
        store.complete(study, trials[0].tid, trials[0].token, {"loss": 1.0})
        store.fail(study, trials[1].tid, trials[1].token, error_of("X"))
        store.release(study, trials[2].tid, trials[2].token)
        store.cancel(study, [3])
        changes, _ = store.changes_since(study, cursor)
        assert states_of(changes) == {0: S.DONE, 1: S.ERROR, 2: S.NEW, 3: S.CANCELLED}

    def test_versions_increase_with_each_write(
        self, store: BaseTrialStore, study: str
    ) -> None:
        """As seen once a reader asked: MongoDB numbers writes in changes_since."""

        def version_after_a_read(tid: int) -> int:
            store.changes_since(study)
            return store.get_trial(study, tid).version

        queued(store, study, 2)
        v0 = version_after_a_read(0)
        trial = claimed(store, study)
        v1 = version_after_a_read(0)
        assert v1 > v0
        store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        assert version_after_a_read(0) > v1
        assert version_after_a_read(1) == v0

    def test_own_writes_are_in_the_next_answer_while_others_read(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        """Read your writes: a trial inserted (or finished) before the call is in it,
        though another reader (a worker's pruner) read the feed in between. MongoDB's
        interleaved case is in tests/store/test_mongo_wire.py."""
        other = store_opener()
        queued(store, study, 1)
        _, cursor = store.changes_since(study)
        tids = store.insert_trials(study, new_trials(2))
        other.changes_since(study)
        trial = claimed(other, study)
        other.complete(study, trial.tid, trial.token, {"loss": 1.0})
        other.changes_since(study)
        changes, _ = store.changes_since(study, cursor)
        assert states_of(changes) == {0: S.DONE, tids[0]: S.NEW, tids[1]: S.NEW}

    def test_studies_are_independent(self, store: BaseTrialStore, study: str) -> None:
        store.create_study("other", {})
        queued(store, study, 1)
        _, cursor = store.changes_since(study)
        store.insert_trials("other", new_trials(2))
        assert store.changes_since(study, cursor) == ([], cursor)

    def test_bad_cursor_and_missing_study(
        self, store: BaseTrialStore, study: str
    ) -> None:
        with pytest.raises(ValueError, match="cursor"):
            store.changes_since(study, -1)
        with pytest.raises(StudyNotFoundError):
            store.changes_since("nope")

    def test_mirror_follows_concurrent_writers(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        """A reader polling while writers work ends with every trial's final state."""
        queued(store, study, 40)
        mirror: dict[int, TrialState] = {}
        cursor = 0
        writers = [store_opener() for _ in range(3)]

        def work(s: BaseTrialStore) -> None:
            while (trial := s.claim("w", LONG, study=study)) is not None:
                if trial.tid % 3 == 0:
                    s.insert_trials(study, new_trials(1))
                s.complete(study, trial.tid, trial.token, {"loss": float(trial.tid)})

        def read() -> None:
            nonlocal cursor
            changes, cursor = store.changes_since(study, cursor)
            mirror.update(states_of(changes))

        threads = [threading.Thread(target=work, args=(s,)) for s in writers]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            read()
        for thread in threads:
            thread.join()
        read()
        assert mirror == states_of(store.get_trials(study))
        assert set(mirror.values()) == {S.DONE}


# ---- values --------------------------------------------------------------------------


class TestJsonValues:
    def test_nested_values_round_trip(self, store: BaseTrialStore, study: str) -> None:
        params = {"model.lr": 0.01, "$depth": 3, "50%": True, "choice": 2}
        config = {
            "model": {"lr": 0.01, "layers": [{"units": 64}, {"units": None}]},
            "name": "résumé ✓",
            "flags": [True, False],
            "big": 2**53 + 1,
        }
        store.insert_trials(study, [NewTrial(params, config)])
        trial = claimed(store, study)
        assert trial.params == params and trial.config == config
        result = {"loss": -1e-300, "status": "ok", "extra": {"a.b": [1, {"$c": "d"}]}}
        store.complete(study, trial.tid, trial.token, result)
        assert store.get_trial(study, trial.tid).result == result

    def test_non_finite_floats_round_trip(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        result = {"loss": math.nan, "upper": math.inf, "lower": -math.inf}
        store.complete(study, trial.tid, trial.token, result)
        got = store.get_trial(study, trial.tid).result
        assert math.isnan(got["loss"])
        assert got["upper"] == math.inf and got["lower"] == -math.inf

    def test_json_semantics(self, store: BaseTrialStore, study: str) -> None:
        store.insert_trials(study, [NewTrial({"x": 1}, {"t": (1, 2), 3: "three"})])
        assert store.get_trial(study, 0).config == {"t": [1, 2], "3": "three"}

    def test_non_json_values_are_refused(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(ValueError, match="result"):
            store.complete(study, trial.tid, trial.token, {"model": object()})
        with pytest.raises(ValueError, match="settings"):
            store.create_study("b", {"f": print})

    def test_integers_beyond_64_bits_are_refused_naming_the_field(
        self, store: BaseTrialStore, study: str
    ) -> None:
        """One rule on every backend: SQLite kept a result's 2**70 (JSON can)
        where MongoDB refused it ("integers stored in MongoDB must fit in 64
        bits", naming no field), so a worker's trial was done on one store and
        an error on the other. The limits themselves are stored."""
        queued(store, study, 1)
        trial = claimed(store, study)
        edges = {"loss": 1.0, "low": -(2**63), "high": 2**63 - 1, "id": "9" * 30}
        big = {**edges, "sizes": {"n": [3, 2**70]}}
        said = (
            "`result['sizes']['n'][1]` must be an integer from -2**63 to 2**63 - 1 "
            "(64 bits: what every store holds), but got "
            "result['sizes']['n'][1]=1180591620717411303424"
        )
        with pytest.raises(UnstorableError) as refused:
            store.complete(study, trial.tid, trial.token, big)
        assert str(refused.value) == said
        assert store.get_trial(study, trial.tid).state == S.RUNNING  # not written
        with pytest.raises(UnstorableError, match=r"`error\['n'\]` must be"):
            store.fail(study, trial.tid, trial.token, {"type": "E", "message": "m",
                                                       "n": -(2**64)})  # fmt: skip
        with pytest.raises(UnstorableError, match=r"`params\['x'\]` must be"):
            store.insert_trials(study, [NewTrial({"x": 2**64}, {})])
        with pytest.raises(UnstorableError, match=r"`config\['x'\]` must be"):
            store.insert_finished(study, [FinishedTrial({"x": 1}, {"x": 2**63},
                                                        {"loss": 1.0})])  # fmt: skip
        store.complete(study, trial.tid, trial.token, edges)
        assert store.get_trial(study, trial.tid).result == edges


# ---- lifecycle -----------------------------------------------------------------------


class TestLifecycle:
    def test_now_is_a_sane_clock(self, store: BaseTrialStore) -> None:
        first = store.now()
        assert abs(first - time.time()) < 60
        assert store.now() >= first

    def test_closed_store_refuses_every_call(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        store.close()
        store.close()  # idempotent
        calls = [
            lambda: store.get_study(study),
            lambda: store.list_studies(),
            lambda: store.insert_trials(study, new_trials(1)),
            lambda: store.claim("w", LONG),
            lambda: store.get_trials(study),
            lambda: store.changes_since(study),
            lambda: store.count_by_state(study),
        ]
        for call in calls:
            with pytest.raises(StoreError, match="close"):
                call()

    def test_data_outlives_the_store_object(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        trial = claimed(store, study)
        with store_opener() as other:
            assert other.get_trial(study, trial.tid) == trial
            assert other.complete(study, trial.tid, trial.token, {"loss": 3.0})
        assert store.get_trial(study, trial.tid).state is S.DONE

    def test_opening_without_create_serves_an_existing_store(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        """What read commands and workers open: ``create=False`` (writes nothing)."""
        queued(store, study, 1)
        with store_opener(create=False) as other:
            assert [s.name for s in other.list_studies()] == [study]
            trial = claimed(other, study)
            assert other.complete(study, trial.tid, trial.token, {"loss": 1.0})
        assert store.get_trial(study, trial.tid).state is S.DONE


# ---- intermediate values and pruning -------------------------------------------------

PRUNED_RESULT = {"status": "pruned", "loss": 0.5, "step": 2}


class TestReport:
    def test_reports_show_in_every_read(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        trial = claimed(store, study)
        for step, value in [(0, 3.0), (1, 2.0), (5, -1e308), (7, 1e308)]:
            assert store.report(study, trial.tid, trial.token, step, value)
        expected = {0: 3.0, 1: 2.0, 5: -1e308, 7: 1e308}
        assert store.get_trial(study, trial.tid).intermediate == expected
        by_tid = {t.tid: t.intermediate for t in store.get_trials(study)}
        assert by_tid == {trial.tid: expected, 1: {}}
        changes, _ = store.changes_since(study)
        assert {t.tid: t.intermediate for t in changes} == by_tid
        assert all(isinstance(k, int) for k in by_tid[trial.tid])

    def test_same_step_again_replaces_the_value(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert store.report(study, trial.tid, trial.token, 3, 1.0)
        assert store.report(study, trial.tid, trial.token, 3, 0.25)
        assert store.get_trial(study, trial.tid).intermediate == {3: 0.25}

    def test_integer_values_and_numpy_numbers(
        self, store: BaseTrialStore, study: str
    ) -> None:
        import numpy as np

        queued(store, study, 1)
        trial = claimed(store, study)
        assert store.report(study, trial.tid, trial.token, np.int64(2), np.float32(1.5))
        assert store.report(study, trial.tid, trial.token, 4, 2)
        got = store.get_trial(study, trial.tid).intermediate
        assert got == {2: 1.5, 4: 2.0}
        assert all(type(v) is float for v in got.values())

    def test_stale_queued_and_finished_attempts_are_refused(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        trial = claimed(store, study)
        assert not store.report(study, trial.tid, "not-the-token", 0, 1.0)
        assert not store.report(study, 1, "any", 0, 1.0)  # still queued
        store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        assert not store.report(study, trial.tid, trial.token, 1, 1.0)
        assert store.get_trial(study, trial.tid).intermediate == {}
        assert store.get_trial(study, 1).intermediate == {}

    def test_cancelled_attempt_keeps_its_reports_and_refuses_more(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert store.report(study, trial.tid, trial.token, 0, 4.0)
        store.cancel(study, [trial.tid])
        assert not store.report(study, trial.tid, trial.token, 1, 3.0)
        assert store.get_trial(study, trial.tid).intermediate == {0: 4.0}

    def test_requeued_trial_starts_its_reports_afresh(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        first = claimed(store, study, lease=SHORT)
        for step in range(3):
            assert store.report(study, first.tid, first.token, step, 10.0 - step)
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3, study=study)
        assert store.get_trial(study, first.tid).intermediate == {}
        second = claimed(store, study)
        assert second.tid == first.tid and second.intermediate == {}
        assert store.get_trial(study, first.tid).intermediate == {}
        assert not store.report(study, first.tid, first.token, 3, 1.0)  # late, stale
        assert store.report(study, second.tid, second.token, 1, 5.0)
        assert store.get_trial(study, first.tid).intermediate == {1: 5.0}
        assert store.running_intermediate(study) == {first.tid: {1: 5.0}}

    def test_released_trial_starts_its_reports_afresh(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        first = claimed(store, study)
        assert store.report(study, first.tid, first.token, 0, 1.0)
        assert store.release(study, first.tid, first.token)
        assert store.get_trial(study, first.tid).intermediate == {}
        second = claimed(store, study)
        assert store.get_trial(study, second.tid).intermediate == {}
        assert store.report(study, second.tid, second.token, 2, 2.0)
        assert store.get_trial(study, second.tid).intermediate == {2: 2.0}

    def test_a_report_is_not_a_change(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        _, cursor = store.changes_since(study)
        assert store.report(study, trial.tid, trial.token, 0, 1.0)
        assert store.changes_since(study, cursor) == ([], cursor)

    def test_the_largest_step_is_kept(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert store.report(study, trial.tid, trial.token, 2**63 - 1, 1.0)
        assert store.get_trial(study, trial.tid).intermediate == {2**63 - 1: 1.0}

    @pytest.mark.parametrize("step", [-1, 1.5, "3", None, True, 2**63])
    def test_bad_step(self, store: BaseTrialStore, study: str, step: Any) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(ValueError, match="step"):
            store.report(study, trial.tid, trial.token, step, 1.0)

    @pytest.mark.parametrize(
        "value", [math.nan, math.inf, -math.inf, "1.0", None, False]
    )
    def test_bad_value(self, store: BaseTrialStore, study: str, value: Any) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(ValueError, match="value"):
            store.report(study, trial.tid, trial.token, 0, value)
        assert store.get_trial(study, trial.tid).intermediate == {}

    def test_missing_trial_and_study(self, store: BaseTrialStore, study: str) -> None:
        with pytest.raises(TrialNotFoundError):
            store.report(study, 9, "t", 0, 1.0)
        with pytest.raises(StudyNotFoundError):
            store.report("nope", 0, "t", 0, 1.0)
        with pytest.raises(StudyNotFoundError):
            store.running_intermediate("nope")

    def test_concurrent_reports_all_land(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 4)
        trials = [claimed(store, study) for _ in range(4)]

        def report_all(trial: Trial) -> None:
            with store_opener() as own:
                for step in range(25):
                    assert own.report(study, trial.tid, trial.token, step, step / 2)

        threads = [threading.Thread(target=report_all, args=(t,)) for t in trials]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        expected = {step: step / 2 for step in range(25)}
        assert store.running_intermediate(study) == dict.fromkeys(range(4), expected)

    def test_reporters_reaching_a_rung_at_once_see_each_other(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        """What ASHA needs of a store: a report written by one connection is read by
        every other that reads after it, so of 9 trials reaching rung 1 together
        exactly the best 3 continue (hand-computed: top 1/eta, eta = 3)."""
        from hpo_service.algorithms.pruners import ASHAPruner, TrialProgress

        values = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]
        queued(store, study, len(values))
        trials = [claimed(store, study) for _ in values]
        everyone_reported = threading.Barrier(len(values))
        kept: list[float] = []

        def reach_rung(trial: Trial, value: float) -> None:
            with store_opener() as own:
                assert own.report(study, trial.tid, trial.token, 1, value)
                everyone_reported.wait(timeout=60)
                pruner = ASHAPruner(max_resource=9, reduction_factor=3)
                progress = TrialProgress(trial.tid, {1: value})
                if not pruner.prune(progress, lambda: own.running_intermediate(study)):
                    kept.append(value)

        threads = [
            threading.Thread(target=reach_rung, args=pair)
            for pair in zip(trials, values, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(kept) == [0.1, 0.2, 0.3]


class TestReportMany:
    def test_a_batch_lands_in_one_call(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert store.report(study, trial.tid, trial.token, 0, 5.0)
        batch = [(1, 4.0), (2, 3.0), (2, 2.5), (7, 1e308)]
        assert store.report_many(study, trial.tid, trial.token, batch)
        got = store.get_trial(study, trial.tid).intermediate
        assert got == {0: 5.0, 1: 4.0, 2: 2.5, 7: 1e308}  # a later pair wins

    def test_all_or_nothing(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        bad_batches = (
            [], [(1, 1.0), (2, math.nan)], [(1, -math.inf)], [(1, 1.0), (-1, 1.0)],
            [(1,)], "x",
        )  # fmt: skip
        for bad in bad_batches:
            with pytest.raises(ValueError, match=r"`(values|value|step)`"):
                store.report_many(study, trial.tid, trial.token, bad)  # type: ignore[arg-type]
        assert store.get_trial(study, trial.tid).intermediate == {}

    def test_stale_batch_is_refused(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert not store.report_many(study, trial.tid, "stale", [(0, 1.0), (1, 0.5)])
        assert store.get_trial(study, trial.tid).intermediate == {}


class TestRunningIntermediate:
    def test_only_running_trials_that_reported(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 5)
        trials = [claimed(store, study) for _ in range(4)]
        for trial in trials[:3]:
            store.report(study, trial.tid, trial.token, 1, float(trial.tid))
        store.complete(study, trials[0].tid, trials[0].token, {"loss": 1.0})
        store.prune(study, trials[1].tid, trials[1].token, PRUNED_RESULT)
        assert store.running_intermediate(study) == {trials[2].tid: {1: 2.0}}

    def test_empty_study(self, store: BaseTrialStore, study: str) -> None:
        assert store.running_intermediate(study) == {}

    def test_other_studies_are_not_read(
        self, store: BaseTrialStore, study: str
    ) -> None:
        store.create_study("other", {})
        store.insert_trials("other", new_trials(1))
        other = claimed(store, "other")
        store.report("other", other.tid, other.token, 0, 1.0)
        assert store.running_intermediate(study) == {}


class TestPrune:
    def test_accepted_once_keeping_reports(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        store.report(study, trial.tid, trial.token, 0, 0.9)
        store.report(study, trial.tid, trial.token, 2, 0.5)
        assert store.prune(study, trial.tid, trial.token, PRUNED_RESULT)
        got = store.get_trial(study, trial.tid)
        assert got.state is S.PRUNED and got.state.is_finished()
        assert got.result == PRUNED_RESULT
        assert got.intermediate == {0: 0.9, 2: 0.5}
        assert got.finished_at is not None and got.lease_expires_at is None
        assert not store.prune(study, trial.tid, trial.token, PRUNED_RESULT)
        assert not store.complete(study, trial.tid, trial.token, {"loss": 0.1})
        assert not store.heartbeat(study, trial.tid, trial.token, LONG)
        assert store.cancel(study) == 0
        assert store.get_trial(study, trial.tid).state is S.PRUNED

    def test_stale_queued_and_done_are_refused(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        trial = claimed(store, study)
        assert not store.prune(study, trial.tid, "stale", PRUNED_RESULT)
        assert not store.prune(study, 1, "any", PRUNED_RESULT)
        store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        assert not store.prune(study, trial.tid, trial.token, PRUNED_RESULT)
        assert store.get_trial(study, trial.tid).state is S.DONE

    def test_prune_is_a_change(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        _, cursor = store.changes_since(study)
        store.prune(study, trial.tid, trial.token, PRUNED_RESULT)
        changes, _ = store.changes_since(study, cursor)
        assert states_of(changes) == {trial.tid: S.PRUNED}
        assert store.get_trials(study, [S.PRUNED])[0].tid == trial.tid

    def test_result_must_be_a_dict_and_trial_must_exist(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(ValueError, match="result"):
            store.prune(study, trial.tid, trial.token, [1])  # type: ignore[arg-type]
        with pytest.raises(TrialNotFoundError):
            store.prune(study, 5, "t", PRUNED_RESULT)

    def test_reports_outlive_the_store_object(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        store.report(study, trial.tid, trial.token, 4, 0.75)
        store.prune(study, trial.tid, trial.token, PRUNED_RESULT)
        store.close()
        with store_opener() as other:
            got = other.get_trial(study, trial.tid)
        assert (got.state, got.intermediate) == (S.PRUNED, {4: 0.75})


# ---- attachments -----------------------------------------------------------------

BLOBS = {"model": b"\x00\x01binary\xff", "log": b"line 1\nline 2\n", "empty": b""}


class TestAttachments:
    def test_stored_with_the_attempt_and_read_back_exactly(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        trial = claimed(store, study)
        assert store.put_attachments(study, trial.tid, trial.token, BLOBS)
        assert store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        assert store.get_attachments(study, trial.tid) == BLOBS
        assert store.get_attachments(study, trial.tid, ["log", "nope"]) == {
            "log": BLOBS["log"]
        }
        sizes = {name: len(data) for name, data in BLOBS.items()}
        assert store.attachment_sizes(study, trial.tid) == sizes
        assert store.get_attachments(study, 1) == {}  # a trial without any
        assert store.attachment_sizes(study, 1) == {}

    def test_sizes_of_a_whole_study_count_current_attempts_only(
        self, store: BaseTrialStore, study: str
    ) -> None:
        assert store.study_attachment_sizes(study) == {}  # no trial yet
        queued(store, study, 3)
        first = claimed(store, study)
        assert store.put_attachments(study, first.tid, first.token, BLOBS)
        assert store.complete(study, first.tid, first.token, {"loss": 1.0})
        second = claimed(store, study)
        assert store.put_attachments(study, second.tid, second.token, {"old": b"x"})
        assert store.release(study, second.tid, second.token)  # that attempt is gone
        sizes = {name: len(data) for name, data in BLOBS.items()}
        assert store.study_attachment_sizes(study) == {first.tid: sizes}
        assert store.attachment_sizes(study, second.tid) == {}  # the same rule
        with pytest.raises(StudyNotFoundError):
            store.study_attachment_sizes("missing")

    def test_only_the_current_running_attempt_may_store(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        trial = claimed(store, study)
        assert not store.put_attachments(study, trial.tid, "stale", BLOBS)
        assert not store.put_attachments(study, 1, "any", BLOBS)  # queued
        store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        assert not store.put_attachments(study, trial.tid, trial.token, BLOBS)
        assert store.get_attachments(study, trial.tid) == {}

    def test_an_abandoned_attempts_attachments_are_not_shown(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        first = claimed(store, study, lease=SHORT)
        assert store.put_attachments(study, first.tid, first.token, BLOBS)
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3, study=study)
        assert store.get_attachments(study, first.tid) == {}
        second = claimed(store, study)
        assert store.put_attachments(study, second.tid, second.token, {"new": b"2"})
        assert store.complete(study, second.tid, second.token, {"loss": 0.5})
        assert store.get_attachments(study, second.tid) == {"new": b"2"}

    def test_a_second_put_replaces_the_first(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        store.put_attachments(study, trial.tid, trial.token, BLOBS)
        store.put_attachments(study, trial.tid, trial.token, {"only": b"this"})
        assert store.get_attachments(study, trial.tid) == {"only": b"this"}

    def test_storing_is_not_a_change(self, store: BaseTrialStore, study: str) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        _, cursor = store.changes_since(study)
        store.put_attachments(study, trial.tid, trial.token, BLOBS)
        assert store.changes_since(study, cursor)[0] == []

    @pytest.mark.parametrize(
        ("attachments", "message"),
        [
            ([b"x"], "attachments"),
            ({"": b"x"}, "non-empty strings"),
            ({"a": "text"}, r"attachments\['a'\] must be bytes"),
            ({"a": 1.5}, r"attachments\['a'\] must be bytes"),
            ({"a": bytes(MAX_ATTACHMENT_BYTES), "b": b"1"}, "8 MiB"),
        ],
    )
    def test_bad_or_too_large_attachments_are_refused(
        self, store: BaseTrialStore, study: str, attachments: Any, message: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        with pytest.raises(ValueError, match=message):
            store.put_attachments(study, trial.tid, trial.token, attachments)
        assert store.get_attachments(study, trial.tid) == {}

    def test_the_limit_itself_is_accepted(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        big = {"a": bytes(MAX_ATTACHMENT_BYTES - 3), "b": b"end"}
        assert store.put_attachments(study, trial.tid, trial.token, big)
        assert store.get_attachments(study, trial.tid) == big

    def test_unknown_trial_or_study(self, store: BaseTrialStore, study: str) -> None:
        with pytest.raises(TrialNotFoundError):
            store.get_attachments(study, 7)
        with pytest.raises(TrialNotFoundError):
            store.put_attachments(study, 7, "t", BLOBS)
        with pytest.raises(StudyNotFoundError):
            store.attachment_sizes("missing", 0)

    def test_attachments_outlive_the_store_object(
        self, store_opener: StoreOpener, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        store.put_attachments(study, trial.tid, trial.token, BLOBS)
        store.complete(study, trial.tid, trial.token, {"loss": 1.0})
        store.close()
        with store_opener() as other:
            assert other.get_attachments(study, trial.tid) == BLOBS


# ---- imported (already evaluated) trials ------------------------------------------


def finished_trials(n: int) -> list[FinishedTrial]:
    return [
        FinishedTrial(
            params={"x": float(i)},
            config={"x": float(i)},
            result={"loss": float(i), "status": "ok", "warm_start": "other"},
        )
        for i in range(n)
    ]


class TestInsertFinished:
    def test_inserted_done_never_claimed_and_counted(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        tids = store.insert_finished(study, finished_trials(3))
        assert tids == [1, 2, 3]
        for tid in tids:
            got = store.get_trial(study, tid)
            assert got.state is S.DONE and got.attempts == 0
            assert got.result == {"loss": float(tid - 1), "status": "ok",
                                  "warm_start": "other"}  # fmt: skip
            assert got.finished_at is not None and got.owner is None
        assert claimed(store, study).tid == 0
        assert store.claim("w2", LONG, study=study) is None
        counts = store.count_by_state(study)
        assert (counts[S.DONE], counts[S.RUNNING]) == (3, 1)
        assert queued(store, study, 1) == [4]

    def test_an_import_is_a_change(self, store: BaseTrialStore, study: str) -> None:
        _, cursor = store.changes_since(study)
        store.insert_finished(study, finished_trials(2))
        changes, _ = store.changes_since(study, cursor)
        assert states_of(changes) == {0: S.DONE, 1: S.DONE}

    def test_bad_items_and_unknown_study(
        self, store: BaseTrialStore, study: str
    ) -> None:
        with pytest.raises(ValueError, match="FinishedTrial"):
            store.insert_finished(study, new_trials(1))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="result"):
            store.insert_finished(study, [FinishedTrial({}, {}, [1])])  # type: ignore[arg-type]
        with pytest.raises(StudyNotFoundError):
            store.insert_finished("missing", finished_trials(1))
        assert store.insert_finished(study, []) == []
        assert store.get_trials(study) == []

    def test_every_finished_state_with_its_reports(
        self, store: BaseTrialStore, study: str
    ) -> None:
        pruned = {"status": "pruned", "loss": 0.7, "step": 4, "duration": 1.5}
        error = {"type": "ValueError", "message": "bad x", "traceback": "Tb..."}
        tids = store.insert_finished(study, [
            FinishedTrial({"x": 1.0}, {"x": 1.0}, {"loss": 0.5, "status": "ok"},
                          intermediate={0: 0.9, 2: 0.6}),
            FinishedTrial({"x": 2.0}, {"x": 2.0}, pruned, S.PRUNED,
                          intermediate={0: 1.2, 4: 0.7}),
            FinishedTrial({"x": 3.0}, {"x": 3.0}, None, S.ERROR, error),
            FinishedTrial({"x": 4.0}, {"x": 4.0}, None, S.CANCELLED),
        ])  # fmt: skip
        got = store.get_trials(study)
        assert [t.state for t in got] == [S.DONE, S.PRUNED, S.ERROR, S.CANCELLED]
        assert [t.intermediate for t in got] == [{0: 0.9, 2: 0.6}, {0: 1.2, 4: 0.7},
                                                 {}, {}]  # fmt: skip
        assert got[1].result == pruned and got[2].error == error
        assert got[2].result is None and got[3].error is None
        assert all(t.finished_at is not None and t.attempts == 0 for t in got)
        reports, _ = store.reports_since(study)  # what pruners read
        assert {r.tid: (r.state, r.intermediate) for r in reports} == {
            tids[0]: (S.DONE, {0: 0.9, 2: 0.6}), tids[1]: (S.PRUNED, {0: 1.2, 4: 0.7}),
            tids[2]: (S.ERROR, {}), tids[3]: (S.CANCELLED, {}),
        }  # fmt: skip
        counts = store.count_by_state(study)
        assert [counts[s] for s in (S.DONE, S.PRUNED, S.ERROR, S.CANCELLED)] == [1] * 4
        assert store.best_trial(study).tid == tids[0]  # a pruned loss is no best
        assert store.claim("w", LONG, study=study) is None

    def test_bad_states_errors_and_reports(
        self, store: BaseTrialStore, study: str
    ) -> None:
        ok = {"loss": 1.0, "status": "ok"}
        bad = [
            (FinishedTrial({}, {}, ok, S.RUNNING), "must be done, pruned"),
            (FinishedTrial({}, {}, ok, "over"), "must be done, pruned"),  # type: ignore[arg-type]
            (FinishedTrial({}, {}, None, S.PRUNED), "result"),
            (FinishedTrial({}, {}, None, S.ERROR), "error"),
            (FinishedTrial({}, {}, None, S.ERROR, {"type": "E"}), "message"),
            (FinishedTrial({}, {}, ok, intermediate=[(0, 1.0)]), "intermediate"),  # type: ignore[arg-type]
            (FinishedTrial({}, {}, ok, intermediate={0: math.nan}), "value"),
            (FinishedTrial({}, {}, ok, intermediate={-1: 1.0}), "step"),
        ]
        for trial, message in bad:
            with pytest.raises(ValueError, match=message):
                store.insert_finished(study, [trial])
        assert store.get_trials(study) == []


# ---- the code that ran a trial -----------------------------------------------------

CODE = {"module": "pkg.mod", "sha256": "0f1e2d3c4b5a6978", "version": "1.2.0"}


class TestCodeIdentity:
    def test_every_finishing_write_records_the_code(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 4)
        finishers = [
            lambda t: store.complete(study, t.tid, t.token, {"loss": 1.0}, code=CODE),
            lambda t: store.fail(study, t.tid, t.token, error_of("E"), code=CODE),
            lambda t: store.prune(study, t.tid, t.token, PRUNED_RESULT, code=CODE),
            lambda t: store.complete(study, t.tid, t.token, {"loss": 2.0}),
        ]
        for finish in finishers:
            assert finish(claimed(store, study))
        codes = [t.code for t in store.get_trials(study)]
        assert codes == [CODE, CODE, CODE, None]
        changes, _ = store.changes_since(study)
        assert {t.tid: t.code for t in changes} == dict(enumerate(codes))

    def test_a_refused_write_records_no_code(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert not store.complete(study, trial.tid, "stale", {"loss": 1.0}, code=CODE)
        assert store.get_trial(study, trial.tid).code is None


def spaceless(n: int) -> list[FinishedTrial]:
    """Imported trials without a config (a hyperopt ``Trials``' misc.vals only)."""
    return [
        FinishedTrial(params={"x": float(i)}, config=None,
                      result={"loss": float(i), "status": "ok"})
        for i in range(n)
    ]  # fmt: skip


class TestFillConfigs:
    """Configs given later to trials imported without them (a start's space)."""

    def test_each_finished_trial_without_config_gets_it_once(
        self, store: BaseTrialStore, study: str
    ) -> None:
        tids = store.insert_finished(study, spaceless(3))
        error = FinishedTrial({"x": 9.0}, None, None, S.ERROR,
                              {"type": "E", "message": "m"})  # fmt: skip
        tids += store.insert_finished(study, [error])
        [queued_tid] = queued(store, study, 1)  # has a config: never rewritten
        [unconfigured] = store.insert_trials(study, [NewTrial({"x": 8.0}, None)])
        configs = {t: {"x": float(i), "k": [i, "a.b"]} for i, t in enumerate(tids)}
        wanted = {**configs, queued_tid: {"other": 1}, unconfigured: {"new": 1}}
        assert store.fill_configs(study, {tids[0]: configs[tids[0]]}) == 1
        assert store.fill_configs(study, {**wanted, 99: {"x": 0}}) == 3
        got = {t.tid: t.config for t in store.get_trials(study)}
        assert got == {**configs, queued_tid: {"x": 0.0, "tag": "t0"},
                       unconfigured: None}  # fmt: skip
        assert store.fill_configs(study, {t: {"y": 1} for t in tids}) == 0
        assert store.get_trial(study, tids[1]).config == configs[tids[1]]
        done = store.get_trial(study, tids[0])
        assert (done.state, done.result) == (S.DONE, {"loss": 0.0, "status": "ok"})

    def test_a_filled_config_is_a_change(
        self, store: BaseTrialStore, study: str
    ) -> None:
        tids = store.insert_finished(study, spaceless(2))
        _, cursor = store.changes_since(study)
        store.fill_configs(study, {tids[1]: {"x": 1.0}})
        changes, cursor = store.changes_since(study, cursor)
        assert [(t.tid, t.config) for t in changes] == [(tids[1], {"x": 1.0})]
        assert store.fill_configs(study, {tids[1]: {"x": 2.0}}) == 0
        assert store.changes_since(study, cursor)[0] == []

    def test_params_retyped_with_the_config_once(
        self, store: BaseTrialStore, study: str
    ) -> None:
        """``params=``: the space's types (a ``randint`` 3.0 read from a CSV cell
        becomes 3) are written with the config, in its conditional write."""
        tids = store.insert_finished(study, spaceless(2))
        assert type(store.get_trial(study, tids[1]).params["x"]) is float
        given = {tids[0]: {"x": 0.0}, tids[1]: {"x": 1}}
        assert store.fill_configs(study, given, params={tids[1]: {"x": 1}}) == 2
        trials = {t.tid: t for t in store.get_trials(study)}
        assert type(trials[tids[1]].params["x"]) is int
        assert type(trials[tids[0]].params["x"]) is float  # not given: kept
        assert trials[tids[1]].config == {"x": 1}
        again = store.fill_configs(study, given, params={tids[0]: {"x": 7}})
        assert again == 0 and store.get_trial(study, tids[0]).params == {"x": 0.0}
        with pytest.raises(ValueError, match="tid of `configs`"):
            store.fill_configs(study, {tids[0]: {"x": 0}}, params={tids[1]: {}})
        with pytest.raises(ValueError, match="must be a dict"):
            store.fill_configs(study, {tids[0]: {"x": 0}}, params={tids[0]: 3})

    def test_bad_arguments_and_unknown_study(
        self, store: BaseTrialStore, study: str
    ) -> None:
        [tid] = store.insert_finished(study, spaceless(1))
        with pytest.raises(ValueError, match="not None"):
            store.fill_configs(study, {tid: None})
        with pytest.raises(ValueError, match="tid"):
            store.fill_configs(study, {-1: {"x": 1}})
        with pytest.raises(ValueError, match="JSON"):
            store.fill_configs(study, {tid: {"x": object()}})
        with pytest.raises(StudyNotFoundError):
            store.fill_configs("missing", {0: {"x": 1}})
        assert store.fill_configs(study, {}) == 0
        assert store.get_trial(study, tid).config is None


def varied_study(store: BaseTrialStore, study: str) -> dict[str, int]:
    """Trials of every kind of key an export's header has, by name: labels and
    result keys holding ``.`` and ``$``, a pruned result's ``step`` and a done
    one's, list losses of two lengths, constraints (a list, a value, None), NaN
    and infinities (which SQLite before 3.42 cannot read as JSON)."""
    nan, inf = math.nan, math.inf
    done = [
        ("ok", {"x": 1.0, "a.b": 2}, {"loss": 1.0, "status": "ok", "step": 3}),
        ("fail", {"x": 2.0}, {"status": "fail", "why": "x", "$w": 1}),
        ("pruned", {"x": 3.0}, {"loss": 0.5, "status": "pruned", "step": 4,
                                "note": 1}),
        ("two", {"x": 4.0}, {"loss": [1.0, 2.0], "status": "ok",
                             "constraints": [0.1, -1.0, 2.0]}),
        ("three", {"x": 5.0}, {"loss": [1.0, 2.0, 3.0], "status": "ok",
                               "constraints": 0.5}),
        ("nan", {"x": 6.0}, {"loss": nan, "status": "fail", "inf": inf,
                             "constraints": None}),
        ("ok2", {"x": 7.0, "$c": 1}, {"loss": -inf, "status": "ok",
                                      "constraints": [nan, 1, 2, 3, 4]}),
    ]  # fmt: skip
    trials = [
        FinishedTrial(params, None, result,
                      S.PRUNED if name == "pruned" else S.DONE)
        for name, params, result in done
    ]  # fmt: skip
    trials.append(FinishedTrial({"e": 1.0}, None, None, S.ERROR,
                                {"type": "E", "message": "m"}))  # fmt: skip
    tids = dict(zip([n for n, _, _ in done] + ["error"],
                    store.insert_finished(study, trials), strict=True))  # fmt: skip
    [tids["queued"]] = store.insert_trials(study, [NewTrial({"q": nan}, None)])
    return tids


class TestTrialKeys:
    """The keys the database gathers over a study's trials (an export's header)."""

    def test_every_key_of_every_trial(self, store: BaseTrialStore, study: str) -> None:
        varied_study(store, study)
        assert store.trial_keys(study) == TrialKeys(
            params=("$c", "a.b", "e", "q", "x"),
            result_keys=("$w", "constraints", "inf", "loss", "status", "step",
                         "why"),
            pruned_result_keys=("loss", "note", "status", "step"),
            loss_lengths=(2, 3),
            constraints=5,
        )  # fmt: skip

    def test_an_empty_study_and_an_unknown_one(
        self, store: BaseTrialStore, study: str
    ) -> None:
        assert store.trial_keys(study) == TrialKeys()
        queued(store, study, 1)
        assert store.trial_keys(study) == TrialKeys(params=("x",))
        with pytest.raises(StudyNotFoundError):
            store.trial_keys("missing")


class TestStatusFilter:
    """get_trials(statuses=...): the database chooses the trials by status."""

    def test_only_trials_of_those_statuses(
        self, store: BaseTrialStore, study: str
    ) -> None:
        tids = varied_study(store, study)

        def chosen(*statuses: str, **options: Any) -> list[int]:
            found = store.get_trials(study, statuses=statuses, **options)
            return [t.tid for t in found]

        assert chosen("fail") == [tids["fail"], tids["nan"]]  # NaN: read too
        assert chosen("ok", "pruned") == [
            tids[k] for k in ("ok", "pruned", "two", "three", "ok2")]  # fmt: skip
        assert chosen("ok", states=[S.PRUNED]) == []
        assert chosen("ok", tids=[tids["ok"], tids["ok2"], tids["error"]]) == [
            tids["ok"], tids["ok2"]]  # fmt: skip
        assert chosen("other") == []
        assert len(chosen()) == len(tids)  # none: any trial
        assert store.get_trials(study, statuses=["fail"])[1].result["inf"] == math.inf

    def test_a_bad_filter(self, store: BaseTrialStore, study: str) -> None:
        with pytest.raises(ValueError, match="statuses"):
            store.get_trials(study, statuses="ok")
        with pytest.raises(ValueError, match="statuses"):
            store.get_trials(study, statuses=[1])  # type: ignore[list-item]


EXPORT_FILTERS = [
    ((), ("fail",)),
    (("done",), ()),
    (("done",), ("ok",)),
    (("pruned",), ()),
    (("error", "new"), ()),
    (("cancelled",), ()),
]


class TestExportTrials:
    """export_trials: a filtered export's trials and the keys of the whole study,
    in one pass."""

    @pytest.mark.parametrize(("states", "statuses"), [*EXPORT_FILTERS, ((), ())])
    def test_the_trials_get_trials_chooses_and_the_keys_of_all(
        self, store: BaseTrialStore, study: str, states: tuple[str, ...],
        statuses: tuple[str, ...],
    ) -> None:  # fmt: skip
        varied_study(store, study)
        gone = store.insert_trials(study, [NewTrial({"x": 1.0}, None)])[0]
        store.cancel(study, [gone], error={"type": "Cancelled", "message": "m"})
        wanted = [S(state) for state in states] or None
        items = list(store.export_trials(study, wanted, statuses=statuses))
        keys = [item for item in items if isinstance(item, TrialKeys)]
        assert keys == [store.trial_keys(study)]  # once, over every trial
        assert items.index(keys[0]) in (0, len(items) - 1)  # first or last
        trials = [item for item in items if isinstance(item, Trial)]
        chosen = store.get_trials(study, wanted, statuses=statuses)
        assert trials and len(trials) + 1 == len(items)
        assert list(map(repr, trials)) == list(map(repr, chosen))  # NaN != NaN

    def test_an_unknown_study_and_a_bad_filter_raise_at_the_call(
        self, store: BaseTrialStore, study: str
    ) -> None:
        with pytest.raises(StudyNotFoundError):
            store.export_trials("missing")
        with pytest.raises(ValueError, match="statuses"):
            store.export_trials(study, statuses="ok")
        with pytest.raises(ValueError, match="state"):
            store.export_trials(study, ["finished"])  # type: ignore[list-item]
        assert list(store.export_trials(study)) == [TrialKeys()]  # no trial yet

    def test_trials_created_after_the_call_are_left_out(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 3)
        items = store.export_trials(study)
        store.insert_trials(study, [NewTrial({"late": 1.0}, None)] * 2)
        assert [t.tid for t in items if isinstance(t, Trial)] == [0, 1, 2]


class TestFilteredExport:
    """``hpo-driver trials --csv`` with filters (the store chooses the trials and
    gathers the header's keys) agrees with the whole study's CSV, filtered."""

    @pytest.mark.parametrize(("states", "statuses"), EXPORT_FILTERS)
    def test_the_filtered_csv_is_the_whole_csv_filtered(
        self, store: BaseTrialStore, states: tuple[str, ...],
        statuses: tuple[str, ...],
    ) -> None:  # fmt: skip
        from hpo_service.driver._study import space_settings
        from hpo_service.space import hp

        space = {"x": hp.uniform("x", 0, 9), "kind": hp.choice("kind", ["a", "b"])}
        settings = {"objective": "m:f", "max_evals": 9, **space_settings(space)}
        store.create_study("v", {**settings, "objective_names": ["a", "b"],
                                 "n_objectives": 2})  # fmt: skip
        varied_study(store, "v")
        queued = [NewTrial({"x": 1.0, "kind": k}, None) for k in (0, 1)]
        gone = store.insert_trials("v", queued)[1]
        store.cancel("v", [gone], error={"type": "Cancelled", "message": "m"})
        whole = export_csv(store, "v", (), ())
        wanted = [
            row for row in whole[1:]
            if (not states or row["state"] in states)
            and (not statuses or row["status"] in statuses)
        ]  # fmt: skip
        read: list[int] = []
        export_trials = store.export_trials

        def counted(*args: Any, **kwargs: Any) -> Iterator[Trial | TrialKeys]:
            for item in export_trials(*args, **kwargs):
                read.extend([item.tid] if isinstance(item, Trial) else [])
                yield item

        store.export_trials = counted  # type: ignore[method-assign]
        filtered = export_csv(store, "v", states, statuses)
        assert filtered[0] == whole[0]  # the header of the whole study
        assert filtered[1:] == wanted and wanted
        assert read == [int(row["tid"]) for row in wanted]  # only what it shows


def export_csv(
    store: BaseTrialStore, study: str, states: tuple[str, ...],
    statuses: tuple[str, ...],
) -> list[Any]:  # fmt: skip
    """``hpo-driver trials --csv`` as the CLI makes it: ``[header, *rows]``."""
    import csv
    import io

    from hpo_service._common import trial_rows
    from hpo_service.driver import _listing

    names = trial_rows.objective_names(store, study)
    choices = trial_rows.study_choices(store, study)
    assert choices == {"kind": (trial_rows.Switch(("a", "b"), ((),)),)}
    if states or statuses:
        wanted = [S(state) for state in states] or None
        rows = _listing.filtered_csv_rows(
            store, study, wanted, statuses, names, choices
        )
    else:
        count = len(names) if names else None
        records = (
            trial_rows.trial_record(t, count)
            for t in trial_rows.each_trial(store, study)
        )
        rows = _listing.csv_rows(records, names, choices)
    out = io.StringIO()
    _listing.write_csv(rows, names, out)
    reader = csv.DictReader(io.StringIO(out.getvalue()))
    return [reader.fieldnames, *reader]


class TestReportsSince:
    """What a pruner reads: finished trials' reports, incrementally."""

    def test_finished_trials_with_their_reports_only(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 5)
        trials = [claimed(store, study) for _ in range(4)]
        for trial in trials:
            store.report_many(
                study, trial.tid, trial.token, [(0, 10.0 + trial.tid), (2, trial.tid)]
            )
        store.complete(study, trials[0].tid, trials[0].token, {"loss": 1.0})
        store.prune(study, trials[1].tid, trials[1].token, PRUNED_RESULT)
        store.fail(study, trials[2].tid, trials[2].token, error_of("X"))
        got, _ = store.reports_since(study)  # trial 3 runs, trial 4 is queued
        assert got == [
            TrialReports(0, S.DONE, {0: 10.0, 2: 0.0}),
            TrialReports(1, S.PRUNED, {0: 11.0, 2: 1.0}),
            TrialReports(2, S.ERROR, {0: 12.0, 2: 2.0}),
        ]

    def test_incremental_on_the_change_cursor(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 3)
        first = claimed(store, study)
        store.complete(study, first.tid, first.token, {"loss": 1.0})
        got, cursor = store.reports_since(study)
        assert [r.tid for r in got] == [first.tid]
        assert store.reports_since(study, cursor) == ([], cursor)
        second = claimed(store, study)
        assert store.report(study, second.tid, second.token, 1, 0.5)
        assert store.reports_since(study, cursor)[0] == []  # running: not yet
        store.prune(study, second.tid, second.token, PRUNED_RESULT)
        got, later = store.reports_since(study, cursor)
        assert got == [TrialReports(second.tid, S.PRUNED, {1: 0.5})]
        assert later > cursor
        _, changes_cursor = store.changes_since(study)  # one cursor for both calls
        assert store.reports_since(study, changes_cursor) == ([], changes_cursor)

    def test_only_the_last_attempts_reports(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        first = claimed(store, study, lease=SHORT)
        assert store.report_many(study, first.tid, first.token, [(0, 9.0), (1, 8.0)])
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3, study=study)
        second = claimed(store, study)
        assert second.tid == first.tid
        assert store.report(study, second.tid, second.token, 1, 5.0)
        store.complete(study, second.tid, second.token, {"loss": 5.0})
        store.cancel(study, [1])  # queued: cancelled with no attempt, no reports
        got, _ = store.reports_since(study)
        assert got == [
            TrialReports(first.tid, S.DONE, {1: 5.0}),
            TrialReports(1, S.CANCELLED, {}),
        ]

    def test_bad_cursor_and_missing_study(
        self, store: BaseTrialStore, study: str
    ) -> None:
        assert store.reports_since(study) == ([], 0)
        with pytest.raises(ValueError, match="cursor"):
            store.reports_since(study, -1)
        with pytest.raises(StudyNotFoundError):
            store.reports_since("nope")


class TestLastSteps:
    """What the pruning counts read: state and highest reported step per trial."""

    def test_states_and_highest_steps_queued_left_out(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 6)
        trials = [claimed(store, study) for _ in range(5)]
        steps = {0: [(1, 1.0), (3, 0.5)], 1: [(7, 2.0), (2, 1.0)], 2: [(0, 3.0)]}
        for tid, pairs in steps.items():
            assert store.report_many(study, tid, trials[tid].token, pairs)
        assert store.report(study, 3, trials[3].token, 12, 4.0)
        assert store.report(study, 0, trials[0].token, 3, 0.25)  # a step again
        store.complete(study, 0, trials[0].token, {"loss": 1.0})
        store.prune(study, 1, trials[1].token, PRUNED_RESULT)
        store.fail(study, 2, trials[2].token, error_of("X"))
        store.complete(study, 4, trials[4].token, {"loss": 2.0})  # never reported
        assert store.last_steps(study) == [
            (0, S.DONE, 3), (1, S.PRUNED, 7), (2, S.ERROR, 0), (3, S.RUNNING, 12),
            (4, S.DONE, None),
        ]  # fmt: skip

    def test_agrees_with_the_reports_pruners_read(
        self, store: BaseTrialStore, study: str
    ) -> None:
        pruned = {"status": "pruned", "loss": 0.7, "step": 40}
        store.insert_finished(study, [
            FinishedTrial({}, {}, {"loss": 0.5}, intermediate={0: 0.9, 2**40: 0.6}),
            FinishedTrial({}, {}, pruned, S.PRUNED, intermediate={40: 1.2, 4: 0.7}),
            FinishedTrial({}, {}, None, S.CANCELLED),
        ])  # fmt: skip
        queued(store, study, 2)
        running = claimed(store, study)
        store.report_many(study, running.tid, running.token, [(5, 1.0), (9, 1.0)])
        finished, _ = store.reports_since(study)
        expected = [
            (r.tid, r.state, max(r.intermediate, default=None)) for r in finished
        ]
        expected.append((running.tid, S.RUNNING, 9))
        assert store.last_steps(study) == expected
        assert expected[0][2] == 2**40  # steps past 32 bits

    def test_only_the_current_attempts_reports(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 2)
        first = claimed(store, study, lease=SHORT)
        assert store.report_many(study, first.tid, first.token, [(0, 9.0), (8, 8.0)])
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3, study=study)
        assert store.last_steps(study) == []  # queued again: left out
        second = claimed(store, study)
        assert second.tid == first.tid
        assert store.last_steps(study) == [(first.tid, S.RUNNING, None)]
        assert store.report(study, second.tid, second.token, 2, 5.0)
        store.complete(study, second.tid, second.token, {"loss": 5.0})
        store.cancel(study, [1])  # queued: cancelled with no attempt, no reports
        assert store.last_steps(study) == [(0, S.DONE, 2), (1, S.CANCELLED, None)]

    def test_a_lower_step_later_keeps_the_highest(
        self, store: BaseTrialStore, study: str
    ) -> None:
        queued(store, study, 1)
        trial = claimed(store, study)
        assert store.report_many(study, trial.tid, trial.token, [(9, 1.0), (4, 2.0)])
        assert store.report(study, trial.tid, trial.token, 5, 0.5)  # lower, later
        assert store.report(study, trial.tid, trial.token, 9, 0.4)  # again
        assert store.last_steps(study) == [(trial.tid, S.RUNNING, 9)]
        assert store.report_many(study, trial.tid, trial.token, [(2, 1.0), (11, 1.0)])
        store.prune(study, trial.tid, trial.token, PRUNED_RESULT)
        assert store.last_steps(study) == [(trial.tid, S.PRUNED, 11)]

    def test_a_stale_attempts_late_reports_do_not_count(
        self, store: BaseTrialStore, study: str
    ) -> None:
        """A requeued trial's new attempt starts its last step afresh (lower than
        the old attempt's), and the old attempt's reports, refused, change nothing,
        before and after the new attempt's first report."""
        queued(store, study, 1)
        first = claimed(store, study, lease=SHORT)
        assert store.report_many(study, first.tid, first.token, [(0, 9.0), (30, 8.0)])
        time.sleep(EXPIRE)
        store.requeue_expired(max_attempts=3, study=study)
        second = claimed(store, study)
        assert not store.report(study, first.tid, first.token, 40, 1.0)  # stale
        assert store.last_steps(study) == [(first.tid, S.RUNNING, None)]
        assert store.report(study, second.tid, second.token, 3, 5.0)
        assert not store.report_many(study, first.tid, first.token, [(50, 1.0)])
        assert store.last_steps(study) == [(first.tid, S.RUNNING, 3)]
        assert store.get_trial(study, first.tid).intermediate == {3: 5.0}
        assert store.release(study, second.tid, second.token)  # given back
        third = claimed(store, study)
        assert store.report(study, third.tid, third.token, 1, 5.0)
        assert not store.report(study, second.tid, second.token, 60, 1.0)
        assert store.last_steps(study) == [(first.tid, S.RUNNING, 1)]

    def test_other_studies_and_missing_study(
        self, store: BaseTrialStore, study: str
    ) -> None:
        assert store.last_steps(study) == []
        store.create_study("other", {})
        store.insert_trials("other", new_trials(1))
        other = claimed(store, "other")
        store.report("other", other.tid, other.token, 3, 1.0)
        assert store.last_steps(study) == []
        assert store.last_steps("other") == [(other.tid, S.RUNNING, 3)]
        with pytest.raises(StudyNotFoundError):
            store.last_steps("nope")


# ---- light reads: what `status` and `best` read -------------------------------------


def finish_all(store: BaseTrialStore, study: str, results: list[Any]) -> list[int]:
    """Queue one trial per item and finish it: a dict completes it, ``"error"`` fails
    it, ``"pruned"`` prunes it, None leaves it running."""
    tids = queued(store, study, len(results))
    for item in results:
        trial = claimed(store, study)
        if item == "error":
            store.fail(study, trial.tid, trial.token, error_of("E"))
        elif item == "pruned":
            store.prune(study, trial.tid, trial.token, PRUNED_RESULT)
        elif item is not None:
            store.complete(study, trial.tid, trial.token, item, code=CODE)
    return tids


class TestLightReads:
    def test_best_is_feasible_first_then_lowest_loss_then_lowest_tid(
        self, store: BaseTrialStore, study: str
    ) -> None:
        assert store.best_trial(study) is None
        finish_all(store, study, [
            {"loss": -9.0, "status": "fail"},             # 0 failed: never best
            {"loss": 0.5, "status": "ok", "constraints": [0.2]},  # 1 infeasible
            {"loss": float("nan"), "status": "ok"},        # 2 no loss
            "pruned",                                      # 3
            {"loss": [0.0, 1.0], "status": "ok"},          # 4 several losses
            {"loss": 0.5, "status": "ok", "constraints": [0.1]},  # 5 least violation
        ])  # fmt: skip
        assert store.best_trial(study).tid == 5  # only infeasible: least violation
        finish_all(store, study, [
            {"loss": 2.0, "status": "ok", "constraints": [-1.0]},  # 6
            {"loss": 1.0, "status": "ok"},                 # 7
            {"loss": 1.0, "status": "ok", "constraints": [0.0]},  # 8 tie: 7 first
            "error",                                       # 9
        ])  # fmt: skip
        best = store.best_trial(study)
        assert best == store.get_trial(study, 7)  # whole, as get_trial reads it
        store.insert_finished(
            study, [FinishedTrial({}, {}, {"loss": -math.inf, "status": "ok"})]
        )
        assert store.best_trial(study).tid == 10
        with pytest.raises(StudyNotFoundError):
            store.best_trial("missing")

    def test_best_from_a_first_tid_leaves_the_lower_tids_out(
        self, store: BaseTrialStore, study: str
    ) -> None:
        """``best_trial(first_tid=N)``: the best of the trials queued with a space
        ``--override`` gave the study (see ``hpo_service._common.space_mark``)."""
        finish_all(store, study, [
            {"loss": 0.0, "status": "ok"},                 # 0 the best of all
            {"loss": 3.0, "status": "ok"},                 # 1
            {"loss": 2.0, "status": "ok", "constraints": [1.0]},  # 2 infeasible
            None,                                          # 3 running
            {"loss": 5.0, "status": "ok"},                 # 4
            {"loss": 4.0, "status": "ok"},                 # 5
        ])  # fmt: skip
        assert store.best_trial(study, first_tid=0).tid == 0
        assert store.best_trial(study, first_tid=1).tid == 1
        assert store.best_trial(study, first_tid=2).tid == 5  # feasible first
        assert store.best_trial(study, first_tid=5) == store.get_trial(study, 5)
        assert store.best_trial(study, first_tid=6) is None
        for bad in (-1, 1.5, True, None):
            with pytest.raises(ValueError, match="first_tid"):
                store.best_trial(study, first_tid=bad)  # type: ignore[arg-type]
        with pytest.raises(StudyNotFoundError):
            store.best_trial("missing", first_tid=1)

    def test_best_of_a_tid_range_leaves_the_higher_tids_out(
        self, store: BaseTrialStore, study: str
    ) -> None:
        """``best_trial(first_tid=N, end_tid=M)``: the best of tids ``[N, M)``, the
        trials queued with one space before another ``--override`` changed it
        again (see ``hpo_service._common.space_mark``)."""
        finish_all(store, study, [
            {"loss": 3.0, "status": "ok"},                 # 0
            {"loss": 2.0, "status": "ok", "constraints": [1.0]},  # 1 infeasible
            {"loss": 4.0, "status": "ok"},                 # 2
            {"status": "fail"},                            # 3
            {"loss": 0.0, "status": "ok"},                 # 4 the best of all
            {"loss": 1.0, "status": "ok"},                 # 5
        ])  # fmt: skip
        assert store.best_trial(study, end_tid=1).tid == 0
        assert store.best_trial(study, first_tid=1, end_tid=2).tid == 1  # alone
        assert store.best_trial(study, first_tid=1, end_tid=3).tid == 2  # feasible
        assert store.best_trial(study, first_tid=3, end_tid=4) is None
        assert store.best_trial(study, first_tid=3, end_tid=5).tid == 4
        assert store.best_trial(study, first_tid=5, end_tid=6).tid == 5
        assert store.best_trial(study, first_tid=5, end_tid=99).tid == 5
        assert store.best_trial(study, end_tid=4) == store.get_trial(study, 0)
        assert store.best_trial(study, first_tid=2, end_tid=None).tid == 4
        for first, bad in ((0, 0), (3, 3), (3, 2), (0, -1), (0, 1.5), (0, True)):
            with pytest.raises(ValueError, match="end_tid"):
                store.best_trial(study, first_tid=first, end_tid=bad)  # type: ignore[arg-type]
        with pytest.raises(StudyNotFoundError):
            store.best_trial("missing", first_tid=1, end_tid=2)

    def test_summary_counts_states_failures_codes_and_best(
        self, store: BaseTrialStore, study: str
    ) -> None:
        other = {"module": "pkg.mod", "sha256": "ffffffffffffffff", "version": None}
        finish_all(store, study, [
            {"loss": 3.0, "status": "ok", "constraints": [0.5, -1.0]},  # 0 infeasible
            {"status": "fail"},                            # 1 failed
            "error",                                       # 2
            None,                                          # 3 running
            "pruned",                                      # 4
            {"loss": 4.0, "status": "ok"},                 # 5 the best
            None,                                          # 6 running
        ])  # fmt: skip
        queued(store, study, 2)
        trial = claimed(store, study)
        store.complete(study, trial.tid, trial.token, {"loss": 9.0}, code=other)
        store.cancel(study, [8])
        finish_all(store, study, [
            {"loss": 5.0, "status": "ok", "constraints": 2.0},  # 9 infeasible
            {"loss": 6.0, "status": "ok", "constraints": [math.nan, 0.0]},  # 10
        ])  # fmt: skip
        summary = store.summarise(study)
        assert summary.counts == {
            S.NEW: 0, S.RUNNING: 2, S.DONE: 6, S.ERROR: 1, S.CANCELLED: 1,
            S.PRUNED: 1,
        }  # fmt: skip
        assert summary.counts == store.count_by_state(study)
        running = store.get_trials(study, [S.RUNNING])
        assert summary.running == [RunningTrial.of(t) for t in running]
        assert [t.tid for t in summary.running] == [3, 6]
        assert (summary.failed, summary.infeasible) == (1, 2)
        assert summary.codes == [(CODE, 5), (other, 1)]  # by the first trial run
        assert summary.best == store.best_trial(study) == store.get_trial(study, 5)
        with pytest.raises(StudyNotFoundError):
            store.summarise("missing")

    def test_summary_shows_the_lowest_running_tids_and_first_codes_only(
        self, store: BaseTrialStore, study: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """What summarise returns does not grow with the study (MongoDB answers an
        aggregate in one document of at most 16 MB): counts of all, few trials."""
        from hpo_service.store import _summary

        monkeypatch.setattr(_summary, "RUNNING_SHOWN", 2)
        monkeypatch.setattr(_summary, "CODES_SHOWN", 1)
        other = {"module": "pkg.mod", "sha256": "ffffffffffffffff", "version": None}
        ok = [{"loss": loss, "status": "ok"} for loss in (2.0, 1.0, 0.5, 3.0)]
        finish_all(store, study, [None, ok[0], None, None, ok[1]])
        queued(store, study, 1)
        trial = claimed(store, study)
        store.complete(study, trial.tid, trial.token, ok[2], code=other)
        summary = store.summarise(study)
        assert summary.counts[S.RUNNING] == 3 and summary.counts[S.DONE] == 3
        running = store.get_trials(study, [S.RUNNING], tids=[0, 2])
        assert summary.running == [RunningTrial.of(t) for t in running]
        assert summary.codes == [(CODE, 2)]  # the code that ran trials first
        assert summary.best == store.get_trial(study, 5)
        store.complete(study, 0, summary.running[0].token, ok[3])
        assert [t.tid for t in store.summarise(study).running] == [2, 3]

    def test_pareto_front_from_light_results(
        self, store: BaseTrialStore, study: str
    ) -> None:
        finish_all(store, study, [
            {"loss": [1.0, 4.0], "status": "ok", "extra": "x" * 1000},  # 0 front
            {"loss": [2.0, 5.0], "status": "ok"},          # 1 dominated by 0
            {"loss": [3.0, 1.0], "status": "ok"},          # 2 front
            {"loss": [0.0, 0.0], "status": "ok", "constraints": [1.0]},  # 3 infeasible
            {"loss": [0.0, 0.0], "status": "fail"},        # 4 failed
            "pruned",                                      # 5
        ])  # fmt: skip
        rows = store.done_results(study)
        assert [tid for tid, _ in rows] == [0, 1, 2, 3, 4]
        assert rows[0][1] == {"loss": [1.0, 4.0], "status": "ok"}  # light keys only
        assert rows[3][1]["constraints"] == [1.0]
        front = store.pareto_trials(study)
        assert front == store.get_trials(study, tids=[0, 2])
        assert [t.tid for t in front] == [0, 2] and front[0].result["extra"]
        assert store.get_trials(study, [S.PRUNED], tids=[5, 4, 99])[0].tid == 5
        with pytest.raises(StudyNotFoundError):
            store.done_results("missing")
