"""Warm starts: queue given points, import evaluated results (exports of another
study, a pickled hyperopt Trials); bad input is refused before anything is written."""

from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hpo_service import StoreTrials, fmin, hp, rand, tpe
from hpo_service._common.words import counted
from hpo_service.driver._study import open_study, space_settings
from hpo_service.driver._warm_start import Evaluated, import_results
from hpo_service.driver.cli import main
from hpo_service.exceptions import StudyMismatchError
from hpo_service.space import space_eval
from hpo_service.store import FinishedTrial, TrialState, open_store
from tests.e2e.objectives import quadratic, quadratic_of_branch
from tests.helpers.finished_states import STATES, new_study, stored_study

SPACE = {
    "x": hp.uniform("x", -5.0, 5.0),
    "y": hp.uniform("y", -5.0, 5.0),
}
BRANCHY = {
    "m": hp.choice("m", [{"a": hp.randint("a", 3)}, {"b": hp.uniform("b", 0, 1)}]),
}


def make(store, name, space=SPACE, max_evals=50):
    given = {"objective": "tests.e2e.objectives:quadratic", "max_evals": max_evals,
             **space_settings(space)}  # fmt: skip
    return open_study(store, name, given)[0]


def cli(*args, stdin=None):
    result = CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


# ---- enqueue -----------------------------------------------------------------------


def test_enqueue_queues_checked_points_with_their_configs(store, db_url, tmp_path):
    make(store, "b", BRANCHY)
    first, second = '{"m": 0, "a": 2}', '{"m": 1, "b": 0.5}'
    code, out = cli("enqueue", "--db", db_url, "--study", "b",
                    "--params", first, "--params", second)  # fmt: skip
    assert code == 0, out
    assert "queued 2 trials" in out
    lines = tmp_path / "points.jsonl"
    lines.write_text('{"m": 0, "a": 1}\n\n{"m": 1, "b": 0.25}\n')
    code, out = cli("enqueue", "--db", db_url, "--study", "b", "--file", str(lines))
    assert code == 0, out
    code, out = cli("enqueue", "--db", db_url, "--study", "b", "--file", "-",
                    stdin='[{"m": 0, "a": 0}]')  # fmt: skip
    assert code == 0, out
    trials = store.get_trials("b")
    assert [t.state for t in trials] == [TrialState.NEW] * 5
    assert [t.config for t in trials] == [
        {"m": {"a": 2}}, {"m": {"b": 0.5}}, {"m": {"a": 1}}, {"m": {"b": 0.25}},
        {"m": {"a": 0}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ('{"m": 0, "a": 1, "z": 3}', "['z']"),  # unknown label
        ('{"m": 0, "a": 7}', "0 <= a <= 2"),  # outside the space
        ('{"m": 0, "a": 1, "b": 0.5}', "inactive parameter 'b'"),
        ('{"m": 1}', "active parameter 'b'"),
        ('{"m": 2, "b": 0.5}', "an option of choice 'm', an integer from 0 to 1"),
        ("[1, 2]", "{label: value} dicts"),
        ("{not json", "is not JSON"),
    ],
)
def test_a_bad_point_is_refused_and_nothing_is_queued(store, db_url, point, message):
    make(store, "b", BRANCHY)
    code, out = cli("enqueue", "--db", db_url, "--study", "b",
                    "--params", '{"m": 0, "a": 1}', "--params", point)  # fmt: skip
    assert code in (1, 2)
    assert message in out
    assert store.get_trials("b") == []


def test_enqueue_needs_an_existing_database_and_study(db_url):
    code, out = cli("enqueue", "--db", db_url, "--study", "nope", "--params", "{}")
    assert code == 1 and "no SQLite database" in out  # and none was created
    open_store(db_url).close()  # an empty database: now the study is what is missing
    code, out = cli("enqueue", "--db", db_url, "--study", "nope", "--params", "{}")
    assert code == 1 and "nope" in out


