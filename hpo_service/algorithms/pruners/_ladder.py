"""What a study's pruner did, in a few numbers a user can read.

A study under ASHA with the default ladder (rungs at steps 1, 2, 4, 8, 16, half of the
trials going on at each) ends with most of its trials pruned: by design about one
trial in ``eta**k`` passes ``k`` rungs. :func:`pruning_ladder` counts, from the
trials' reports alone, how many trials reached each rung, how many went on past it
and how many were pruned there (for the median and percentile pruners: at which
steps trials were pruned), so that ``hpo-driver status``, the end of ``hpo-driver
start`` and ``fmin``, and the report show it as the rule at work.

Counting rules (the store keeps a trial's reports, not the pruner's decisions):

- a trial *reached* a rung when it reported at or past the rung's step (the pruner
  judges it at its first report there);
- a pruned trial was *pruned at* the highest rung its reports reached (the pruner
  stops a trial at the report that reached the rung, and the objective that asks
  ``should_prune()`` after each report stops there); a pruned trial that reached
  no rung stopped itself (raised ``TrialPruned`` without the pruner);
- the trials that *went on* past a rung are those that reached it and were not
  pruned there: running on, finished or complete.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from hpo_service.algorithms.pruners._asha import ASHAPruner
from hpo_service.algorithms.pruners._hyperband import HyperbandPruner

_RUNG_PRUNERS = ("asha", "hyperband")
_STEP_PRUNERS = ("median", "percentile")
_STEPS_SHOWN = 6  # steps (or step ranges) listed for the median/percentile pruner
#: Each pruner setting's ``hpo-driver start`` flag. In Python the setting is named
#: as its keyword argument, its own name (``ASHAPruner(max_resource=27)``).
SETTING_FLAGS = {
    "min_resource": "--min-resource",
    "max_resource": "--max-resource",
    "reduction_factor": "--reduction-factor",
    "min_early_stopping_rate": "--early-stopping-rate",
    "n_startup_trials": "--startup-trials",
    "n_warmup_steps": "--warmup-steps",
    "interval_steps": "--interval-steps",
    "percentile": "--percentile",
}
#: A rung's counts (:meth:`Rung.as_dict` keys) and their column titles, in order.
RUNG_COLUMNS = {
    "step": "step",
    "reached": "reached",
    "went_on": "went on",
    "pruned": "pruned",
}

#: The cells of :meth:`Rung.passed` in a table (:func:`passed_cells`), and their
#: column titles.
PASSED_COLUMNS = {
    "judged": "judged",
    "passed": "passed",
    "first_half": "first half",
    "last_half": "last half",
}


@dataclass
class Rung:
    """One rung of an ASHA ladder (or of a Hyperband bracket).

    Attributes:
        step: The rung's step.
        reached: Trials that reported at or past ``step``.
        went_on: Of those, the trials not pruned at this rung.
        pruned: Of those, the pruned trials whose reports reached no higher rung.
    """

    step: int
    reached: int = 0
    went_on: int = 0
    pruned: int = 0
    passed_by_tid: list[tuple[int, bool]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, int]:
        """The JSON form: ``{"step", "reached", "went_on", "pruned"}``."""
        return {key: getattr(self, key) for key in RUNG_COLUMNS}

    def passed(self) -> dict[str, Any]:
        """How many of the trials judged at this rung passed it: all of them, the
        first half by trial number and the last half (``{"step", "passed",
        "judged", "first_half": [passed, judged], "last_half": [passed,
        judged]}``). A trial *passed* a rung when it reached the next one, or
        completed (done); it was *judged* there when it passed or was pruned there
        (a trial still running below the next rung is neither)."""
        fates = [passed for _, passed in sorted(self.passed_by_tid)]
        half = len(fates) // 2
        first, last = fates[:half], fates[len(fates) - half :]
        return {
            "step": self.step,
            "passed": sum(fates),
            "judged": len(fates),
            "first_half": [sum(first), len(first)],
            "last_half": [sum(last), len(last)],
        }


@dataclass
class PruningLadder:
    """What a study's pruner did (see the module's counting rules).

    Attributes:
        pruner: The pruner's name (``asha``, ``hyperband``, ``median``,
            ``percentile``).
        rule: The pruner's rule in one sentence, saying what to expect.
        brackets: The rungs, one list per bracket (one bracket for ASHA; Hyperband's
            bracket 0, the most aggressive, first). Empty for median/percentile.
        pruned_at_steps: ``{step: pruned trials whose last report was at step}``
            (median/percentile), in step order.
        pruned_unjudged: Pruned trials that reached no rung (ASHA, Hyperband): their
            objective stopped itself.
        unreported: Completed (done) trials that reported nothing (a pruner never
            judges them).
        notes: Advice on the settings, one sentence each (e.g. a missing
            ``max_resource``).
    """

    pruner: str
    rule: str
    brackets: list[list[Rung]] = field(default_factory=list)
    pruned_at_steps: dict[int, int] = field(default_factory=dict)
    pruned_unjudged: int = 0
    unreported: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``hpo-driver status --json``'s ``pruning``)."""
        out: dict[str, Any] = {"pruner": self.pruner, "rule": self.rule}
        if self.pruner == "asha":
            out["rungs"] = [r.as_dict() for r in self.brackets[0]]
        elif self.pruner == "hyperband":
            out["brackets"] = [
                {"bracket": b, "rungs": [r.as_dict() for r in rungs]}
                for b, rungs in enumerate(self.brackets)
            ]
        if self.brackets:
            out["passed"] = [
                {**({"bracket": b} if self.pruner == "hyperband" else {}), **r.passed()}
                for b, rungs in enumerate(self.brackets)
                for r in rungs
            ]
        else:
            out["pruned_at_steps"] = {
                str(s): n for s, n in self.pruned_at_steps.items()
            }
        out["pruned_unjudged"] = self.pruned_unjudged
        out["unreported"] = self.unreported
        out["notes"] = list(self.notes)
        return out

    def lines(self) -> list[str]:
        """A few lines of text (see :func:`ladder_lines`)."""
        return ladder_lines(self.as_dict())

    @property
    def worth_showing(self) -> bool:
        """Whether a run's end should show it: a trial was pruned, or completed
        without reporting (so the pruner never judged it)."""
        pruned = sum(r.pruned for rungs in self.brackets for r in rungs)
        pruned += sum(self.pruned_at_steps.values()) + self.pruned_unjudged
        return pruned > 0 or self.unreported > 0


