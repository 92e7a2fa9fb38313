"""Why a worker stopped, in its user's words: the flag as typed, not the stop
reason's internal name (``idle_timeout``)."""

from __future__ import annotations

from collections.abc import Mapping

from hpo_service._common.words import counted

DEFAULT_FLAGS = {
    "max_trials": "--max-trials",
    "idle_timeout": "--idle-timeout",
    "max_consecutive_failures": "--max-consecutive-failures",
    "last_job_timeout": "--last-job-timeout",
}
"""The flag of each setting that stops a worker, as ``hpo-worker`` names it;
hyperopt's aliases (``--reserve-timeout``, ``--max-jobs``) replace them when given."""


def typed_flag(setting: str, flags: Mapping[str, str]) -> str:
    """The flag ``setting`` (``"idle_timeout"``) was given with: ``flags``' (a
    hyperopt alias, ``--reserve-timeout``), else :data:`DEFAULT_FLAGS`'; "" for a
    setting of neither."""
    return flags.get(setting) or DEFAULT_FLAGS.get(setting, "")


def stop_said(
    reason: str, values: Mapping[str, float | int | None], flags: Mapping[str, str]
) -> str:
    """What stopped the worker, for its last log line.

    Args:
        reason: :attr:`WorkerSummary.stop_reason` (``"idle_timeout"``, ...).
        values: The setting of each limit by its name (``{"idle_timeout": 5.0}``,
            seconds for timeouts, trials for counts).
        flags: The flag each setting was given with, when not
            :data:`DEFAULT_FLAGS`'s (``{"idle_timeout": "--reserve-timeout"}``).

    Returns:
        For example ``"no trial to claim for 5 s (--reserve-timeout)"``; an
        unknown reason is returned as it is.
    """
    flag = typed_flag(reason, flags)
    value = values.get(reason)
    said = {
        "max_trials": f"ran {counted(int(value or 0), 'trial')} ({flag})",
        "idle_timeout": f"no trial to claim for {value:g} s ({flag})"
        if value is not None
        else "",
        "study_finished": "its study finished",
        "max_consecutive_failures": f"the last {counted(int(value or 0), 'trial')} "
        f"in a row ended in error ({flag})",
        "last_job_timeout": f"it claims no trial after {value:g} s ({flag})"
        if value is not None
        else "",
        "warm_stop": "a stop signal",
        "cold_stop": "a second stop signal (its trial handed back)",
        "error": "an error",
    }.get(reason, "")
    return said or reason