def test_queued_points_are_run_by_workers(db_url):
    trials = StoreTrials(db_url, study="q", workers=1)
    fmin(quadratic, SPACE, algo=rand.suggest, max_evals=2, trials=trials,
         show_progressbar=False)  # fmt: skip
    with pytest.warns(UserWarning, match=r"already finished its budget \(2 of") as w:
        tids = trials.enqueue([{"x": 1.0, "y": -2.0}])  # runs: the budget grows next
    assert w[0].filename == __file__  # points at the call
    assert "a worker cancels the queued point instead of running it, unless " in str(
        w[0].message
    )  # it said "the 1 queued point instead of running them"
    fmin(quadratic, SPACE, algo=rand.suggest, max_evals=4, trials=trials,
         show_progressbar=False)  # fmt: skip
    ran = trials.store.get_trial("q", tids[0])
    assert ran.state == TrialState.DONE and ran.result["loss"] == 0.0
    trials.close()


# ---- import ------------------------------------------------------------------------


def _export(db_url, study, fmt, path):
    code, out = cli("trials", "--db", db_url, "--study", study, "--format", fmt)
    assert code == 0, out
    path.write_text(out)
    return str(path)


def _run_source(db_url: str) -> None:
    """Six finished trials of random search in the study ``source``."""
    source = StoreTrials(db_url, study="source", workers=1)
    fmin(quadratic, SPACE, algo=rand.suggest, max_evals=6, trials=source,
         show_progressbar=False)  # fmt: skip
    source.close()


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_import_an_export_of_another_study_once(store, db_url, tmp_path, fmt):
    _run_source(db_url)
    path = _export(db_url, "source", fmt, tmp_path / f"export.{fmt}")
    make(store, "target")
    code, out = cli("import", "--db", db_url, "--study", "target", path)
    assert code == 0, out
    assert "imported 6 finished trials" in out
    imported = store.get_trials("target")
    original = store.get_trials("source")
    assert [t.state for t in imported] == [TrialState.DONE] * 6
    for mine, theirs in zip(imported, original, strict=True):
        assert mine.params == pytest.approx(theirs.params)
    assert [t.result["loss"] for t in imported] == pytest.approx(
        [t.result["loss"] for t in original]
    )
    assert imported[0].result["imported_from"] == f"export.{fmt}#0"
    assert all(t.attempts == 0 and t.owner is None for t in imported)
    code, out = cli("import", "--db", db_url, "--study", "target", path)
    assert code == 0 and "imported 0" in out and "skipped 6" in out
    assert len(store.get_trials("target")) == 6