def ladder_lines(record: Mapping[str, Any]) -> list[str]:
    """A few lines of text from :meth:`PruningLadder.as_dict`'s form: the rule, then
    the rungs as a small table (or the steps trials were pruned at), then
    :func:`ladder_notes`."""
    lines = [record["rule"]]
    if "rungs" in record:
        lines += _rung_table([record["rungs"]], by_bracket=False)
    elif "brackets" in record:
        lines += _rung_table([b["rungs"] for b in record["brackets"]], by_bracket=True)
    elif record.get("pruned_at_steps"):
        lines.append(pruned_at_text(record))
    return lines + passed_lines(record) + ladder_notes(record)


def passed_lines(record: Mapping[str, Any]) -> list[str]:
    """How many trials passed each rung, of those judged there, in all and in the
    first and the last half of them by trial number, from a record's ``passed``,
    as a small table: the rule's "1 in eta" holds for trials of one quality, and
    the halves show whether later trials passed more often, as they do when the
    search finds better configurations (README, "What to expect").
    None before a trial was judged."""
    rungs = [r for r in record.get("passed") or [] if r["judged"]]
    if not rungs:
        return []
    by_bracket = any("bracket" in r for r in rungs)
    head = (["bracket"] if by_bracket else []) + ["step", *PASSED_COLUMNS.values()]
    rows = [
        ([str(r["bracket"])] if by_bracket else []) + [str(r["step"])] + passed_cells(r)
        for r in rungs
    ]
    return [
        "passed, of the trials judged at each rung (in all, then the first and the "
        "last half of them by trial number: later trials pass more often when the "
        "search finds better configurations, not in every study):",
        *_table(head, rows),
    ]


