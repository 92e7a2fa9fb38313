"""What ``hpo-driver`` prints: study status, best trial, trial tables."""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo_service._common.outcomes import FAILED, outcome_counts, outcome_words
from hpo_service._common.processes import certainly_dead
from hpo_service._common.settings import (
    COUNTED_STATES,
    budget_of,
    counted_finished,
    started_in_python,
)
from hpo_service._common.space_mark import OldSpaceBest, note_text, old_space_best
from hpo_service._common.stop_words import number_text
from hpo_service._common.trial_rows import default_names, text_json, trial_record
from hpo_service._common.words import counted
from hpo_service.algorithms.pruners import describe_pruner
from hpo_service.algorithms.pruners._ladder import (
    PruningLadder,
    ladder_lines,
    pruning_ladder,
)
from hpo_service.driver._codes import code_key, describe_codes
from hpo_service.exceptions import HPOServiceError
from hpo_service.objective._result import (
    loss_of,
    pareto_front,
    violation_of,
)
from hpo_service.store import BaseTrialStore, Study, Trial, TrialState
from hpo_service.store._cli_option import (
    DEFAULT_DB,
    ERRORS_LISTED,
    masked_note,
    store_command,
)

if TYPE_CHECKING:
    from hpo_service._common.settings import StudySettings
    from hpo_service.driver._study_loop import StudyOutcome
    from hpo_service.store._summary import RunningTrial


def best_trial(store: BaseTrialStore, study: str) -> Trial | None:
    """The done trial with the lowest ok loss, feasible ones first, or None.

    See :func:`~hpo_service.objective._result.best_position` (a trial that violates
    its constraints is the best only while no trial is feasible).
    """
    return store.best_trial(study)


def old_space_of(store: BaseTrialStore, study: str, best: Trial) -> OldSpaceBest | None:
    """Whether ``best``, the study's best trial, ran with a space before
    ``--override`` (by the study's mark: a read of its settings, and of the best
    trial of the current space if so); see :mod:`hpo_service._common.space_mark`.
    """
    return old_space_best(store, study, store.get_study(study).settings, best)


def none_yet(store: BaseTrialStore, study: str, what: str = "successful") -> str:
    """How ``hpo-driver best`` ends "no successful (or feasible) trial": `` yet``
    while the study may still get one, else ``: none of its 8 finished trials
    succeeded`` (``is feasible``) for a finished or cancelled study ("yet" would
    promise one)."""
    settings = store.get_study(study).settings
    finished = counted_finished(store.count_by_state(study))
    if not _over(settings, finished):
        return " yet"
    verb = "succeeded" if what == "successful" else "is feasible"
    return f": none of its {counted(finished, 'finished trial')} {verb}"


def has_success(store: BaseTrialStore, study: str) -> bool:
    """Whether a done trial of ``study`` returned status ok (feasible or not)."""
    summary = store.summarise(study)
    return summary.counts[TrialState.DONE] > summary.failed


def pareto_trials(store: BaseTrialStore, study: str) -> list[Trial]:
    """The done trials on the Pareto front (feasible, non-dominated), by tid."""
    return store.pareto_trials(study)


def front_text(records: list[dict[str, Any]], names: list[str] | None) -> str:
    """Human-readable Pareto front: each trial's named losses, its constraint values
    when its result carries any (as ``best --json`` gives them), then its params
    and config (as :func:`best_text` shows them for one objective)."""
    lines = [f"Pareto front: {counted(len(records), 'trial')}"]
    for record in records:
        losses = record["result"]["loss"]
        keys = names or default_names(len(losses))
        shown = ", ".join(
            f"{name}={value:.6g}" for name, value in zip(keys, losses, strict=False)
        )
        lines.append(f"  trial {record['tid']}: {shown}")
        constraints = record["result"].get("constraints")
        if constraints:
            values = ", ".join(f"{float(v):.6g}" for v in constraints)
            lines.append(f"    constraints: {values} (<= 0 is satisfied)")
        lines += [
            f"    params: {text_json(record['params'])}",
            f"    config: {text_json(record['config'])}",
        ]
    return "\n".join(lines)