def _csv_file(path, rows):
    """Write ``rows`` (dicts) as CSV with their keys as the header."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def test_a_csv_import_reads_result_and_constraint_columns_back(store, db_url, tmp_path):
    """A table edited elsewhere (pandas drops or rewrites columns): the
    ``constraint.<i>`` cells stand for a missing ``constraints`` list, and each
    ``result.<key>`` cell comes back as the value the export wrote (JSON text with
    its letters as written, or escaped as exports before 675c55f wrote them)."""
    rows = [
        {"tid": "7", "state": "done", "loss": "0.25", "status": "ok",
         "duration": "1.5", "constraint.0": "-1", "constraint.1": "0.5",
         "result.epochs": "6", "result.acc": "0.9", "result.on": "True",
         "result.hist": "[1, 2.5]", "result.meta": '{"a": [1]}',
         "result.code": "1e5", "result.id": "007", "result.note": "x, y",
         "result.unit": '{"名": "温度"}', "result.old": '["\\u03b6"]',
         "result.gone": "", "param.x": "0.5", "param.y": "-1.0"},
        {"tid": "8", "state": "done", "loss": "0.5", "status": "ok",
         "duration": "", "constraint.0": "", "constraint.1": "",
         "result.epochs": "", "result.acc": "", "result.on": "", "result.hist": "",
         "result.meta": "", "result.code": "", "result.id": "", "result.note": "",
         "result.unit": "", "result.old": "",
         "result.gone": "", "param.x": "1.5", "param.y": "0.0"},
    ]  # fmt: skip
    # the row without constraints comes first: after one carrying 2 constraints it
    # would be refused (a study's constraint count is fixed by its first result
    # that carries any)
    path = _csv_file(tmp_path / "edited.csv", rows[::-1])
    make(store, "target")
    code, out = cli("import", "--db", db_url, "--study", "target", path)
    assert code == 0 and "imported 2" in out, out
    second, first = store.get_trials("target")
    assert first.result == {
        "status": "ok", "loss": 0.25, "duration": 1.5, "constraints": [-1, 0.5],
        "epochs": 6, "acc": 0.9, "on": True, "hist": [1, 2.5], "meta": {"a": [1]},
        "code": "1e5", "id": "007", "note": "x, y", "imported_from": "edited.csv#7",
        "unit": {"名": "温度"}, "old": ["ζ"],  # as exports write them now, and before
    }  # fmt: skip
    assert type(first.result["epochs"]) is int
    assert second.result == {"status": "ok", "loss": 0.5,
                             "imported_from": "edited.csv#8"}  # fmt: skip


@pytest.mark.parametrize(
    ("cells", "message"),
    [({"constraint.1": "0.5"}, r"must have constraint\.0 \.\. constraint\.0 all"),
     ({"constraint.0": "low"}, "has a constraint that is not a number: 'low'")],
)  # fmt: skip
def test_a_csv_import_refuses_constraint_cells_it_cannot_read(
    store, db_url, tmp_path, cells, message
):
    row = {"tid": "0", "state": "done", "loss": "0.5", "status": "ok", **cells,
           "param.x": "0.5", "param.y": "0.5"}  # fmt: skip
    path = _csv_file(tmp_path / "bad.csv", [row])
    make(store, "target")
    with pytest.raises(ValueError, match=message):
        StoreTrials(db_url, study="target").import_results(path)
    assert store.get_trials("target") == []


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_import_names_the_trials_it_left_out(store, db_url, tmp_path, fmt):
    """An export's queued and running trials have no outcome: they are left out
    and counted; its finished ones (here done and cancelled) are imported."""
    _run_source(db_url)
    path = Path(_export(db_url, "source", fmt, tmp_path / f"export.{fmt}"))
    states = ["done", "running", "new", "running", "done", "cancelled"]
    if fmt == "json":
        records = json.loads(path.read_text())
        for record, state in zip(records, states, strict=True):
            record["state"] = state
        path.write_text(json.dumps(records))
    else:
        head, *rows = path.read_text().splitlines()
        rows = [
            r.replace(",done,", f",{s},", 1) for r, s in zip(rows, states, strict=True)
        ]
        path.write_text("\n".join([head, *rows]) + "\n")
    make(store, "target")
    code, out = cli("import", "--db", db_url, "--study", "target", str(path))
    assert code == 0, out
    assert "imported 3 finished trials (1 cancelled, 2 done)" in out
    assert "left out 3 trials (1 new, 2 running)" in out
    got = store.get_trials("target")
    assert [t.state.value for t in got] == ["done", "done", "cancelled"]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_import_dedups_by_content_not_by_file(store, db_url, tmp_path, fmt):
    """A study's own export into itself, the same records under another file name,
    and records repeated in one file add nothing; the same point with another loss
    (a noisy objective) is a new trial."""
    own = StoreTrials(db_url, study="own", workers=1)
    fmin(quadratic_of_branch, BRANCHY, algo=rand.suggest, max_evals=6, trials=own,
         show_progressbar=False)  # fmt: skip
    own.close()
    path = _export(db_url, "own", fmt, tmp_path / f"own.{fmt}")
    code, out = cli("import", "--db", db_url, "--study", "own", path)
    assert code == 0 and "imported 0" in out and "skipped 6" in out, out
    copy = tmp_path / f"renamed.{fmt}"
    copy.write_text(Path(path).read_text())
    code, out = cli("import", "--db", db_url, "--study", "own", str(copy), path)
    assert code == 0 and "imported 0" in out and "skipped 12" in out, out
    assert len(store.get_trials("own")) == 6
    first = store.get_trials("own")[0]
    again = {"tid": 0, "state": "done", "params": first.params,
             "result": {"loss": first.result["loss"] + 1, "status": "ok"}}  # fmt: skip
    noisy = tmp_path / "noisy.json"
    noisy.write_text(json.dumps([again, again]))
    code, out = cli("import", "--db", db_url, "--study", "own", str(noisy))
    assert code == 0 and "imported 1" in out and "skipped 1" in out, out
    assert len(store.get_trials("own")) == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "it is empty"),
        (b"hello world\n", "no state and param.<label> columns: 'hello world'"),
        (b"a,b\n1,2\n", "no state and param.<label> columns"),
        (b"[1, 2", "not valid JSON"),
        (b'{"a": 1}', "holds a JSON dict, not a list of trials"),
        (b"[1, 2]", "item 0 is not a trial record"),
        (b"\xff\xfe\x00junk", "not UTF-8 text"),
        (b"\x80\x04junk", "its pickle is damaged"),
        (b"state,loss,param.x\ndone,abc,1\n", "loss that is not a number"),
    ],
)
def test_importing_a_junk_file_fails_naming_the_file(
    store, db_url, tmp_path, content, message
):
    make(store, "target")
    path = tmp_path / "junk.dat"
    path.write_bytes(content)
    code, out = cli("import", "--db", db_url, "--study", "target", str(path))
    assert code == 1, out
    assert "junk.dat must be an export of trials" in out or "junk.dat" in out
    assert message in out
    assert store.get_trials("target") == []


def test_an_import_that_does_not_fit_writes_nothing(store, db_url, tmp_path):
    make(store, "target")
    records = [
        {"tid": 0, "state": "done", "params": {"x": 1.0, "y": 2.0},
         "result": {"loss": 1.0, "status": "ok"}},
        {"tid": 1, "state": "done", "params": {"x": 9.0, "y": 2.0},
         "result": {"loss": 0.5, "status": "ok"}},
    ]  # fmt: skip
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    code, out = cli("import", "--db", db_url, "--study", "target", str(path))
    assert code == 1
    assert "bad.json#1 does not fit" in out and "-5.0 <= x <= 5.0" in out
    assert store.get_trials("target") == []


def test_tpe_learns_from_imported_results_without_running_them(db_url, tmp_path):
    rng = np.random.default_rng(0)
    good = [
        {"tid": i, "state": "done",
         "params": {"x": float(x), "y": float(y)},
         "result": {"loss": quadratic({"x": x, "y": y}), "status": "ok"}}
        for i, (x, y) in enumerate(rng.uniform(-5, 5, size=(40, 2)))
    ]  # fmt: skip
    path = tmp_path / "history.json"
    path.write_text(json.dumps(good))
    trials = StoreTrials(db_url, study="warm", workers=1)
    fmin(quadratic, SPACE, algo=tpe.suggest, max_evals=1, trials=trials,
         show_progressbar=False)  # fmt: skip
    assert len(trials.import_results(str(path))) == 40
    calls_before = len(trials)
    fmin(quadratic, SPACE, algo=tpe.suggest, max_evals=calls_before + 15,
         trials=trials, rstate=np.random.default_rng(1),
         show_progressbar=False)  # fmt: skip
    new = [d for d in trials.trials if "imported_from" not in d["result"]][1:]
    assert len(new) == 15
    # With 41 observations TPE models at once: its picks sit near the optimum
    # (1, -2), where random points would average a loss around 20.
    assert np.median([d["result"]["loss"] for d in new]) < 5.0
    trials.close()


# ---- a pickled hyperopt Trials -------------------------------------------------------


def test_import_a_pickled_hyperopt_trials(store, db_url, tmp_path):
    hyperopt = pytest.importorskip("hyperopt")
    theirs = hyperopt.Trials()
    hyperopt.fmin(quadratic, {"x": hyperopt.hp.uniform("x", -5, 5),
                              "y": hyperopt.hp.uniform("y", -5, 5)},
                  algo=hyperopt.rand.suggest, max_evals=5, trials=theirs,
                  rstate=np.random.default_rng(2), show_progressbar=False)  # fmt: skip
    path = tmp_path / "hyperopt_trials.pkl"
    path.write_bytes(pickle.dumps(theirs))
    make(store, "target")
    code, out = cli("import", "--db", db_url, "--study", "target", str(path))
    assert code == 0, out
    imported = store.get_trials("target")
    assert [t.result["loss"] for t in imported] == pytest.approx(theirs.losses())
    assert [t.params["x"] for t in imported] == pytest.approx(theirs.vals["x"])


def test_a_pickled_hyperopt_trials_keeps_its_errors(store, db_url, tmp_path):
    """hyperopt's ``catch_eval_exceptions=True`` keeps a raising call as an error
    trial with its exception's type and message: it imports as one."""
    hyperopt = pytest.importorskip("hyperopt")
    calls = []

    def raises_on_second_and_fourth(config):
        calls.append(config)
        if len(calls) in (2, 4):
            raise ValueError(f"call {len(calls)} fails")
        return quadratic(config)

    theirs = hyperopt.Trials()
    hyperopt.fmin(raises_on_second_and_fourth,
                  {"x": hyperopt.hp.uniform("x", -5, 5),
                   "y": hyperopt.hp.uniform("y", -5, 5)},
                  algo=hyperopt.rand.suggest, max_evals=5, trials=theirs,
                  catch_eval_exceptions=True, rstate=np.random.default_rng(2),
                  show_progressbar=False)  # fmt: skip
    path = tmp_path / "with_errors.pkl"
    path.write_bytes(pickle.dumps(theirs))
    make(store, "target")
    code, out = cli("import", "--db", db_url, "--study", "target", str(path))
    assert code == 0 and "(3 done, 2 error)" in out, out
    imported = store.get_trials("target")
    assert [t.state.value for t in imported] == ["done", "error", "done", "error",
                                                 "done"]  # fmt: skip
    assert [t.error["message"] for t in imported[1::2]] == ["call 2 fails",
                                                            "call 4 fails"]  # fmt: skip
    assert all("ValueError" in t.error["type"] for t in imported[1::2])


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_never_runs_code_on_import(store, db_url, tmp_path):
    marker = tmp_path / "pwned"
    evil = _Evil()
    evil.marker = marker
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"_dynamic_trials": [evil]}))
    make(store, "target")
    code, out = cli("import", "--db", db_url, "--study", "target", str(path))
    assert code == 1 and "must be a pickled Trials (hyperopt's or ours)" in out
    assert not marker.exists()
    assert store.get_trials("target") == []