def passed_cells(passed: Mapping[str, Any]) -> list[str]:
    """One rung's :meth:`Rung.passed` form as the cells under
    :data:`PASSED_COLUMNS`: ``["8", "6", "2/4", "4/4"]``."""
    halves = ["{}/{}".format(*passed[half]) for half in ("first_half", "last_half")]
    return [str(passed["judged"]), str(passed["passed"]), *halves]


def rung_table(record: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The rungs and how many trials passed each, as one table, from
    :meth:`PruningLadder.as_dict`'s form (what the report and the dashboard show;
    ``hpo-driver status`` prints the same cells as two tables).

    Args:
        record: An ASHA or Hyperband record (with ``rungs`` or ``brackets``, and
            ``passed``, one entry per rung in the same order).

    Returns:
        ``(head, rows)``, every cell as text: a ``bracket`` column first for
        Hyperband, then :data:`RUNG_COLUMNS` (step, reached, went on, pruned) and
        :data:`PASSED_COLUMNS` (judged, passed, first half, last half); ``([], [])``
        for a record without rungs (median, percentile, or no rung reached yet).
    """
    rungs = rungs_with_passed(record)
    if not rungs:
        return [], []
    by_bracket = "brackets" in record
    head = (["bracket"] if by_bracket else []) + list(RUNG_COLUMNS.values())
    rows = [
        ([str(bracket)] if by_bracket else [])
        + [str(rung[key]) for key in RUNG_COLUMNS]
        + passed_cells(fates)
        for bracket, rung, fates in rungs
    ]
    return head + list(PASSED_COLUMNS.values()), rows


def rungs_with_passed(
    record: Mapping[str, Any],
) -> list[tuple[int | None, Mapping[str, Any], Mapping[str, Any]]]:
    """Each rung of an ASHA or Hyperband record (:meth:`PruningLadder.as_dict`'s
    form) as ``(bracket, counts, passed)``: its bracket (None under ASHA), its
    :meth:`Rung.as_dict` form and its :meth:`Rung.passed` form, in the record's
    order (Hyperband: bracket by bracket); [] for a record without rungs."""
    if "brackets" in record:
        rungs = [(b["bracket"], r) for b in record["brackets"] for r in b["rungs"]]
    else:
        rungs = [(None, r) for r in record.get("rungs") or []]
    passed = record.get("passed") or []
    if len(passed) != len(rungs):  # as_dict gives both, one entry per rung
        return []
    return [(b, r, p) for (b, r), p in zip(rungs, passed, strict=True)]


def no_rungs_note(name: str | None, python: bool) -> str:
    """Why a study's page shows no rung table, in one line: its pruner (``name``;
    None or ``none``: no pruner) has no rungs; ``python``: see
    :func:`pruning_ladder` (the pruner is then named as ``fmin``'s argument)."""
    which = "--pruner asha or hyperband"
    if python:
        which = 'pruner="asha" or "hyperband"'
    if name in (None, "none"):
        return (
            "No pruner: every trial runs to its end. Under ASHA or Hyperband "
            f"({which}) this shows, per rung, the trials that reached it, were "
            "pruned there and passed it."
        )
    return (
        f"No rung table: the {name} pruner judges trials at every step, not at "
        f"rungs (ASHA and Hyperband have rungs: {which})."
    )


def pruned_at_text(record: Mapping[str, Any]) -> str:
    """``pruned at step 1: 12, step 2: 5`` (ranges when there are many steps) from
    a median/percentile record's ``pruned_at_steps``; "" without."""
    counts = {int(s): n for s, n in (record.get("pruned_at_steps") or {}).items()}
    return "pruned at " + _steps_text(counts) if counts else ""


def ladder_notes(record: Mapping[str, Any]) -> list[str]:
    """What else a user should know, one sentence each: trials pruned before any
    judgement, trials that never reported, advice on the settings."""
    lines = []
    if unjudged := record.get("pruned_unjudged"):
        where = "any report" if "pruned_at_steps" in record else "the first rung"
        lines.append(
            f"{unjudged} pruned before {where} (the objective raised TrialPruned "
            "itself)"
        )
    if unreported := record.get("unreported"):
        lines.append(
            f"{unreported} completed without a report: the pruner judges only trials "
            "that call hpo_service.report(value, step)"
        )
    return lines + list(record.get("notes") or [])


def pruning_ladder(
    name: str,
    settings: Mapping[str, Any] | None,
    trials: Iterable[tuple[int, str, int | None]],
    *,
    python: bool = False,
) -> PruningLadder | None:
    """Count what pruner ``name`` did to ``trials``.

    Args:
        name: The study's pruner (a key of
            :data:`~hpo_service.algorithms.pruners.PRUNERS`).
        settings: Its settings, as the study stores them.
        trials: ``(tid, state, last step)`` of the study's trials, finished or
            running (``state`` as :class:`~hpo_service.store.TrialState` values:
            ``"done"``, ``"pruned"``, ``"running"``, ...; the last step as
            :func:`last_step` gives it, None for a trial that reported nothing);
            queued ones may be left out.
        python: Whether the user runs the study from Python (``fmin(...,
            pruner=...)``): the advice in the notes then names the pruner's keyword
            arguments (``max_resource=9``), else ``hpo-driver start``'s flags
            (``--max-resource 9``); see :func:`setting_name`.

    Returns:
        The counts, or None for a pruner that stops nothing (``none``) or an unknown
        one.

    Raises:
        ValueError: ``settings`` do not make a valid pruner.
    """
    from hpo_service.algorithms.pruners import make_pruner

    if name not in _RUNG_PRUNERS + _STEP_PRUNERS:
        return None
    rows = [(tid, str(state), last) for tid, state, last in trials]
    unreported = sum(last is None and s == "done" for _, s, last in rows)
    if name in _RUNG_PRUNERS:
        pruner = make_pruner(name, dict(settings or {}))
        rung_pruner = cast("ASHAPruner | HyperbandPruner", pruner)
        ladder = _rung_ladder(rung_pruner, rows, python)
    else:  # not built: the median pruner loads numpy, which `status` does not need
        ladder = PruningLadder(name, _step_rule(name, settings or {}))
        pruned = [last for _, s, last in rows if s == "pruned"]
        ladder.pruned_at_steps = dict(
            sorted(Counter(s for s in pruned if s is not None).items())
        )
        ladder.pruned_unjudged = pruned.count(None)
        if ladder.pruned_at_steps:
            raised = ["n_warmup_steps", "n_startup_trials"]
            raised += ["percentile"] if name == "percentile" else []
            names = [setting_name(setting, python) for setting in raised]
            ladder.notes.append(f"to prune less: raise {' or '.join(names)}")
    ladder.unreported = unreported
    return ladder


def setting_name(setting: str, python: bool, value: int | None = None) -> str:
    """How advice names a pruner setting (a key of :data:`SETTING_FLAGS`), with a
    value to give it or without: ``--max-resource 9`` (``hpo-driver start``'s flag)
    or, from Python, ``max_resource=9`` (the pruner's keyword argument)."""
    if python:
        return setting if value is None else f"{setting}={value}"
    flag = SETTING_FLAGS[setting]
    return flag if value is None else f"{flag} {value}"


def last_step(intermediate: Mapping[Any, Any]) -> int | None:
    """The highest step of a trial's reports ``{step: value}`` (steps as ints or
    their text), or None without one."""
    if not intermediate:
        return None
    if isinstance(next(iter(intermediate)), int):  # a store's: max in C, no int()
        return int(max(intermediate))
    return max(int(s) for s in intermediate)


def _rung_ladder(
    pruner: ASHAPruner | HyperbandPruner,
    rows: list[tuple[int, str, int | None]],
    python: bool,
) -> PruningLadder:
    """Count each bracket's rungs (ASHA: one bracket); ``python``: see
    :func:`pruning_ladder`."""
    settings = pruner.settings()
    if isinstance(pruner, ASHAPruner):
        steps, bracket_of = [pruner.rung_steps()], (lambda tid: 0)
    else:
        steps, bracket_of = pruner.bracket_rungs(), pruner.bracket_of
    brackets = [[Rung(step) for step in ladder] for ladder in steps]
    unjudged = 0
    for tid, state, last in rows:
        rungs = brackets[bracket_of(tid)]
        reached = [r for r in rungs if last is not None and last >= r.step]
        for rung in reached:
            rung.reached += 1
        for rung in reached[:-1]:  # it reached the next rung: passed this one
            rung.passed_by_tid.append((tid, True))
        if reached and state in ("done", "pruned"):  # judged at its highest rung
            reached[-1].passed_by_tid.append((tid, state == "done"))
        if state == "pruned":
            if reached:
                reached[-1].pruned += 1
            else:
                unjudged += 1
    for rungs in brackets:
        for rung in rungs:
            rung.went_on = rung.reached - rung.pruned
    first = min((r.step for rungs in brackets for r in rungs), default=None)
    if settings.get("max_resource") is None:  # unbounded: the rungs anyone reached
        brackets = [[r for r in rungs if r.reached] for rungs in brackets]
    ladder = PruningLadder(pruner.name, _rung_rule(pruner.name, settings), brackets)
    ladder.pruned_unjudged = unjudged
    ladder.notes += _no_rung_note(first, brackets, settings, python)
    if any(r.pruned for rungs in brackets for r in rungs):
        ladder.notes.append(_less_note(python, settings["reduction_factor"]))
    if settings.get("max_resource") is None:
        ladder.notes += _last_step_note(rows, python)
    else:
        steps = [r.step for rungs in brackets for r in rungs]
        top = settings["max_resource"]
        ladder.notes += _short_trials_note(rows, top, steps, python)
    return ladder


def _short_trials_note(
    rows: list[tuple[int, str, int | None]], top: int, rungs: list[int], python: bool
) -> list[str]:
    """Advice when the complete trials stop reporting below ``max_resource`` (``top``)
    and before some of the ``rungs``: those are never reached, never judged."""
    complete = [last for _, s, last in rows if s == "done" and last is not None]
    last = max(complete, default=None)
    if last is None or not any(step > last for step in rungs):
        return []
    below = setting_name("max_resource", python, top)
    below += "" if python else " (max_resource)"
    return [
        f"the complete trials reported up to step {last}, below {below}: rungs past "
        f"step {last} are never reached; give the steps of a complete trial"
    ]


def _no_rung_note(
    first: int | None,
    brackets: list[list[Rung]],
    settings: Mapping[str, Any],
    python: bool,
) -> list[str]:
    """Why the table is empty: no rung lies below ``max_resource`` (``first`` is
    None: the pruner judges no trial), or no trial reached the first rung yet."""
    if first is None:
        top = setting_name("max_resource", python, settings["max_resource"])
        low, high = (setting_name(s, python) for s in ("min_resource", "max_resource"))
        return [
            f"no rung lies below {top} (rungs at min_resource * reduction_factor^k "
            f"below it): this pruner stops no trial; lower {low} or raise {high}"
        ]
    if not any(brackets):
        return [f"no trial has reached the first rung (step {first}) yet"]
    return []


def _less_note(python: bool, reduction_factor: int) -> str:
    """How to prune less with rungs (``python``: see :func:`pruning_ladder`); at
    ``reduction_factor`` 2, the smallest, only ``min_resource`` can change."""
    low, eta = (setting_name(s, python) for s in ("min_resource", "reduction_factor"))
    lower = f" or lower {eta}" if reduction_factor > 2 else ""
    return f"to prune less: raise {low}{lower} (README, 'Stopping bad trials early')"


def _last_step_note(rows: list[tuple[int, str, int | None]], python: bool) -> list[str]:
    """Advice when trials were pruned at the last step of the complete trials: with
    no ``max_resource`` a rung may sit at a trial's last step, where stopping it
    saves nothing (a rung at or past ``max_resource`` is never judged)."""
    complete = max((last or 0 for _, s, last in rows if s == "done"), default=0)
    late = sum(s == "pruned" and (last or 0) >= complete > 0 for _, s, last in rows)
    if not late:
        return []
    give = setting_name("max_resource", python, complete)
    give += "" if python else f" (max_resource={complete})"
    return [
        f"{late} pruned at step {complete}, the last step of the complete trials, "
        f"where stopping saves nothing: give {give}, the steps of a complete trial, "
        "so that no rung sits there"
    ]


def short_rule(name: str, settings: Mapping[str, Any] | None) -> str | None:
    """The pruner's rule in a few words for a progress line (``ASHA keeps the best
    1/2 at each rung``), or None for a pruner that stops nothing."""
    from hpo_service.algorithms.pruners import with_defaults

    if name not in _RUNG_PRUNERS + _STEP_PRUNERS:
        return None
    settings = with_defaults(name, settings)
    if name in _RUNG_PRUNERS:
        who = "ASHA" if name == "asha" else "Hyperband"
        return f"{who} keeps the best 1/{settings['reduction_factor']} at each rung"
    percentile = settings["percentile"]
    where = "median" if percentile == 50 else f"{percentile:g}th percentile"
    return f"the {name} pruner stops trials behind the {where}"


def _rung_rule(name: str, settings: Mapping[str, Any]) -> str:
    """``ASHA keeps the best 1/2 at each rung, by design ...``."""
    eta = settings["reduction_factor"]
    who = "ASHA" if name == "asha" else "Hyperband (ASHA in each bracket)"
    return (
        f"{who} keeps the best 1/{eta} at each rung and prunes the rest, by design: "
        f"about 1 trial in {eta}^k passes k rungs"
    )


def _step_rule(name: str, settings: Mapping[str, Any]) -> str:
    """The median/percentile rule with its settings (the defaults where unset)."""
    from hpo_service.algorithms.pruners import with_defaults

    settings = with_defaults(name, settings)
    percentile = settings["percentile"]
    against = "the median" if percentile == 50 else f"the {percentile:g}th percentile"
    averages = "running averages" if settings["running_average"] else "values"
    return (
        f"the {name} pruner stops a trial whose best value so far is worse than "
        f"{against} of the completed trials' {averages} at that step (from "
        f"{settings['n_startup_trials']} completed trials on, and from step "
        f"{settings['n_warmup_steps']})"
    )


def _rung_table(brackets: list[list[Mapping[str, int]]], by_bracket: bool) -> list[str]:
    """The rungs (:meth:`Rung.as_dict` forms) as a small right-aligned table, with a
    bracket column for Hyperband."""
    head = (["bracket"] if by_bracket else []) + list(RUNG_COLUMNS.values())
    rows = [
        ([str(b)] if by_bracket else []) + [str(r[key]) for key in RUNG_COLUMNS]
        for b, rungs in enumerate(brackets)
        for r in rungs
    ]
    return _table(head, rows) if rows else []  # none: the notes say why


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    """``head`` and ``rows`` as right-aligned columns, two spaces apart."""
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    return [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in [head, *rows]
    ]


def _steps_text(counts: Mapping[int, int]) -> str:
    """``step 1: 12, step 2: 5`` (ranges ``steps 3-9: 4`` when there are many)."""
    steps = list(counts)
    size = -(-len(steps) // _STEPS_SHOWN)  # steps per group
    parts = []
    for i in range(0, len(steps), size):
        group = steps[i : i + size]
        n = sum(counts[s] for s in group)
        where = (
            f"step {group[0]}" if len(group) == 1 else f"steps {group[0]}-{group[-1]}"
        )
        parts.append(f"{where}: {n}")
    return ", ".join(parts)
