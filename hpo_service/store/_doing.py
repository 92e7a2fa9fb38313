"""What a store call does, in the words its failures and retry warnings use.

Both backends name their calls by method (``"claim"``, ``"report_many"``); a user
reading "MongoDB store URL: claiming a trial failed, retrying in 0.010 s ..." or
"SQLite store 'hpo.sqlite': taking or renewing the driver's lease failed: database
or disk is full" learns what the driver or worker was doing. Calls not listed keep
their names.
"""

from __future__ import annotations

_DOING = {
    "changes_since": "reading the study's changed trials",
    "allocate a version": "reading the study's changed trials (taking a version)",
    "number pending writes": "reading the study's changed trials (numbering them)",
    "reports_since": "reading the trials' reports",
    "running_intermediate": "reading the running trials' reports",
    "last_steps": "reading the trials' last reported steps",
    "claim": "claiming a trial",
    "heartbeat": "renewing a running trial's lease (heartbeat)",
    "report": "storing a trial's report",
    "report_many": "storing a trial's reports",
    "complete": "recording a trial's result",
    "fail": "recording a trial's error",
    "prune": "recording a pruned trial",
    "release": "handing a trial back",
    "reclaim": "taking a trial back after its lease ran out",
    "attachments": "checking a trial before storing its attachments",
    "put_attachments": "storing a trial's attachments",
    "requeue_expired": "requeueing trials whose lease ran out",
    "running_trials": "reading the running trials",
    "running_by_study": "reading the running trials",
    "count_by_state": "counting the study's trials",
    "acquire_driver_lease": "taking or renewing the driver's lease",
    "release_driver_lease": "giving the driver's lease back",
    "allocate tids": "numbering new trials",
    "insert_trials": "adding trials",
    "get_study": "reading the study",
    "read study": "reading the study",
    "patch_study_settings": "updating the study's settings",
    "update_study_settings": "updating the study's settings",
    "summarise": "summarising the study",
    "get_trial": "reading a trial",
    "get_trials": "reading the study's trials",
    "done_results": "reading the done trials' results",
    "best_trial": "reading the best trial",
    "cancel": "cancelling trials",
    "fill_configs": "giving imported trials their configs",
    "trial_keys": "gathering the keys of the study's trials",
    "export_trials": "reading the study's trials for an export",
}


def doing(call: str) -> str:
    """What the store call named ``call`` does, for messages (``"claim"`` ->
    ``"claiming a trial"``); unlisted calls keep their name."""
    return _DOING.get(call, call)