def test_imported_results_must_match_the_study_objective_count(store, db_url):
    make(store, "mo")

    def record(tid, loss):
        return Evaluated({"x": 0.5, "y": 0.5}, {"loss": loss, "status": "ok"},
                         f"file#{tid}")  # fmt: skip

    mixed = [record(0, [1.0, 2.0]), record(1, [1.0, 2.0, 3.0])]
    with pytest.raises(ValueError, match=r"file#1: .*has 2 objective.*got 3"):
        import_results(store, "mo", mixed)
    assert store.get_trials("mo") == []
    assert store.get_study("mo").settings["n_objectives"] is None
    assert len(import_results(store, "mo", mixed[:1]).imported) == 1
    assert store.get_study("mo").settings["n_objectives"] == 2  # recorded
    with pytest.raises(ValueError, match=r"file#2: .*has 2 objective.*got 1"):
        import_results(store, "mo", [record(2, 0.5)])
    assert len(store.get_trials("mo")) == 1


def test_import_our_own_pickled_trials(store, db_url, tmp_path):
    """`fmin(..., trials_save_file=...)` in process writes hpo_service's Trials: it
    was refused ("must be a pickled hyperopt Trials, but holds _Inert"). Its done
    trials import, and its pruned ones as pruned, with their reports."""
    from hpo_service import TrialPruned, report

    def stepped(config):
        report(quadratic(config), step=1)
        if config["x"] > 2.5:
            raise TrialPruned()
        return quadratic(config)

    path = tmp_path / "ours.pkl"
    fmin(stepped, SPACE, algo=rand.suggest, max_evals=12, trials_save_file=str(path),
         rstate=np.random.default_rng(3), show_progressbar=False)  # fmt: skip
    saved = pickle.loads(path.read_bytes())
    done = [d for d in saved.trials if d["result"]["status"] == "ok"]
    pruned = len(saved.trials) - len(done)
    assert done and pruned
    make(store, "target")
    code, out = cli("import", "--db", db_url, "--study", "target", str(path))
    assert code == 0, out
    assert f"imported {counted(len(saved.trials), 'finished trial')}" in out
    assert f"({len(done)} done, {pruned} pruned)" in out
    imported = store.get_trials("target")
    assert [t.state.value for t in imported] == [
        "done" if d["result"]["status"] == "ok" else "pruned" for d in saved.trials
    ]
    assert [t.result["loss"] for t in imported] == pytest.approx(
        [d["result"]["loss"] for d in saved.trials]
    )
    assert [t.intermediate for t in imported] == [
        d["intermediate"] for d in saved.trials
    ]


