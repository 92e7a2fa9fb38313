"""hpo-service: distributed hyperparameter tuning that speaks hyperopt's API.

``from hpo_service import hp, fmin, tpe, Trials`` replaces ``from hyperopt import ...``;
``StoreTrials`` runs the same ``fmin`` call as a study over a SQLite or MongoDB store,
with ``hpo-worker`` processes anywhere running the objective. Inside an objective,
``report(loss, step)``, ``should_prune()`` and ``TrialPruned`` stop bad trials early
with the study's pruner (``fmin(..., pruner="asha")``, see ``pruners``).

Names are imported on first use, so that a worker's child process importing one
submodule does not pay for the rest.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_STATUS_AND_STATES = (
    "JOB_STATE_CANCEL",
    "JOB_STATE_DONE",
    "JOB_STATE_ERROR",
    "JOB_STATE_NEW",
    "JOB_STATE_RUNNING",
    "STATUS_FAIL",
    "STATUS_NEW",
    "STATUS_OK",
    "STATUS_RUNNING",
    "STATUS_STRINGS",
    "STATUS_SUSPENDED",
)

_LOCATIONS: dict[str, str] = {
    **dict.fromkeys(_STATUS_AND_STATES, "hpo_service.trials"),
    "JOB_STATES": "hpo_service.trials",
    "Trials": "hpo_service.trials",
    "trials_from_docs": "hpo_service.trials",
    "Domain": "hpo_service.base",
    "Ctrl": "hpo_service.base",
    "generate_trials_to_calculate": "hpo_service.fmin",
    "partial": "functools",
    "hp": "hpo_service.space",
    "sample": "hpo_service.space",
    "space_eval": "hpo_service.space",
    "open_store": "hpo_service.store",
    "StoreTrials": "hpo_service.driver._store_trials",
    "MongoTrials": "hpo_service.mongoexp",
    "report": "hpo_service.objective._report",
    "should_prune": "hpo_service.objective._report",
    "TrialPruned": "hpo_service.exceptions",
    "STATUS_PRUNED": "hpo_service.objective._result",
    "AllTrialsFailed": "hpo_service.exceptions",
    "HPOServiceError": "hpo_service.exceptions",
    "InvalidResultError": "hpo_service.exceptions",
    "SpaceError": "hpo_service.exceptions",
    "SearchExhausted": "hpo_service.exceptions",
    "StoreError": "hpo_service.exceptions",
}
_ALGORITHMS = ("tpe", "rand", "anneal", "grid", "mix", "motpe", "pruners")
_SUBMODULES = (
    *_ALGORITHMS,
    "early_stop",
    "exceptions",
    "base",
    "pyll",
    "plotting",
    "mongoexp",
    "progress",
)

__all__ = sorted([*_LOCATIONS, *_SUBMODULES, "fmin"])

#: hyperopt's top-level names left out on purpose (README, "Porting hyperopt code"),
#: and what to use instead.
_NOT_OFFERED: dict[str, str] = {
    "SparkTrials": (
        "to run trials in parallel on many machines, pass trials=StoreTrials(url, "
        "study=...) (or MongoTrials) and start `hpo-worker` processes there"
    ),
    "atpe": "use tpe.suggest (or anneal.suggest, rand.suggest, mix.suggest)",
    "fmin_pass_expr_memo_ctrl": (
        "objectives get their config only; Domain(fn, space).evaluate(point, ctrl) "
        "runs one point with a Ctrl"
    ),
    "pyll_utils": "build spaces with hp (from hpo_service import hp)",
}


def __getattr__(name: str) -> Any:
    if name in _ALGORITHMS:
        return importlib.import_module(f"hpo_service.algorithms.{name}")
    if name in _SUBMODULES:
        return importlib.import_module(f"hpo_service.{name}")
    if name in _LOCATIONS:
        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    if name.endswith("Pruner"):  # Optuna's names: say they are in hpo_service.pruners
        from hpo_service.algorithms.pruners import missing_pruner

        raise missing_pruner(name, __name__)
    if name in _NOT_OFFERED:
        raise _not_offered(name)
    raise AttributeError(f"module 'hpo_service' has no attribute {name!r}")


def _not_offered(name: str) -> ImportError | AttributeError:
    """The error for hyperopt's ``name``, left out here: what to use instead, as an
    ImportError for ``from hpo_service import name`` (Python would otherwise say
    only "cannot import name"), else an AttributeError (so ``hasattr`` is False)."""
    from hpo_service.algorithms.pruners import _from_import

    message = f"hpo_service has no {name} (hyperopt's): {_NOT_OFFERED[name]}"
    if _from_import():
        return ImportError(message, name=__name__)
    return AttributeError(message)


def __dir__() -> list[str]:
    return __all__


class _Package(types.ModuleType):
    """``hpo_service.fmin`` is the function, as ``hyperopt.fmin`` is.

    ``from hpo_service.fmin import ...`` still reaches the module (as in hyperopt):
    importing it makes the import system bind the module here, which is ignored.
    """

    @property
    def fmin(self) -> Any:
        from hpo_service.fmin import fmin

        return fmin

    @fmin.setter
    def fmin(self, value: Any) -> None:
        pass


sys.modules[__name__].__class__ = _Package