def status_summary(
    store: BaseTrialStore, study: str, db_url: str = DEFAULT_DB
) -> dict[str, Any]:
    """Counts by state, live workers with lease ages, driver lease and best loss;
    ``counts`` are the store's states (``done`` holds the trials that returned
    status ``fail``, also counted as ``failed``), ``outcomes`` the counts as every
    command words them (``done`` status ok, then ``failed``:
    :func:`~hpo_service._common.outcomes.outcome_counts`); without a best trial
    (or Pareto front), why not (``why_no_best``: the commands listing the trials
    that did not succeed name ``db_url``, masked, unless it is the default
    store).

    Args:
        store: The study's store.
        study: The study's name.
        db_url: The store's URL as the user gave it (``--db``), for the commands.

    Returns:
        ``hpo-driver status --json``'s object (README, "status --json": its keys;
        lease ages and ``running_for`` in seconds).

    Raises:
        StudyNotFoundError: No such study.
    """
    record = store.get_study(study)
    now = store.now()
    read = store.summarise(study)  # counts, workers and best from one read
    best = read.best
    front = _front_losses(store, study) if best is None else []
    summary = {
        "study": study,
        "max_evals": record.settings.get("max_evals"),
        "cancelled": bool(record.settings.get("cancelled")),
        "counts": {state.value: n for state, n in read.counts.items()},
        "failed": read.failed,
        "outcomes": outcome_counts(
            {state.value: n for state, n in read.counts.items()}, read.failed
        ),
        "infeasible": read.infeasible,
        "code": _code_summary(read.codes),
        "driver": _driver_summary(record, now),
        "workers": [_running_summary(t, now) for t in read.running],
        "best": None if best is None else _best_summary(store, study, record, best),
        "n_objectives": record.settings.get("n_objectives"),
        "pruner": {
            "name": record.settings.get("pruner") or "none",
            "settings": record.settings.get("pruner_settings") or {},
        },
        "pruning": _as_dict(
            study_ladder(
                store,
                study,
                record.settings.get("pruner"),
                record.settings.get("pruner_settings"),
                python=started_in_python(record.settings),
            )
        ),
        "pareto_front": front,
    }
    summary["why_no_best"] = _why_no_best(summary, db_url)
    return summary


def _why_no_best(summary: dict[str, Any], db_url: str) -> list[dict[str, Any]]:
    """``status --json``'s ``why_no_best``: :func:`failure_kinds` of a study
    without a best trial or Pareto front (the reasons :func:`status_text` gives);
    empty when it has one."""
    if summary["best"] is not None or summary["pareto_front"]:
        return []
    counts = {TrialState(state): n for state, n in summary["counts"].items()}
    succeeded = counts.get(TrialState.DONE, 0) - summary["failed"]
    several = (summary.get("n_objectives") or 1) > 1
    trials = store_command("hpo-driver trials", db_url, summary["study"])
    infeasible = max(succeeded, 0) if several else 0
    return failure_kinds(counts, summary["failed"], trials, infeasible=infeasible)


def study_ladder(
    store: BaseTrialStore,
    study: str,
    pruner: str | None,
    settings: Mapping[str, Any] | None,
    *,
    python: bool = False,
) -> PruningLadder | None:
    """What the study's pruner did (per rung, or where it pruned), or None without
    a pruner that stops trials.

    Args:
        store: The open store.
        study: The study.
        pruner: Its pruner's name (None or ``"none"``: no pruner, nothing read).
        settings: The pruner's settings, as the study stores them.
        python: The study runs from Python (``fmin`` with ``StoreTrials``): advice
            names the pruner's keyword arguments, not ``hpo-driver start``'s flags.

    One read (:meth:`~hpo_service.store.BaseTrialStore.last_steps`): each trial's
    state and highest reported step, not the reports themselves.
    """
    if pruner in ("none", None):
        return None
    rows = [(tid, state.value, last) for tid, state, last in store.last_steps(study)]
    return pruning_ladder(pruner, settings, rows, python=python)


