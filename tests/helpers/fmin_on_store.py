"""``python -m tests.helpers.fmin_on_store DB``: ``fmin`` of study ``s`` (3 trials
of ``tests.e2e.objectives:quadratic``) on the store at ``DB`` with
:class:`~hpo_service.driver._store_trials.StoreTrials` and one local worker: the
Python API's counterpart of ``hpo-driver start``, for tests that stop it by a
signal (``HPO_TEST_PAUSE``)."""

from __future__ import annotations

import sys

from hpo_service import fmin, tpe
from hpo_service.driver._store_trials import StoreTrials
from tests.e2e.objectives import quadratic, space


def main(db: str) -> None:
    """Run the study to its end (exceptions, Ctrl-C's too, propagate)."""
    trials = StoreTrials(db, "s", workers=1)
    try:
        fmin(quadratic, space, algo=tpe.suggest, max_evals=3, trials=trials,
             show_progressbar=False)  # fmt: skip
    finally:
        trials.close()


if __name__ == "__main__":
    main(sys.argv[1])