# ---- a study moved: every finished state ---------------------------------------


@pytest.mark.parametrize("pair", [False, True], ids=["one", "two_objectives"])
def test_a_json_export_brings_every_finished_state_back(store, db_url, tmp_path, pair):
    """The JSON export's finished trials come back in their states, with their
    results, errors (traceback too) and reports; importing it again adds nothing
    (every state has its identity)."""
    stored_study(db_url, pair)
    path = _export(db_url, "a", "json", tmp_path / "a.json")
    new_study(store, "b", ["error", "size"] if pair else None)
    code, out = cli("import", "--db", db_url, "--study", "b", path)
    assert code == 0, out
    assert "(1 cancelled, 3 done, 1 failed (status fail), 1 error, 2 pruned)" in out
    assert "left out 2 trials (1 new, 1 running)" in out
    before, after = store.get_trials("a")[:8], store.get_trials("b")
    assert [t.state.value for t in after] == STATES[:8]
    for old, new in zip(before, after, strict=True):
        assert (new.params, new.config, new.intermediate) == (
            old.params, old.config, old.intermediate,
        )  # fmt: skip
        origin = f"a.json#{old.tid}"
        if old.result is not None:
            assert new.result == {**old.result, "imported_from": origin}
        if old.error is not None:
            assert new.error == {**old.error, "imported_from": origin}
    pruned = [t for t in after if t.state is TrialState.PRUNED]
    assert [t.result["loss"] for t in pruned] == [6.5, None]  # the worker's
    code, out = cli("import", "--db", db_url, "--study", "b", path)
    assert code == 0 and "imported 0 finished trials" in out, out
    assert "skipped 8 the study already holds" in out