def _best_summary(
    store: BaseTrialStore, study: str, record: Study, best: Trial
) -> dict[str, Any]:
    """``status --json``'s ``best``: tid, loss, violation and ``before_override``
    (:meth:`~hpo_service._common.space_mark.OldSpaceBest.to_dict`, or None)."""
    old = old_space_best(store, study, record.settings, best)
    return {
        "tid": best.tid,
        "loss": loss_of(best.result or {}),
        "violation": violation_of(best.result or {}),
        "before_override": None if old is None else old.to_dict(),
    }


def _as_dict(ladder: PruningLadder | None) -> dict[str, Any] | None:
    return None if ladder is None else ladder.as_dict()


def _ladder_lines(record: Mapping[str, Any] | None, indent: str) -> list[str]:
    """The lines of a :func:`study_ladder` record (``status --json``'s
    ``pruning``), indented; none without one."""
    return [] if record is None else [indent + line for line in ladder_lines(record)]


def _front_losses(store: BaseTrialStore, study: str) -> list[dict[str, Any]]:
    """``tid`` and ``loss`` of each trial on the Pareto front, from the done
    trials' light results (no trial read whole)."""
    rows = store.done_results(study)
    front = pareto_front([result for _, result in rows])
    return [{"tid": rows[i][0], "loss": (rows[i][1] or {})["loss"]} for i in front]


