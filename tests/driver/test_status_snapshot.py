"""``hpo-driver status`` reads the trials once: its counts, the workers it lists and
the best trial agree even when a worker claims a trial while status reads."""

from __future__ import annotations

from hpo_service.driver._output import status_summary
from hpo_service.store import NewTrial, open_store


def test_counts_and_listed_workers_agree_when_a_claim_lands_mid_read(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("s", {"max_evals": 4})
        store.insert_trials("s", [NewTrial({"x": i}, {"x": i}) for i in range(2)])
        read = store.get_trials

        def read_then_a_worker_claims(study, *args, **kwargs):
            trials = read(study, *args, **kwargs)
            store.claim("w", 30.0, study=study)  # lands between status's reads
            return trials

        store.get_trials = read_then_a_worker_claims
        summary = status_summary(store, "s")
    assert summary["counts"]["running"] == len(summary["workers"]) == 0
    assert summary["counts"]["new"] == 2
    assert sum(summary["counts"].values()) == 2


def test_many_running_trials_are_counted_and_the_first_listed(tmp_path, monkeypatch):
    """summarise reads the running trials of the lowest tids only (its answer must
    not grow with the study); status counts them all and says how many it left out."""
    from hpo_service.driver._output import status_text
    from hpo_service.store import _summary

    monkeypatch.setattr(_summary, "RUNNING_SHOWN", 2)
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        store.create_study("s", {"max_evals": 9})
        store.insert_trials("s", [NewTrial({"x": i}, {"x": i}) for i in range(6)])
        for _ in range(5):
            store.claim("host:1:w", 30.0, study="s")
        summary = status_summary(store, "s")
    assert [w["tid"] for w in summary["workers"]] == [0, 1]
    text = status_text(summary)
    assert "workers running trials: 5\n" in text, text
    assert text.count("host:1:w: trial") == 2, text
    assert "    ... and 3 more running trials (`hpo-driver trials --state " in text