def test_a_csv_import_takes_the_losses_by_objective_name(store, db_url, tmp_path):
    """A study whose objectives are named in another order than the file's takes
    each loss by its name; one with other names refuses the file whole."""
    stored_study(db_url, pair=True)
    path = _export(db_url, "a", "csv", tmp_path / "a.csv")
    new_study(store, "b", ["size", "error"])
    code, out = cli("import", "--db", db_url, "--study", "b", path)
    assert code == 0, out
    done = [t for t in store.get_trials("b") if _status(t) == "ok"]
    sources = [
        t for t in store.get_trials("a") if (t.result or {}).get("status") == "ok"
    ]
    assert [t.result["loss"] for t in done] == [s.result["loss"][::-1] for s in sources]
    new_study(store, "c", ["error", "latency"])
    with pytest.raises(
        ValueError,
        match="study's objectives are error, latency, so an "
        "import must name those, but the file names error, size",
    ):
        StoreTrials(db_url, study="c").import_results(path)
    assert store.get_trials("c") == []
    new_study(store, "d", None)
    bad = tmp_path / "bad.csv"
    head, *rows = Path(path).read_text().splitlines()
    out_of_space = rows[-3].rsplit(",", 2)[0] + ",99.0,0.0"  # param.x, param.y
    bad.write_text("\n".join([head, *rows[:-3], out_of_space]))  # cancelled row
    with pytest.raises(ValueError, match="does not fit the study's space"):
        StoreTrials(db_url, study="d").import_results(str(bad))
    assert store.get_study("d").settings.get("objective_names") is None  # unwritten


def test_a_json_import_takes_the_losses_by_objective_name(store, db_url, tmp_path):
    """A JSON export names the objectives in each record, so an import into a study
    that names them in another order takes each loss by its name (without them it
    swapped every pair), and one into a study without names names it."""
    stored_study(db_url, pair=True)
    path = _export(db_url, "a", "json", tmp_path / "a.json")
    assert {tuple(r["objectives"]) for r in json.loads(Path(path).read_text())} == {
        ("error", "size")
    }
    sources = [t for t in store.get_trials("a") if _status(t) == "ok"]
    new_study(store, "b", ["size", "error"])
    code, out = cli("import", "--db", db_url, "--study", "b", path)
    assert code == 0, out
    done = [t for t in store.get_trials("b") if _status(t) == "ok"]
    assert [t.result["loss"] for t in done] == [s.result["loss"][::-1] for s in sources]
    new_study(store, "c", ["error", "latency"])
    with pytest.raises(ValueError, match="but the file names error, size"):
        StoreTrials(db_url, study="c").import_results(path)
    new_study(store, "d", None)
    StoreTrials(db_url, study="d").import_results(path)
    assert store.get_study("d").settings["objective_names"] == ["error", "size"]
    bad = tmp_path / "bad.json"
    records = json.loads(Path(path).read_text())
    records[0]["objectives"] = "error,size"
    bad.write_text(json.dumps(records))
    with pytest.raises(ValueError, match="item 0 must name its objectives as a list"):
        StoreTrials(db_url, study="d").import_results(str(bad))