def _code_summary(codes: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
    """Each version of the objective's code that ran trials, with how many."""
    counts: dict[tuple[Any, ...], int] = {}
    for code, n in codes:
        key = code_key(code)
        if key is not None:
            counts[key] = counts.get(key, 0) + n
    return [
        {"module": m, "sha256": sha, "version": v, "trials": n}
        for (m, sha, v), n in counts.items()
    ]


def _driver_summary(record: Any, now: float) -> dict[str, Any] | None:
    expires = record.driver_lease_expires_at
    if record.driver_owner is None or expires is None or expires <= now:
        return None
    return {
        "owner": record.driver_owner,
        "lease_left": round(expires - now, 1),
        "alive": not certainly_dead(record.driver_owner),
    }


def _running_summary(trial: RunningTrial, now: float) -> dict[str, Any]:
    lease = trial.lease_expires_at
    return {
        "owner": trial.owner,
        "tid": trial.tid,
        "running_for": _age(trial.started_at, now),
        "lease_left": None if lease is None else round(lease - now, 1),
        "alive": not certainly_dead(trial.owner),
    }


def _age(since: float | None, now: float) -> float | None:
    return None if since is None else round(now - since, 1)


def finished_text(finished: int, max_evals: Any) -> str:
    """``12/50 finished``: a study's finished trials of its ``max_evals``;
    ``unlimited`` for a study run without one (``fmin(max_evals=None)`` beside
    another stop rule; see ``budget_of``); none yet for a study that ``hpo-driver
    import --create`` made (no space, no budget)."""
    if max_evals is None:
        return f"{finished} finished (imported; no space or budget yet)"
    budget = budget_of({"max_evals": max_evals})
    return f"{finished}/{'unlimited' if budget is None else budget} finished"


def status_text(summary: dict[str, Any], db_url: str = DEFAULT_DB) -> str:
    """Human-readable form of :func:`status_summary`; a study without a successful
    trial says what its finished trials were, with the commands that list them
    (as :func:`no_best_text`; naming ``db_url`` unless it is the default store)."""
    counts = summary["counts"]
    finished = sum(counts[state.value] for state in COUNTED_STATES)
    lines = [
        f"study {summary['study']!r}: {finished_text(finished, summary['max_evals'])}"
        + (" (cancelled)" if summary["cancelled"] else ""),
        "  " + "  ".join(_count_cells(summary)),
        "  pruner: " + describe_pruner(**summary["pruner"]),
        *_ladder_lines(summary.get("pruning"), "    "),
        "  driver: " + _driver_text(summary["driver"]),
        f"  workers running trials: {counts['running']}",
    ]
    if summary.get("infeasible"):
        lines.insert(
            2,
            f"  of the done trials, {summary['infeasible']} infeasible "
            "(break a constraint)",
        )
    for w in summary["workers"]:
        lines.append(
            f"    {w['owner']}: trial {w['tid']} for {w['running_for']} s, "
            + _worker_lease_text(w["lease_left"], w.get("alive", True))
        )
    unlisted = counts["running"] - len(summary["workers"])
    if unlisted > 0:  # summarise reads the lowest tids only
        lines.append(
            f"    ... and {counted(unlisted, 'more running trial')} "
            "(`hpo-driver trials --state running` lists them all)"
        )
    best, front = summary["best"], summary.get("pareto_front")
    if best is None and front:
        lines.append(
            f"  Pareto front: {counted(len(front), 'trial')} (hpo-driver best)"
        )
    elif best is None and (summary.get("n_objectives") or 1) > 1:
        succeeded = counts.get("done", 0) - summary.get("failed", 0)
        why = "feasible" if succeeded > 0 else "successful"
        when = f"of the {finished} finished" if _over(summary, finished) else "yet"
        infeasible = succeeded if why == "feasible" else 0
        lines.append(
            f"  Pareto front: empty (no {why} trial {when})"
            + _status_reasons(summary, db_url, when == "yet", infeasible)
        )
    else:
        shown = "none yet" if best is None else f"loss {best['loss']:.6g}"
        if best is None and _over(summary, finished):  # "yet" would promise one
            shown = f"none: no trial of the {finished} finished succeeded"
        lines.append(
            f"  best: {shown}"
            + ("" if best is None else f" (trial {best['tid']})")
            + ("" if best is None else _violation_text(best.get("violation", 0.0)))
        )
        if best is None:
            lines[-1] += _status_reasons(summary, db_url, "yet" in shown)
        if best is not None and best.get("before_override"):
            lines.append(note_text(best["tid"], best["before_override"], "    "))
    return "\n".join(lines + _code_warning(summary.get("code") or []))


def _count_cells(summary: dict[str, Any]) -> list[str]:
    """``done=23  failed=6 (status fail)  pruned=0 ...``: the counts of
    :func:`status_summary` in the words of ``hpo-driver start``'s end line."""
    shown = summary.get("outcomes") or outcome_counts(
        summary["counts"], summary.get("failed") or 0
    )
    return [
        f"{word}={n}" + (" (status fail)" if word == FAILED else "")
        for word, n in shown.items()
    ]


def _status_reasons(
    summary: dict[str, Any], db_url: str, so_far: bool, infeasible: int = 0
) -> str:
    """``"; 3 failed with an error (see `hpo-driver trials ... --state error
    --format json` for their messages and tracebacks)"`` for the best line of
    :func:`status_text` (:func:`failure_reasons`' words), ``"; so far ..."``
    while a success may still come, or ``""`` when no finished trial failed."""
    counts = {TrialState(state): n for state, n in summary["counts"].items()}
    trials = store_command("hpo-driver trials", db_url, summary["study"])
    failed = summary.get("failed") or 0
    reasons = failure_reasons(counts, failed, trials, infeasible=infeasible)
    if not reasons:
        return ""
    return ("; so far " if so_far else "; ") + "; ".join(reasons) + masked_note(db_url)


def _over(settings: Mapping[str, Any], finished: int) -> bool:
    """Whether a study is cancelled or has spent its budget, from its stored
    settings or the :func:`status_summary` (both hold ``max_evals`` and
    ``cancelled``) and its ``finished`` trials."""
    budget = budget_of(settings) or math.inf
    return bool(settings.get("cancelled")) or finished >= budget


def _code_warning(codes: list[dict[str, Any]]) -> list[str]:
    """A warning line when several versions of the objective's code ran trials."""
    if len(codes) < 2:
        return []
    notes = {
        (c["module"], c["sha256"], c["version"]): counted(c["trials"], "trial")
        for c in codes
    }
    return [
        f"  WARNING: {len(codes)} different versions of the objective's code ran "
        f"this study's trials: {describe_codes(notes)}"
    ]


def _worker_lease_text(left: float | None, alive: bool) -> str:
    """A running trial's lease, and what happens to the trial when it has ended."""
    if left is None or left >= 0:
        gone = (
            ""
            if alive
            else " (its process is gone: a driver or idle worker of this host requeues "
            "the trial at once, else it is requeued when the lease ends)"
        )
        return f"lease {left} s left{gone}"
    gone = "" if alive else " (its process is gone)"
    return (
        f"lease ended {-left:.1f} s ago{gone}: the next driver or worker that "
        "reaches the store requeues the trial (`hpo-driver start` resumes the study)"
    )


def _driver_text(driver: dict[str, Any] | None) -> str:
    if driver is None:
        return "none running"
    if not driver.get("alive", True):
        return (
            f"{driver['owner']} is dead (its process is gone; its lease, "
            f"{driver['lease_left']} s left, is taken over by the next "
            "`hpo-driver start`, or `fmin` on its StoreTrials or MongoTrials)"
        )
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
        f"  params: {text_json(record['params'])}\n"
        f"  config: {text_json(record['config'])}"
    )


