"""What ``hpo-driver`` prints: study status, best trial, trial tables."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hpo_service.driver._settings import COUNTED_STATES
from hpo_service.objective._result import loss_of
from hpo_service.store import BaseTrialStore, Trial, TrialState

if TYPE_CHECKING:
    from hpo_service.driver._study_loop import StudyOutcome

_BASE_COLUMNS = [
    "tid",
    "state",
    "loss",
    "status",
    "attempts",
    "owner",
    "duration",
    "created_at",
    "started_at",
    "finished_at",
    "error_type",
    "last_step",
    "intermediate",
]


def best_trial(store: BaseTrialStore, study: str) -> Trial | None:
    """The done trial with the lowest ok loss, or None."""
    best, best_loss = None, float("inf")
    for trial in store.get_trials(study, [TrialState.DONE]):
        loss = loss_of(trial.result or {})
        if loss is not None and (best is None or loss < best_loss):
            best, best_loss = trial, loss
    return best


def trial_record(trial: Trial) -> dict[str, Any]:
    """A JSON-able dict of one trial."""
    return {
        "tid": trial.tid,
        "state": trial.state.value,
        "params": trial.params,
        "config": trial.config,
        "result": trial.result,
        "error": trial.error,
        "owner": trial.owner,
        "attempts": trial.attempts,
        "created_at": trial.created_at,
        "started_at": trial.started_at,
        "finished_at": trial.finished_at,
        "intermediate": {str(step): v for step, v in trial.intermediate.items()},
    }


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: fixed columns, then ``param.<label>`` columns."""
    result = record["result"] or {}
    row = {key: record.get(key) for key in _BASE_COLUMNS}
    row.update(
        loss=result.get("loss"),
        status=result.get("status"),
        duration=result.get("duration"),
        error_type=(record["error"] or {}).get("type"),
        last_step=_last_step(record["intermediate"]),
        intermediate=json.dumps(record["intermediate"])
        if record["intermediate"]
        else "",
    )
    row.update({f"param.{k}": v for k, v in record["params"].items()})
    return row


def _last_step(intermediate: dict[str, float]) -> int | None:
    return max(map(int, intermediate)) if intermediate else None


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """The CSV header: fixed columns, then every param column seen, sorted."""
    params = sorted({key for row in rows for key in row if key.startswith("param.")})
    return _BASE_COLUMNS + params


def status_summary(store: BaseTrialStore, study: str) -> dict[str, Any]:
    """Counts by state, live workers with lease ages, driver lease and best loss."""
    record = store.get_study(study)
    now = store.now()
    running = store.get_trials(study, [TrialState.RUNNING])
    best = best_trial(store, study)
    return {
        "study": study,
        "max_evals": record.settings.get("max_evals"),
        "cancelled": bool(record.settings.get("cancelled")),
        "counts": {s.value: n for s, n in store.count_by_state(study).items()},
        "driver": _driver_summary(record, now),
        "workers": [_running_summary(t, now) for t in running],
        "best": None
        if best is None
        else {"tid": best.tid, "loss": loss_of(best.result or {})},
    }


def _driver_summary(record: Any, now: float) -> dict[str, Any] | None:
    expires = record.driver_lease_expires_at
    if record.driver_owner is None or expires is None or expires <= now:
        return None
    return {"owner": record.driver_owner, "lease_left": round(expires - now, 1)}


def _running_summary(trial: Trial, now: float) -> dict[str, Any]:
    lease = trial.lease_expires_at
    return {
        "owner": trial.owner,
        "tid": trial.tid,
        "running_for": _age(trial.started_at, now),
        "lease_left": None if lease is None else round(lease - now, 1),
    }


def _age(since: float | None, now: float) -> float | None:
    return None if since is None else round(now - since, 1)


def status_text(summary: dict[str, Any]) -> str:
    """Human-readable form of :func:`status_summary`."""
    counts = summary["counts"]
    finished = sum(counts[state.value] for state in COUNTED_STATES)
    lines = [
        f"study {summary['study']!r}: {finished}/{summary['max_evals']} finished"
        + (" (cancelled)" if summary["cancelled"] else ""),
        "  " + "  ".join(f"{state}={n}" for state, n in counts.items()),
        "  driver: " + _driver_text(summary["driver"]),
        f"  workers running trials: {len(summary['workers'])}",
    ]
    for w in summary["workers"]:
        lines.append(
            f"    {w['owner']}: trial {w['tid']} for {w['running_for']} s, "
            f"lease {w['lease_left']} s left"
        )
    best = summary["best"]
    lines.append(
        "  best: "
        + (
            "none yet"
            if best is None
            else f"loss {best['loss']:.6g} (trial {best['tid']})"
        )
    )
    return "\n".join(lines)


def _driver_text(driver: dict[str, Any] | None) -> str:
    if driver is None:
        return "none running"
    return f"{driver['owner']} (lease {driver['lease_left']} s left)"


def best_text(record: dict[str, Any]) -> str:
    """Human-readable best trial."""
    return (
        f"best trial {record['tid']}: loss {record['result']['loss']:.6g}\n"
        f"  params: {json.dumps(record['params'], sort_keys=True)}\n"
        f"  config: {json.dumps(record['config'], sort_keys=True)}"
    )


def outcome_text(study: str, outcome: StudyOutcome) -> str:
    """What ``hpo-driver start`` prints when the study ends."""
    counts = outcome.counts
    head = (
        f"study {study!r} finished ({outcome.reason}): "
        f"{counts[TrialState.DONE]} done, {counts[TrialState.PRUNED]} pruned, "
        f"{counts[TrialState.ERROR]} error, {counts[TrialState.CANCELLED]} cancelled"
    )
    if outcome.best is None:
        return head + "\nno trial succeeded"
    return head + "\n" + best_text(trial_record(outcome.best))
