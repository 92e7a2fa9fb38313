"""A study that holds a trial in every state, written through the store calls a
worker makes (claim, report, complete / prune / fail) and the driver's cancel:
what an export and an import of every state are tested on, built without running
workers (a study run by workers holds an error or a pruned trial only when its
draws make one)."""

from __future__ import annotations

from typing import Any

from hpo_service._common.settings import cancelled_error
from hpo_service.driver._study import open_study, space_settings
from hpo_service.store import BaseTrialStore, NewTrial, Trial, open_store
from tests.e2e import objectives

#: The code identity the trials are recorded with (as a worker records it).
CODE = {"module": "tests.e2e.objectives", "sha256": "ab12", "version": None}
#: The states of :func:`stored_study`'s trials, by tid.
STATES = ["done", "done", "done", "pruned", "pruned", "done", "error", "cancelled",
          "running", "new"]  # fmt: skip


def new_study(store: BaseTrialStore, name: str, names: list[str] | None) -> None:
    """An empty study of ``objectives.space`` (named objectives if ``names``)."""
    given = {"objective": "tests.e2e.objectives:rich_curve", "max_evals": 50,
             **space_settings(objectives.space)}  # fmt: skip
    if names:
        given["objective_names"] = names
    open_study(store, name, given)


def rich_result(x: float, y: float, pair: bool) -> dict[str, Any]:
    """What ``objectives.rich_curve(_pair)`` returns at (x, y), its attachment
    aside, with the duration a worker adds."""
    loss = (x - 1.0) ** 2 + (y + 2.0) ** 2
    return {
        "loss": [loss, abs(x)] if pair else loss, "status": "ok",
        "accuracy": 1.0 / (1.0 + abs(x)), "epochs": 6, "note": f"x={x:.3f}, y",
        "code": "1e5", "converged": x > 0, "history": [x, y],
        "sizes": {"in": 2, "out": [1, 2]}, "constraints": [x, y - 1],
        "duration": 0.25 + x / 100,
    }  # fmt: skip


def run_by_hand(
    store: BaseTrialStore, points: list[tuple[float, float]]
) -> list[Trial]:
    """Queue ``points`` of study ``a`` and claim each, as a worker does: the
    claimed trials (their tokens), in order."""
    store.insert_trials(
        "a", [NewTrial({"x": x, "y": y}, {"x": x, "y": y}) for x, y in points]
    )
    return [store.claim("w1", 600.0, study="a") for _ in points]


def stored_study(db: str, pair: bool) -> None:
    """Study ``a``: 2 done (ok, feasible and not), 1 done with status fail, 2 pruned
    (one after 3 reports, one before any), 1 done that reported, 1 error, 1
    cancelled, 1 running and 1 queued."""
    with open_store(db) as store:
        new_study(store, "a", ["error", "size"] if pair else None)
        if not pair:
            store.patch_study_settings("a", {"n_objectives": 1})
        ok1, ok2, fail, cut, early, curve, err, gone, running = run_by_hand(
            store, [(0.5, 2.0), (-1.5, 0.5), (3.0, 3.0), (2.5, -1.0), (4.0, 4.0),
                    (-0.5, -2.5), (1.0, 1.0), (2.0, 2.0), (0.0, 0.0)],
        )  # fmt: skip
        for trial, (x, y) in ((ok1, (0.5, 2.0)), (ok2, (-1.5, 0.5))):
            store.complete("a", trial.tid, trial.token, rich_result(x, y, pair),
                           code=CODE)  # fmt: skip
        store.complete("a", fail.tid, fail.token,
                       {"status": "fail", "reason": "diverged", "duration": 0.5},
                       code=CODE)  # fmt: skip
        store.report_many("a", cut.tid, cut.token, [(0, 9.5), (1, 7.25), (2, 6.5)])
        store.prune("a", cut.tid, cut.token,
                    {"status": "pruned", "loss": 6.5, "step": 2, "duration": 0.75},
                    code=CODE)  # fmt: skip
        store.prune("a", early.tid, early.token,
                    {"status": "pruned", "loss": None, "step": None, "duration": 0.1},
                    code=CODE)  # fmt: skip
        store.report_many("a", curve.tid, curve.token, [(0, 3.0), (5, 0.5)])
        store.complete("a", curve.tid, curve.token, rich_result(-0.5, -2.5, pair),
                       code=CODE)  # fmt: skip
        store.fail("a", err.tid, err.token,
                   {"type": "ValueError", "message": "bad x, y=1", "traceback": "T",
                    "duration": 0.3},
                   code=CODE)  # fmt: skip
        store.cancel("a", [gone.tid], error=cancelled_error("hpo-driver cancel"))
        assert running.state.value == "running"
        store.insert_trials("a", [NewTrial({"x": 0.1, "y": 0.1}, {"x": 0.1, "y": 0.1})])