def outcome_text(study: str, outcome: StudyOutcome, db_url: str = DEFAULT_DB) -> str:
    """What ``hpo-driver start`` prints when the study ends: its counts, and its best
    trial (with none, :func:`no_success_text` is the error that says why); the
    commands it names carry ``db_url`` (masked) unless it is the default store."""
    counts = outcome.counts
    done, failed = counts[TrialState.DONE], outcome.failed
    said = outcome.said or outcome.reason
    cancelled = outcome.reason == "cancelled"
    how = f"was cancelled ({said})" if cancelled else f"finished: {said}"
    head = (
        f"study {study!r} {how}; {done - failed} done, {failed} failed "
        f"(status fail), {counts[TrialState.PRUNED]} pruned, "
        f"{counts[TrialState.ERROR]} error, {counts[TrialState.CANCELLED]} cancelled"
    )
    ladder = outcome.pruning
    if ladder is not None and ladder.worth_showing:
        head += "\n" + "\n".join("  " + line for line in ladder.lines())
    if outcome.best is None:
        return head
    if isinstance((outcome.best.result or {}).get("loss"), list):
        best = store_command("hpo-driver best", db_url, study)
        return (
            f"{head}\nseveral objectives: `{best}` shows the Pareto front"
            + masked_note(db_url)
        )
    shown = head + "\n" + best_text(trial_record(outcome.best))
    if outcome.old_space is not None:  # its config is the one it ran with, stored
        shown += "\n" + outcome.old_space.note()
    return shown


def failure_reasons(
    counts: Mapping[TrialState, int], failed: int, trials: str, *, infeasible: int = 0
) -> list[str]:
    """Why the finished trials of a study did not succeed, one phrase per kind,
    each with the command that lists them: ``"3 failed with an error (see
    `hpo-driver trials --study s --state error --format json` for their messages
    and tracebacks)"`` (the CSV holds only the message).

    Args:
        counts: Trials per state (``count_by_state``'s).
        failed: Done trials whose objective returned status ``fail``.
        trials: The ``hpo-driver trials`` command naming the study (and its store).
        infeasible: Done trials that succeeded but violate their constraints
            (counted only where no such trial can be the best: several objectives,
            or a study that ended without a feasible one).

    Returns:
        The phrases, infeasible trials first, then status fail, error and
        pruned trials; empty when no finished trial is of those kinds.
    """
    kinds = failure_kinds(counts, failed, trials, infeasible=infeasible)
    return [_FAILURE_PHRASES[k["kind"]].format(**k) for k in kinds]


_FAILURE_PHRASES = {
    "infeasible": "{trials} succeeded but violate their constraints (see `{command}`)",
    "fail": "{trials} returned status 'fail' (see `{command}`)",
    "error": "{trials} failed with an error (see `{command}` for their messages and "
    "tracebacks)",
    "pruned": "{trials} were pruned, and a pruned trial is never the best (see "
    "`{command}` for their last reported values)",
}


def failure_kinds(
    counts: Mapping[TrialState, int], failed: int, trials: str, *, infeasible: int = 0
) -> list[dict[str, Any]]:
    """:func:`failure_reasons` as data (``status --json``'s ``why_no_best``): per
    kind of finished trial that did not succeed, ``{"kind": "infeasible", "fail",
    "error" or "pruned", "trials": count, "command": the hpo-driver trials command
    that lists them}``, in that order; the arguments are :func:`failure_reasons`'.
    """
    commands = {
        "infeasible": (infeasible, f"{trials} --state done"),
        "fail": (failed, f"{trials} --status fail"),
        "error": (counts.get(TrialState.ERROR, 0), f"{trials} {ERRORS_LISTED}"),
        "pruned": (counts.get(TrialState.PRUNED, 0), f"{trials} --state pruned"),
    }
    return [
        {"kind": kind, "trials": n, "command": command}
        for kind, (n, command) in commands.items()
        if n > 0
    ]


