"""``trial_rows.each_trial``: a filtered read names more tids per store call when
the filter shows few trials, and still yields exactly the trials it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpo_service._common import trial_rows
from hpo_service.store import FinishedTrial, Trial, TrialState, open_store

N = 24 * trial_rows.WINDOW + 37


def _trial(i: int) -> FinishedTrial:
    """Trial ``i``: ``fail`` every 100th in the first half, every 2nd after."""
    rare = i < N // 2
    failed = i % 100 == 3 if rare else i % 2 == 0
    result = {"status": "fail" if failed else "ok", "loss": float(i)}
    return FinishedTrial({"x": float(i)}, None, result, TrialState.DONE)


def _each(tmp_path: Path, **filters: Any) -> tuple[list[int], list[int]]:
    """The tids ``each_trial`` yields with ``filters``, and the tids each of its
    store calls named."""
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        if not store.list_studies():
            store.create_study("s", {"objective": "m:f", "max_evals": N})
            store.insert_finished("s", [_trial(i) for i in range(N)])
        named: list[int] = []
        get_trials = store.get_trials

        def counted(*args: Any, **kwargs: Any) -> list[Trial]:
            named.append(len(kwargs["tids"]))
            return get_trials(*args, **kwargs)

        store.get_trials = counted  # type: ignore[method-assign]
        tids = [t.tid for t in trial_rows.each_trial(store, "s", **filters)]
    return tids, named


def test_a_filter_showing_few_trials_reads_wider_windows(tmp_path: Path) -> None:
    tids, named = _each(tmp_path, statuses=["fail"])
    assert tids == [i for i in range(N) if _trial(i).result["status"] == "fail"]
    assert sum(named) == N  # every tid named once, in order
    # ~1% shown in the first half: windows grow to the cap there (one window per
    # WINDOW tids before), then shrink back where half of the trials are shown
    assert max(named) == trial_rows.MAX_FILTERED_WINDOW
    assert len(named) < N // trial_rows.WINDOW
    assert min(named) >= trial_rows.WINDOW


def test_an_unfiltered_read_names_a_window_of_tids_per_call(tmp_path: Path) -> None:
    tids, named = _each(tmp_path)
    assert tids == list(range(N))
    assert named == [trial_rows.WINDOW] * (N // trial_rows.WINDOW) + [37]
    tids, named = _each(tmp_path, states=[TrialState.DONE])
    assert tids == list(range(N))
    assert max(named) == trial_rows.WINDOW  # every trial shown: no wider
