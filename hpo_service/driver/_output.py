"""What ``hpo-driver`` prints: study status, best trial, trial tables."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hpo_service.driver._settings import COUNTED_STATES
from hpo_service.objective._result import (
    best_position,
    loss_of,
    pareto_front,
    violation_of,
)
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
    """The done trial with the lowest ok loss, feasible ones first, or None.

    See :func:`~hpo_service.objective._result.best_position` (a trial that violates
    its constraints is the best only while no trial is feasible).
    """
    done = store.get_trials(study, [TrialState.DONE])
    best = best_position([t.result for t in done])
    return None if best is None else done[best]


def pareto_trials(store: BaseTrialStore, study: str) -> list[Trial]:
    """The done trials on the Pareto front (feasible, non-dominated), by tid."""
    done = store.get_trials(study, [TrialState.DONE])
    return [done[i] for i in pareto_front([t.result for t in done])]


def objective_names(store: BaseTrialStore, study: str) -> list[str] | None:
    """The study's objective names, or ``loss.0``, ``loss.1``... for several
    unnamed objectives; None for a single-objective study."""
    settings = store.get_study(study).settings
    names = settings.get("objective_names")
    if names:
        return list(names)
    count = settings.get("n_objectives")
    return [f"loss.{i}" for i in range(count)] if count and count > 1 else None


def front_text(records: list[dict[str, Any]], names: list[str] | None) -> str:
    """Human-readable Pareto front: one trial per line with its named losses."""
    lines = [f"Pareto front: {len(records)} trial(s)"]
    for record in records:
        losses = record["result"]["loss"]
        shown = ", ".join(
            f"{name}={value:.6g}"
            for name, value in zip(
                names or _default_names(losses), losses, strict=False
            )
        )
        params = json.dumps(record["params"], sort_keys=True)
        lines.append(f"  trial {record['tid']}: {shown}  params: {params}")
    return "\n".join(lines)


def _default_names(losses: list[float]) -> list[str]:
    return [f"loss.{i}" for i in range(len(losses))]


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


def flat_row(record: dict[str, Any], names: list[str] | None = None) -> dict[str, Any]:
    """One CSV row: fixed columns, then ``param.<label>`` columns.

    Several losses go to one column each (named by ``names``, else ``loss.0``,
    ``loss.1``...), and to ``loss`` as a JSON list.
    """
    result = record["result"] or {}
    row = {key: record.get(key) for key in _BASE_COLUMNS}
    loss = result.get("loss")
    if isinstance(loss, list):
        keys = names if names and len(names) == len(loss) else _default_names(loss)
        row.update({f"objective.{k}": v for k, v in zip(keys, loss, strict=True)})
        loss = json.dumps(loss)
    constraints = result.get("constraints")
    if constraints is not None:
        row["constraints"] = json.dumps(constraints)
    row.update(
        loss=loss,
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
    """The CSV header: fixed columns, objectives and constraints (if any), then every
    param column seen, sorted."""
    params = sorted({key for row in rows for key in row if key.startswith("param.")})
    objectives = list(
        dict.fromkeys(k for row in rows for k in row if k.startswith("objective."))
    )
    extra = ["constraints"] if any("constraints" in row for row in rows) else []
    return _BASE_COLUMNS + objectives + extra + params


def status_summary(store: BaseTrialStore, study: str) -> dict[str, Any]:
    """Counts by state, live workers with lease ages, driver lease and best loss."""
    record = store.get_study(study)
    now = store.now()
    running = store.get_trials(study, [TrialState.RUNNING])
    best = best_trial(store, study)
    front = pareto_trials(store, study) if best is None else []
    return {
        "study": study,
        "max_evals": record.settings.get("max_evals"),
        "cancelled": bool(record.settings.get("cancelled")),
        "counts": {s.value: n for s, n in store.count_by_state(study).items()},
        "driver": _driver_summary(record, now),
        "workers": [_running_summary(t, now) for t in running],
        "best": None
        if best is None
        else {
            "tid": best.tid,
            "loss": loss_of(best.result or {}),
            "violation": violation_of(best.result or {}),
        },
        "pareto_front": [
            {"tid": t.tid, "loss": (t.result or {})["loss"]} for t in front
        ],
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
    best, front = summary["best"], summary.get("pareto_front")
    if best is None and front:
        lines.append(f"  Pareto front: {len(front)} trial(s) (hpo-driver best)")
    else:
        shown = "none yet" if best is None else f"loss {best['loss']:.6g}"
        lines.append(
            f"  best: {shown}"
            + ("" if best is None else f" (trial {best['tid']})")
            + ("" if best is None else _violation_text(best.get("violation", 0.0)))
        )
    return "\n".join(lines)


def _driver_text(driver: dict[str, Any] | None) -> str:
    if driver is None:
        return "none running"
    return f"{driver['owner']} (lease {driver['lease_left']} s left)"


def _violation_text(violation: float) -> str:
    if violation <= 0:
        return ""
    return f", violates its constraints by {violation:.6g} (no trial is feasible yet)"


def best_text(record: dict[str, Any]) -> str:
    """Human-readable best trial."""
    result = record["result"]
    return (
        f"best trial {record['tid']}: loss {result['loss']:.6g}"
        f"{_violation_text(violation_of(result))}\n"
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
    if isinstance((outcome.best.result or {}).get("loss"), list):
        return (
            head
            + f"\nseveral objectives: `hpo-driver best --study {study}` "
            + ("shows the Pareto front")
        )
    return head + "\n" + best_text(trial_record(outcome.best))