@pytest.mark.parametrize(
    ("cells", "message"),
    [({"state": "error", "error_type": ""}, "an error trial must have its error"),
     ({"intermediate": '{"1": "x"}'}, "intermediate values that are not numbers"),
     ({"intermediate": "[1]"}, r"as a \{step: value\} dict")],
)  # fmt: skip
def test_a_csv_import_refuses_an_outcome_it_cannot_read(
    store, db_url, tmp_path, cells, message
):
    row = {"tid": "0", "state": "done", "loss": "0.5", "status": "ok",
           "param.x": "0.5", "param.y": "0.5", **cells}  # fmt: skip
    path = _csv_file(tmp_path / "bad.csv", [row])
    make(store, "target")
    with pytest.raises(ValueError, match=message):
        StoreTrials(db_url, study="target").import_results(path)
    assert store.get_trials("target") == []


def _status(trial):
    return (trial.result or {}).get("status")


def test_a_json_import_refuses_a_result_that_is_no_dict(store, db_url, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"tid": 4, "state": "done", "params": {"x": 0.5},
                                 "result": [0.5]}]))  # fmt: skip
    make(store, "target")
    with pytest.raises(ValueError, match=r"bad.json: item 0 must have its result as"):
        StoreTrials(db_url, study="target").import_results(str(path))
    assert store.get_trials("target") == []


def test_a_csv_without_its_loss_column_takes_the_objective_columns(
    store, db_url, tmp_path
):
    """A table edited elsewhere kept ``objective.<name>`` but dropped ``loss``: the
    losses come from the named columns, in the study's order of names."""
    rows = [{"tid": "3", "state": "done", "status": "ok", "objective.size": "2.5",
             "objective.error": "0.25", "param.x": "0.5",
             "param.y": "0.5"}]  # fmt: skip
    path = _csv_file(tmp_path / "edited.csv", rows)
    new_study(store, "b", ["error", "size"])
    code, out = cli("import", "--db", db_url, "--study", "b", path)
    assert code == 0 and "imported 1 finished trial (1 done)" in out, out
    assert store.get_trials("b")[0].result["loss"] == [0.25, 2.5]


def test_a_new_study_keeps_the_config_a_json_export_carries(store, db_url, tmp_path):
    """A trial's config is what the space made of its params (a choice's option,
    not its index): a JSON export carries it, and a study made by import --create,
    which has no space to make it, keeps the export's (it was None); a CSV export
    carries only the params, so its trials' config stays None until a space."""
    make(store, "a", BRANCHY)
    points = [{"m": 0, "a": 2}, {"m": 1, "b": 0.25}]
    configs = [space_eval(BRANCHY, p) for p in points]
    assert configs == [{"m": {"a": 2}}, {"m": {"b": 0.25}}]
    store.insert_finished("a", [
        FinishedTrial(p, c, {"loss": float(i), "status": "ok"})
        for i, (p, c) in enumerate(zip(points, configs, strict=True))
    ])  # fmt: skip
    for fmt in ("json", "csv"):
        path = _export(db_url, "a", fmt, tmp_path / f"a.{fmt}")
        code, out = cli("import", "--db", db_url, "--study", fmt, "--create", path)
        assert code == 0, out
    assert [t.config for t in store.get_trials("json")] == configs
    assert [t.params for t in store.get_trials("json")] == points
    assert [t.config for t in store.get_trials("csv")] == [None, None]


#: One choice, its options in either order: params {"opt": 0} mean "sgd" in one and
#: "adam" in the other.
OPTIMISERS = {"opt": hp.choice("opt", ["sgd", "adam"]), "x": hp.uniform("x", 0, 1)}
SWAPPED = {"opt": hp.choice("opt", ["adam", "sgd"]), "x": hp.uniform("x", 0, 1)}


def _json_export_of_sgd(store, db_url, tmp_path):
    """A JSON export of one done trial of ``OPTIMISERS``: params ``{"opt": 0}``,
    config ``{"opt": "sgd"}``."""
    make(store, "source", OPTIMISERS)
    params = {"opt": 0, "x": 0.5}
    config = space_eval(OPTIMISERS, params)
    assert config == {"opt": "sgd", "x": 0.5}
    store.insert_finished("source", [FinishedTrial(params, config, {"loss": 1.0})])
    return _export(db_url, "source", "json", tmp_path / "sgd.json")