def no_best_text(
    store: BaseTrialStore,
    study: str,
    db_url: str = DEFAULT_DB,
    what: str = "successful",
) -> str:
    """What ``hpo-driver best`` says of a study without a successful (or, with
    several objectives, feasible: ``what``) trial: whether one may still come,
    and what its finished trials were, each kind with the command that lists it
    (naming ``db_url`` unless it is the default store, masked).

    Example: ``study 'f' has no successful trial: none of its 3 finished trials
    succeeded; 3 failed with an error (see `hpo-driver trials --study f --state
    error --format json` for their messages and tracebacks)``.
    """
    summary = store.summarise(study)
    trials = store_command("hpo-driver trials", db_url, study)
    succeeded = summary.counts[TrialState.DONE] - summary.failed
    infeasible = succeeded if what == "feasible" else 0
    reasons = failure_reasons(
        summary.counts, summary.failed, trials, infeasible=infeasible
    )
    tail = none_yet(store, study, what)
    text = f"study {study!r} has no {what} trial{tail}"
    if not reasons:
        return text
    so_far = " so far" if tail == " yet" else ""
    return f"{text};{so_far} " + "; ".join(reasons) + masked_note(db_url)


def no_success_text(
    study: str, outcome: StudyOutcome, db_url: str = DEFAULT_DB, local_flags: str = ""
) -> str:
    """Why no trial succeeded (or none feasibly), with the commands that list the
    failures (naming ``db_url`` unless it is the default store, masked); the command
    that resumes a cancelled study ends with ``local_flags``
    (:func:`local_worker_flags` and :func:`stop_rule_flags`)."""
    counts = outcome.counts
    trials = store_command("hpo-driver trials", db_url, study)
    succeeded = counts[TrialState.DONE] - outcome.failed
    reasons = failure_reasons(counts, outcome.failed, trials, infeasible=succeeded)
    if not reasons and outcome.reason != "cancelled":
        return _nothing_finished_text(study, outcome, db_url)
    text = f"no trial of study {study!r} succeeded"
    if succeeded:
        text += " with its constraints satisfied"
    if outcome.reason == "cancelled":
        start = store_command("hpo-driver start", db_url, study) + local_flags
        text = (
            f"study {study!r} was cancelled before any trial succeeded; "
            f"`{start}` resumes it"
        )
    if reasons:
        text += ": " + "; ".join(reasons)
    return text + masked_note(db_url)


def _nothing_finished_text(study: str, outcome: StudyOutcome, db_url: str) -> str:
    """Why a study ended with no finished trial (a stop rule before the first)."""
    why = outcome.said or outcome.reason
    text = f"no trial of study {study!r} finished: {why} before the first one did"
    if outcome.reason == "timeout":
        worker = store_command("hpo-worker", db_url, study)
        text += (
            f" (are workers running? start one with `{worker}`, or pass --workers K)"
            + masked_note(db_url)
        )
    return text


def pruner_objectives_note(settings: StudySettings) -> str | None:
    """What a study of several objectives with a pruner is told when its driver
    starts: what the pruner compares (a new user cannot tell from the output that
    pruning is allowed there, nor on what); None for other studies (or while the
    number of objectives is unknown, before ``--objectives`` or a first result)."""
    return several_objectives_pruning(settings.pruner, settings.n_objectives)


def several_objectives_pruning(
    pruner: str | None, n_objectives: int | None
) -> str | None:
    """What pruner ``pruner`` (its name; None or ``"none"`` for no pruner) compares
    in a study of ``n_objectives`` objectives (None: not known yet), said when a
    search starts or first shows several objectives; None when there is nothing to
    say (no pruner, one objective, or a count not known yet)."""
    if pruner in (None, "none") or (n_objectives or 1) < 2:
        return None
    return (
        f"pruner {pruner}: each trial is judged by the one value its "
        "objective reports (report(value, step)), compared with the other trials' "
        "values at that step, not by the Pareto front: a trial poor on that value "
        "is stopped even where it would join the front on another objective"
    )


