"""The configs of trials imported without a space, written once a start gives it.

A trial imported into a study that has no space yet (hyperopt's ``Trials`` or a
MongoTrials jobs collection: ``misc.vals`` only; a CSV export: its ``param.``
columns) keeps its params and no config: the value its objective was called with
needs the space. The start that gives the study its space sets
``configs_pending`` with it (one atomic write), then gives each such trial the
config the space makes of its params, and its params in the types the space
gives them (a CSV cell ``1.0`` of an ``hp.randint`` becomes ``1``;
:meth:`BaseTrialStore.fill_configs`, a window of tids at a time), then clears the
flag. A start killed half way leaves
the flag set, and the next start (which finds the space stored) writes the rest:
each write is conditional on the trial having no config, so none is written twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hpo_service._common.settings import StudySettings
from hpo_service._common.stop_signals import pause_point
from hpo_service._common.trial_rows import WINDOW
from hpo_service._common.words import counted
from hpo_service.driver._study import config_made, study_space
from hpo_service.exceptions import SpaceError
from hpo_service.space import compile_space, validate_params
from hpo_service.store import BaseTrialStore, Trial, TrialState

_logger = logging.getLogger(__name__)

_FINISHED = [state for state in TrialState if state.is_finished()]


def fill_imported_configs(
    store: BaseTrialStore,
    name: str,
    settings: StudySettings,
    *,
    between: Callable[[], None] = lambda: None,
    made: dict[int, Any] | None = None,
) -> StudySettings:
    """Give every finished trial of study ``name`` that has no config the config
    the study's space makes of its params (and those params in the space's types),
    then clear ``configs_pending``.

    Args:
        store: The trials store.
        name: The study (its driver lease held by the caller).
        settings: Its settings, with a space and ``configs_pending`` set.
        between: Called after each window of :data:`WINDOW` tids (the caller
            renews its lease there: a large study takes a while).
        made: ``{tid: config}`` the fit check already made of the same space
            (:func:`~hpo_service.driver._study.check_imported_fit`, in this
            start): written as they are, not evaluated again. The other trials
            without a config (a start resuming a killed one's work, or trials
            imported since the check) are evaluated here.

    Returns:
        The settings with ``configs_pending`` cleared.

    Raises:
        StudyWithoutSpaceError: The settings hold no space.
    """
    space = study_space(settings, name)
    compiled = compile_space(space)
    end = store.get_study(name).next_tid  # trials imported later get theirs
    filled = 0
    for start in range(0, end, WINDOW):
        window = range(start, min(start + WINDOW, end))
        trials = store.get_trials(name, _FINISHED, tids=window)
        configs = _configs(space, compiled, trials, made or {})
        if configs:
            typed = _typed_params(compiled, trials, configs)
            filled += store.fill_configs(name, configs, params=typed)
        pause_point("configs-filling")
        between()
    store.patch_study_settings(name, {"configs_pending": False})
    if filled:
        _logger.info(
            "study %r: gave %s the config its space makes of their params",
            name, counted(filled, "imported trial"),
        )  # fmt: skip
    return StudySettings.from_dict({**settings.to_dict(), "configs_pending": False})


def _configs(
    space: Any, compiled: Any, trials: list[Trial], made: dict[int, Any]
) -> dict[int, Any]:
    """``{tid: config}`` of those ``trials`` without a config: from ``made``
    (already evaluated), else evaluated. A config the space makes None is left out
    (there is nothing to write), and so is a trial the space does not give
    (checked when the space was given, so only after a later ``--override`` of the
    space): it keeps no config, with a warning."""
    configs = {}
    for trial in trials:
        if trial.config is not None:
            continue
        known = trial.tid in made
        config = made[trial.tid] if known else _made(space, compiled, trial)
        if config is not None:
            configs[trial.tid] = config
    return configs


def _typed_params(
    compiled: Any, trials: list[Trial], configs: dict[int, Any]
) -> dict[int, dict[str, Any]]:
    """``{tid: params}`` of those ``trials`` given a config whose params the space
    types otherwise (``validate_params``: an int for ``hp.randint``, a choice's
    index and ``hp.uniformint``, a float for the others): an import without a
    space keeps a CSV cell ``1.0`` as a float, and a resumed study then held
    ``1.0`` and ``1`` for one ``hp.randint`` value. Params already typed so are
    left out (nothing to write)."""
    typed = {}
    for trial in trials:
        if trial.tid not in configs:
            continue
        params = validate_params(compiled, trial.params)
        if _types(params) != _types(trial.params):
            typed[trial.tid] = params
    return typed


def _types(params: dict[str, Any]) -> dict[str, type]:
    """Each value's type (``1 == 1.0``: equal values of another type differ)."""
    return {label: type(value) for label, value in params.items()}


def _made(space: Any, compiled: Any, trial: Trial) -> Any:
    """The config the space makes of the trial's params; None (with a warning)
    if it does not give them."""
    try:
        return config_made(space, compiled, trial.params)
    except SpaceError as e:
        _logger.warning(
            "trial %d keeps no config: the study's space does not give its "
            "params (%s)", trial.tid, e,
        )  # fmt: skip
        return None
