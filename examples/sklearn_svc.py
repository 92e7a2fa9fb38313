"""Tune an SVM on scikit-learn's digits data (needs ``pip install scikit-learn``).

    hpo-driver start --db sqlite:///hpo.sqlite --study svc \
        --objective examples.sklearn_svc:objective --space examples.sklearn_svc:space \
        --max-evals 50 --workers 2
"""

from __future__ import annotations

from typing import Any

from hpo_service import STATUS_OK, hp

space = {
    "C": hp.loguniform("C", -3, 5),
    "gamma": hp.loguniform("gamma", -8, 0),
    "kernel": hp.choice("kernel", ["rbf", "sigmoid"]),
}


def objective(config: dict[str, Any]) -> dict[str, Any]:
    """One minus the 3-fold cross-validated accuracy."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    features, labels = load_digits(return_X_y=True)
    model = SVC(C=config["C"], gamma=config["gamma"], kernel=config["kernel"])
    accuracy = cross_val_score(model, features, labels, cv=3).mean()
    return {"loss": 1.0 - accuracy, "status": STATUS_OK, "accuracy": accuracy}