def local_worker_flags(workers: int, show_output: bool = True) -> str:
    """The options of ``hpo-driver start`` that a command to resume its study must
    repeat: ``" --workers K"`` (and ``" --no-objective-output"``) when it ran local
    workers, else ``""``. Without them a pasted hint started a driver that waited
    for workers nobody started."""
    if workers <= 0:
        return ""
    return f" --workers {workers}" + ("" if show_output else " --no-objective-output")


def stop_rule_flags(settings: StudySettings) -> str:
    """The stop rules of a run of ``hpo-driver start``, as the options a command to
    resume its study must repeat: ``" --loss-threshold 0.1 --timeout 600
    --no-improvement 20"`` (those given), else ``""``.

    The store does not keep them (they belong to the run that gives them,
    :data:`~hpo_service.driver._study.RUN_ONLY_KEYS`): a pasted hint without them
    resumed a study that then ran to ``--max-evals``, past the rules it was started
    with. ``--timeout`` is repeated as given: the resumed run gets that many seconds
    of its own.

    Args:
        settings: The settings in force for the run (its stop rules, or None).
    """
    rules = (
        ("--loss-threshold", settings.loss_threshold),
        ("--timeout", settings.timeout),
        ("--no-improvement", settings.no_improvement),
    )
    return "".join(
        f" {flag} {shlex.quote(number_text(value))}"
        for flag, value in rules
        if value is not None
    )


def resume_hint(
    study: str,
    how: str,
    db_url: str = DEFAULT_DB,
    store: BaseTrialStore | None = None,
    local_flags: str = "",
) -> str:
    """What an interrupted ``hpo-driver start`` says before it exits.

    Its running trials may complete the budget while the local workers finish
    them: the study is then said to have finished, with the command that shows its
    best trial, instead of a command to resume a study that has nothing left to run.

    Args:
        study: The study's name.
        how: How the driver stopped (``"stopped by SIGINT"``).
        db_url: The store's URL, for the command to resume.
        store: The open store: the hint then says how many trials finished, read
            once the local workers have settled their running trials.
        local_flags: :func:`local_worker_flags` and :func:`stop_rule_flags` of the
            run, added to the command.
    """
    finished, complete = ("", False) if store is None else _finished_text(store, study)
    if complete:
        best = store_command("hpo-driver best", db_url, study)
        return (
            f"hpo-driver {how}: study {study!r} finished meanwhile{finished}; "
            f"`{best}` shows its best trial" + masked_note(db_url)
        )
    start = store_command("hpo-driver start", db_url, study) + local_flags
    return (
        f"hpo-driver {how}: study {study!r} is not finished{finished} (its queued "
        f"trials are kept); run `{start}` again to resume it" + masked_note(db_url)
    )


#: The order in which ``hpo-driver start``'s end line and progress line name the
#: finished states (:func:`outcome_text`: done, failed, pruned, error, cancelled).
_END_LINE_ORDER = (
    TrialState.DONE,
    TrialState.PRUNED,
    TrialState.ERROR,
    TrialState.CANCELLED,
)


def _finished_text(store: BaseTrialStore, study: str) -> tuple[str, bool]:
    """``: 3/50 trials finished (2 done, 1 failed (status fail))`` and whether
    the finished trials fill the budget (``--max-evals``); ``("", False)`` if the
    store cannot say."""
    try:
        budget = budget_of(store.get_study(study).settings)
        summary = store.summarise(study)
    except (ConnectionError, HPOServiceError):
        return "", False
    order = sorted(COUNTED_STATES, key=_END_LINE_ORDER.index)  # as the end line's
    counts = {s.value: summary.counts[s] for s in order}
    shown = outcome_words(outcome_counts(counts, summary.failed), zeros=False)
    finished = sum(counts.values())
    total = "" if budget is None else f"/{budget}"
    complete = budget is not None and finished >= budget
    text = f": {finished}{total} trials finished ({shown if finished else 'none'})"
    return text, complete
