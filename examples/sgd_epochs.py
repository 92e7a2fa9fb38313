"""Train a linear classifier epoch by epoch, and stop bad trials early (pruning).

Each trial trains scikit-learn's ``SGDClassifier`` on the digits data one epoch at a
time (``partial_fit``) and reports the validation error after every epoch; the
study's pruner stops trials that fall behind (needs ``pip install scikit-learn``)::

    hpo-driver start --db sqlite:///hpo.sqlite --study sgd \
        --objective examples.sgd_epochs:objective --space examples.sgd_epochs:space \
        --max-evals 60 --workers 2 --pruner asha --max-resource 30

With ASHA's defaults (rungs at 1, 2, 4, 8 and 16 epochs, half of the trials going on
at each) most trials stop within a few epochs, so the study trains far fewer epochs
than 60 trials x 30 epochs (566 of the 1,800 in the run the README shows).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from hpo_service import STATUS_OK, TrialPruned, hp, report, should_prune

EPOCHS = 30

space = {
    "alpha": hp.loguniform("alpha", math.log(1e-6), math.log(1e-1)),
    "eta0": hp.loguniform("eta0", math.log(1e-4), math.log(1.0)),
    "learning_rate": hp.choice("learning_rate", ["constant", "invscaling", "adaptive"]),
    "loss": hp.choice("loss", ["hinge", "log_loss", "modified_huber"]),
}


@functools.lru_cache(maxsize=1)
def _data() -> tuple[Any, Any, Any, Any]:
    """Digits, standardised, split 75/25 once per process."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    features, labels = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        features, labels, test_size=0.25, random_state=0, stratify=labels
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def objective(config: dict[str, Any]) -> dict[str, Any]:
    """Validation error after ``EPOCHS`` epochs; reports it after each epoch."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier

    x_train, x_val, y_train, y_val = _data()
    model = SGDClassifier(
        alpha=config["alpha"],
        eta0=config["eta0"],
        learning_rate=config["learning_rate"],
        loss=config["loss"],
        random_state=0,
    )
    classes = np.unique(y_train)
    for epoch in range(1, EPOCHS + 1):
        model.partial_fit(x_train, y_train, classes=classes)
        error = 1.0 - model.score(x_val, y_val)
        report(error, step=epoch)  # step = epochs trained so far
        if should_prune():
            raise TrialPruned()
    return {"loss": error, "status": STATUS_OK, "epochs": EPOCHS}