def test_an_import_whose_config_the_space_makes_otherwise_is_refused(
    store, db_url, tmp_path
):
    """A JSON export carries the config its objective was called with. Into a study
    whose space makes another config of the same params (a choice's options in
    another order), the trial's loss is another option's: the import took the
    params alone and credited "adam" with the loss "sgd" got. Now it is refused,
    naming both configs, and the same space's export still goes in."""
    path = _json_export_of_sgd(store, db_url, tmp_path)
    make(store, "swapped", SWAPPED)
    code, out = cli("import", "--db", db_url, "--study", "swapped", path)
    assert code == 1, out
    assert "sgd.json#0's config must be what the study's space makes of" in out, out
    assert "but got config={'opt': 'sgd', 'x': 0.5}" in out, out
    assert "{'opt': 'adam', 'x': 0.5}" in out, out
    assert store.get_trials("swapped") == []
    make(store, "same", OPTIMISERS)
    code, out = cli("import", "--db", db_url, "--study", "same", path)
    assert code == 0 and "imported 1 finished trial" in out, out
    assert [t.config for t in store.get_trials("same")] == [{"opt": "sgd", "x": 0.5}]


def test_a_start_refuses_a_space_that_makes_an_imported_config_otherwise(
    store, db_url, tmp_path
):
    """import --create keeps a JSON export's config (the study has no space yet);
    the start that gives the space checked only the params, so a space whose choice
    lists its options in another order was taken, the trial's config then naming an
    option its params do not. Now the start is refused like a trial that does not
    fit; the export's own space is taken."""
    path = _json_export_of_sgd(store, db_url, tmp_path)
    code, out = cli("import", "--db", db_url, "--study", "new", "--create", path)
    assert code == 0, out
    swapped = {"objective": "tests.e2e.objectives:quadratic", "max_evals": 5,
               **space_settings(SWAPPED)}  # fmt: skip
    with pytest.raises(StudyMismatchError) as refused:
        open_study(store, "new", swapped)
    text = str(refused.value)
    assert "but got misfits=1" in text, text
    assert "trial 0 (sgd.json#0): its config {'opt': 'sgd', 'x': 0.5} is not" in text
    assert store.get_study("new").settings["space"] is None
    given = {**swapped, **space_settings(OPTIMISERS)}
    assert open_study(store, "new", given)[0].space is not None


def test_an_import_kept_out_by_a_held_lease_says_so_in_the_teams_form(
    store, monkeypatch
):
    """An import into a study without a space waits for another holder of its
    driver lease (here a live driver on another host), then gives up saying what
    must hold and what it got, and writes nothing."""
    from hpo_service.driver import _warm_start
    from hpo_service.driver._study import create_without_space

    create_without_space(store, "s")
    holder = "driver@elsewhere:1:abcdef"
    assert store.acquire_driver_lease("s", holder, 600.0)
    monkeypatch.setattr(_warm_start, "IMPORT_WAIT_SECONDS", 0.0)
    point = Evaluated({"x": 0.5}, {"loss": 1.0, "status": "ok"}, "f.json#0")
    with pytest.raises(ValueError) as refused:
        import_results(store, "s", [point])
    assert str(refused.value) == (
        "an import into study 's' (no search space yet) must take its "
        f"driver lease within 0 s, but got holder={holder} throughout, so nothing "
        "was imported: import again once it ends"
    )
    assert store.get_trials("s") == []
    assert store.get_study("s").driver_owner == holder


def test_an_import_done_stays_done_when_its_lease_cannot_be_given_back(
    store, monkeypatch, caplog
):
    """The store fails just as the import gives its lease back (its trials are
    in): the release's error was raised from the import's ``finally``, so a done
    import read as failed (and an import's own error was hidden the same way). Now
    the import returns its report and says when the lease runs out."""
    from hpo_service.driver._study import create_without_space
    from hpo_service.exceptions import StoreConnectionError

    create_without_space(store, "s")

    def unreachable(study, owner):
        raise StoreConnectionError("the store stopped answering")

    monkeypatch.setattr(store, "release_driver_lease", unreachable)
    point = Evaluated({"x": 0.5}, {"loss": 1.0, "status": "ok"}, "f.json#0")
    with caplog.at_level("WARNING", logger="hpo_service.driver._warm_start"):
        report = import_results(store, "s", [point])
    assert report.imported == [0]
    assert [t.params for t in store.get_trials("s")] == [{"x": 0.5}]
    assert "the import's driver lease was not given back (the store stopped" in (
        caplog.text
    )
