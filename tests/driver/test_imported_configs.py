"""The configs an imported study's trials get once a start gives its space
(``driver/_imported_configs.py``), on a real SQLite store."""

from __future__ import annotations

import logging

import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.driver._imported_configs import fill_imported_configs
from hpo_service.driver._study import create_without_space, space_settings
from hpo_service.exceptions import StudyMismatchError
from hpo_service.pyll import scope
from hpo_service.space import hp
from hpo_service.store import FinishedTrial, TrialState, open_store

SPACE = {"x": hp.uniform("x", -5.0, 5.0), "m": hp.choice("m", ["a", {"b": 1}])}


def test_a_trial_the_space_does_not_give_keeps_no_config_and_the_rest_go_on(
    tmp_path, caplog
):
    """After ``--override`` of the space of a study still marked, an imported
    trial may not fit the space: it is named and skipped, the others get their
    config, and the study is no longer marked."""
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        create_without_space(store, "s")
        points = [{"x": 1.0, "m": 0}, {"x": 50.0, "m": 1}, {"x": -2.0, "m": 1}]
        store.insert_finished("s", [
            FinishedTrial(p, None, {"loss": 1.0, "status": "ok"}) for p in points
        ])  # fmt: skip
        given = {"objective": "m:f", "max_evals": 9, "configs_pending": True,
                 **space_settings(SPACE)}  # fmt: skip
        store.patch_study_settings("s", given)
        settings = StudySettings.from_dict(store.get_study("s").settings)
        windows = []
        with caplog.at_level(logging.WARNING):
            done = fill_imported_configs(
                store, "s", settings, between=lambda: windows.append(1)
            )
        assert not done.configs_pending
        assert not store.get_study("s").settings["configs_pending"]
        configs = [t.config for t in store.get_trials("s", [TrialState.DONE])]
        assert configs == [{"x": 1.0, "m": "a"}, None, {"x": -2.0, "m": {"b": 1}}]
        assert "trial 1 keeps no config" in caplog.text
        assert windows == [1]


def test_a_start_giving_the_space_evaluates_each_imported_config_once(
    tmp_path, monkeypatch
):
    """The start that gives an imported study its space checked every trial's
    params against it (the fit check: one space evaluation each), then evaluated
    each again to write its config. Now the check's configs are written: one
    evaluation per trial, the same configs."""
    import hpo_service.space as space_module
    from hpo_service.driver._study import open_driven_study
    from hpo_service.driver._study_loop import DriverOptions

    evaluated: list[float] = []
    real = space_module.space_eval

    def counted(space, params):
        evaluated.append(params["x"])
        return real(space, params)

    monkeypatch.setattr(space_module, "space_eval", counted)  # both read it here
    points = [{"x": float(i), "m": i % 2} for i in range(5)]
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        create_without_space(store, "s")
        store.insert_finished("s", [
            FinishedTrial(p, None, {"loss": 1.0, "status": "ok"}) for p in points
        ])  # fmt: skip
        given = {"objective": "m:f", "max_evals": 9, **space_settings(SPACE)}
        settings, _ = open_driven_study(
            store, "s", given, override=False, options=DriverOptions()
        )
        configs = [t.config for t in store.get_trials("s", [TrialState.DONE])]
    assert not settings.configs_pending
    assert configs == [
        {"x": p["x"], "m": "a" if p["m"] == 0 else {"b": 1}} for p in points
    ]
    assert sorted(evaluated) == [p["x"] for p in points]  # each once


#: A space whose own code raises on some points: 1 // int(x) for x in (-1, 1).
DIVIDING = {"v": 1 // scope.int(hp.uniform("x", -1.0, 1.0))}


def _imported(store, xs):
    """Study ``s`` created without a space, holding finished trials at ``xs``."""
    create_without_space(store, "s")
    store.insert_finished("s", [
        FinishedTrial({"x": x}, None, {"loss": 1.0, "status": "ok"}) for x in xs
    ])  # fmt: skip


def test_a_space_raising_on_an_imported_point_is_a_misfit_not_a_crash(tmp_path):
    """The start that gives the space evaluates it on every imported point. A
    space running code that raises there (here ZeroDivisionError) does not give
    that point: before, the error escaped the start raw; now the start refuses
    with the misfit named, and nothing is written."""
    from hpo_service.driver._study import open_driven_study
    from hpo_service.driver._study_loop import DriverOptions

    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        _imported(store, [-0.5, 0.5])
        given = {"objective": "m:f", "max_evals": 9, **space_settings(DIVIDING)}
        with pytest.raises(StudyMismatchError) as raised:
            open_driven_study(
                store, "s", given, override=False, options=DriverOptions()
            )
        assert "misfits=2" in str(raised.value)
        assert "ZeroDivisionError" in str(raised.value)
        assert store.get_study("s").settings.get("space") is None


def test_a_space_raising_while_configs_are_filled_skips_that_trial(tmp_path, caplog):
    """After ``--override`` a space may raise on an imported point while the
    configs are filled: that trial keeps no config, with a warning naming the
    error, and the others get theirs (before, a ZeroDivisionError ended it)."""
    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        _imported(store, [1.0, 0.5])
        given = {"objective": "m:f", "max_evals": 9, "configs_pending": True,
                 **space_settings(DIVIDING)}  # fmt: skip
        store.patch_study_settings("s", given)
        settings = StudySettings.from_dict(store.get_study("s").settings)
        with caplog.at_level(logging.WARNING):
            fill_imported_configs(store, "s", settings, between=lambda: None)
        configs = [t.config for t in store.get_trials("s", [TrialState.DONE])]
    assert configs == [{"v": 1}, None]
    assert "trial 1 keeps no config" in caplog.text
    assert "ZeroDivisionError" in caplog.text
