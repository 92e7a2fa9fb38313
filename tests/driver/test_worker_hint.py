"""The worker command a StoreTrials/MongoTrials study names while its trials wait."""

from __future__ import annotations

import shlex

import pytest

from hpo_service.driver._worker_hint import store_trials_worker_hint


def _command(hint: str) -> list[str]:
    assert hint.count("`") == 2, hint  # backticks around the command only
    return shlex.split(hint.split("`")[1])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mongo://localhost:1234/foo_db/jobs", "--mongo=localhost:1234/foo_db"),
        ("mongo://h1:1,h2:2/db?replicaSet=rs", "--mongo=h1:1,h2:2/db?replicaSet=rs"),
        ("mongodb://h:1/db", "--db mongodb://h:1/db"),  # not hyperopt's URL form
        ("sqlite:///tmp/a b.sqlite", "--db 'sqlite:///tmp/a b.sqlite'"),
    ],
)
def test_mongo_trials_name_hyperopts_worker_options(url, expected):
    hint = store_trials_worker_hint(url, "exp 1", hyperopt=True)
    assert _command(hint) == ["hpo-worker", *shlex.split(expected), "--exp-key=exp 1"]
    assert "or pass MongoTrials(..., workers=K)" in hint


def test_store_trials_name_the_db_and_study():
    hint = store_trials_worker_hint("sqlite:///runs/hpo.sqlite", "s", hyperopt=False)
    assert _command(hint) == ["hpo-worker", "--db", "sqlite:///runs/hpo.sqlite",
                              "--study", "s"]  # fmt: skip
    assert "or pass StoreTrials(..., workers=K)" in hint


@pytest.mark.parametrize("hyperopt", [True, False])
def test_a_password_is_never_shown(hyperopt):
    url = "mongo://ann:s3cret@db.example:1234/foo_db/jobs?tlsCertificateKeyFilePassword=k9"
    hint = store_trials_worker_hint(url, "exp1", hyperopt=hyperopt)
    assert "s3cret" not in hint and "k9" not in hint
    assert "ann:***@db.example:1234/foo_db" in _command(hint)[1 + (not hyperopt)]
    assert "*** in place of the password" in hint


def test_a_standard_library_objective_is_named_so_the_command_runs_it():
    """hyperopt's tutorial (fmin(math.sin, ...) on MongoTrials): the command the hint
    named exited 3 ("is in the standard library"), since a worker runs such an
    objective only when named; the hint names it, and only then."""
    hint = store_trials_worker_hint("mongo://localhost:1234/foo_db/jobs", "exp1",
                                    hyperopt=True, objective="math:sin")  # fmt: skip
    assert _command(hint) == ["hpo-worker", "--mongo=localhost:1234/foo_db",
                              "--exp-key=exp1", "--objective=math:sin"]  # fmt: skip
    hint = store_trials_worker_hint("sqlite:///a.sqlite", "s", hyperopt=False,
                                    objective="mypackage.train:objective")  # fmt: skip
    assert "--objective" not in hint


def test_hpo_driver_start_names_the_objective_and_masks_the_password():
    """README: cluster workers run with --objective; the hint of `hpo-driver start`
    names it (and the store, its password masked)."""
    from hpo_service.driver.cli import _worker_hint

    url = "mongodb://ann:s3cret@db.example:27017/hpo"
    hint = _worker_hint(url, "svc", "examples.sklearn_svc:objective")
    assert _command(hint) == ["hpo-worker", "--db", "mongodb://ann:***@db.example:27017/hpo",
                              "--study", "svc", "--objective",
                              "examples.sklearn_svc:objective"]  # fmt: skip
    assert "s3cret" not in hint and "*** in place of the password" in hint
    assert "or pass --workers K" in hint
    assert "--objective" not in _worker_hint(url, "svc", None)
