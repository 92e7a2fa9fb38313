"""Whether a claimed trial fits its study's budget (``max_evals``).

A driver never queues past the budget and cancels the queued trials beyond it, but a
point queued by hand (``hpo-driver enqueue``) into a study whose budget is spent has
no driver to cancel it. So every worker judges the trial it just claimed, from the
study's counts read after its claim:

- ``run``: the finished trials that count (done, error, pruned) plus the *other*
  running trials leave room for it;
- ``cancel``: the counted finished trials alone reach ``max_evals`` (the study is
  finished; that never undoes itself unless the budget is raised): the trial and
  the study's other queued trials are cancelled, their ``error`` saying why (type
  ``BeyondBudget``, shown by ``hpo-driver trials``);
- ``wait``: the budget is taken only with the running trials counted: the trial is
  handed back and stays queued (it runs if one of those ends without counting, for
  instance when it is requeued or cancelled; it is cancelled once they finished).

Why it holds with any number of workers claiming at once: each worker reads the
counts after its own claim landed, so of any two workers whose trials both ``run``,
the one that read last saw the other's trial running or finished. Were
``max_evals + 1`` trials to run, the last of them to read would have seen the other
``max_evals`` and not run. The race only errs the other way: two workers may both
see each other and both hand back (``wait``); they claim again after their next
poll, so the trial runs a little later. Nothing is counted twice or lost.

This needs the counts to be one consistent read (``count_by_state`` promises it):
counted state by state in separate reads, a trial finishing between them was
counted in neither, and a sixth trial of a budget of 5 ran (SQLite, under load).

A trial taken back is judged like a claimed one. A running trial whose lease ran
out is requeued and, while queued, counted by nobody, so trials judged meanwhile may
run and fill the budget. Its first attempt may take it back (its heartbeat came late:
``reclaim``); the attempt then reads the counts after the take back and obeys the
verdict as after a claim: ``run`` on, or hand the trial back (``wait``) or cancel it
(``cancel``) and stop its objective. The worker writes an outcome only with no take
back pending judgement (a take back whose read failed is judged again first), so the
rule is: **an attempt's outcome counts only on a ``run`` read after its latest claim
or take back**. The argument above then holds with "claim" read as "claim or take
back": from its latest one on, a trial is running or finished, so the last of
``max_evals + 1`` such reads would have seen the other ``max_evals``. Before, the
taken-back trial ran on unjudged, and the study ended one past its budget.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

from hpo_service._common.settings import counted_finished
from hpo_service.store._base import TrialState

_logger = logging.getLogger(__name__)

Verdict = Literal["run", "wait", "cancel"]


def budget_verdict(counts: Mapping[TrialState, int], max_evals: int) -> Verdict:
    """Judge one claimed (so running) trial against the study's budget.

    Args:
        counts: The study's trials by state, read after the trial was claimed (so
            ``counts[RUNNING]`` includes it).
        max_evals: The study's budget (finished trials that count).

    Returns:
        ``"run"``, ``"wait"`` (hand it back) or ``"cancel"`` (see the module).
    """
    finished = counted_finished(counts)
    others = counts.get(TrialState.RUNNING, 0) - 1
    if finished >= max_evals:
        return "cancel"
    if finished + others >= max_evals:
        return "wait"
    return "run"
