"""Bad command-line input gives a usage error or a clear message, never a traceback."""

from __future__ import annotations

import subprocess

import pytest

from hpo_service import hp
from hpo_service.driver._study import open_study, space_settings
from hpo_service.store import FinishedTrial, open_store

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"


def run_together(procs, commands):
    """Run each ``(module, *args)`` of ``commands`` to completion, all at once (a
    dozen interpreter starts use every core); their ``CompletedProcess``, in order."""
    started = [procs.start(*command) for command in commands]
    return [
        subprocess.CompletedProcess(proc.args, proc.returncode, *outputs)
        for proc, outputs in ((p, p.communicate(timeout=120)) for p in started)
    ]


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'hpo.sqlite'}"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["start"], 2, "Missing option '--study'"),
        (["status"], 2, "Missing option '--study'. Name the study: `hpo-driver "
         "studies` lists those of the store (a MongoTrials study is named by its "
         "exp_key)"),
        (["start", "--study", "s", "--max-evals", "0"], 2, "--max-evals"),
        (["start", "--study", "s", "--max-evals", "ten"], 2, "--max-evals"),
        (["start", "--study", "s", "--algo", "annealing"], 2, "--algo"),
        (["start", "--study", "s", "--max-evals", "5"], 2, "objective"),
        (["start", "--study", "s", "--objective", "no_colon", "--max-evals", "5",
          "--space", "tests.e2e.objectives:space"], 2, "package.module:name"),
        (["start", "--study", "s", "--objective", "nosuchmodule:f", "--max-evals", "5",
          "--space", "tests.e2e.objectives:space"], 1, "nosuchmodule"),
        (["start", "--study", "s", "--objective", "tests.e2e.objectives:quadratic",
          "--space", "tests.e2e.objectives:nospace", "--max-evals", "5"], 1, "nospace"),
        (["start", "--study", "s", "--objective", "tests.e2e.objectives:quadratic",
          "--space", "tests.e2e.objectives:duplicate_label_space", "--max-evals", "5"],
         1, "invalid space 'tests.e2e.objectives:duplicate_label_space'"),
        (["start", "--study", "s", "--objective", "no:such:thing", "--max-evals", "5",
          "--space", "tests.e2e.objectives:space"], 2, "'--objective'"),
        (["status", "--study", "missing"], 1, "no SQLite database at"),
        (["best", "--study", "missing"], 1, "no SQLite database at"),
        (["trials", "--study", "s", "--format", "xml"], 2, "--format"),
        (["nosuchcommand"], 2, "No such command"),
    ],
)  # fmt: skip
def test_driver_usage_errors(procs, db, args, code, message):
    run = procs.run(DRIVER, args[0], "--db", db, *args[1:]) if args[0] in (
        "start", "status", "best", "trials") else procs.run(DRIVER, *args)  # fmt: skip
    assert run.returncode == code, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "db_url", ["postgres://localhost/x", "sqlite:////no/such/dir/x.sqlite",
               "mongodb://user:secret@127.0.0.1:1/?serverSelectionTimeoutMS=300"],
)  # fmt: skip
def test_bad_database_urls(procs, db_url):
    # a worker would wait for an unanswered server (test_wait_for_store.py)
    for module, args in ((DRIVER, ["status", "--study", "s"]),
                         (WORKER, ["--wait-for-store=0"])):  # fmt: skip
        run = procs.run(module, *args[:1], "--db", db_url, *args[1:], timeout=60)
        assert run.returncode in (1, 2), run.stderr
        assert "Traceback" not in run.stderr
        assert "secret" not in run.stderr + run.stdout


@pytest.mark.parametrize(
    ("given", "hint"),
    [("hpo.sqlite", "; did you mean 'sqlite:///hpo.sqlite'?"),
     ("/abs/dir/study.db", "; did you mean 'sqlite:////abs/dir/study.db'?"),
     ("sqlite:/hpo.sqlite", "; a SQLite URL is sqlite:/// then the file's path: "
      "sqlite:///relative.sqlite, sqlite:////abs/path.sqlite"),
     ("sqlite://hpo.sqlite", "; did you mean 'sqlite:///hpo.sqlite'?"),
     ("sqlite://", ""),
     ("mongo.example", "")],
)  # fmt: skip
def test_a_sqlite_file_given_without_its_scheme_is_answered_with_the_url(
    procs, given, hint
):
    """`--db hpo.sqlite` (or HPO_DB=hpo.sqlite) names the URL it means, to a driver
    command and a worker alike; before, the error listed the schemes only. So does
    `sqlite://hpo.sqlite`, two slashes where a relative path takes three (before:
    the URL's form only)."""
    procs.env["HPO_DB"] = given
    runs = run_together(
        procs, [(DRIVER, "status", "--study", "s"), (WORKER, "--study", "s")]
    )
    for run in runs:
        assert run.returncode == 2, run.stderr
        assert run.stderr.rstrip().endswith(f"but got url={given!r}{hint}"), run.stderr


def test_help_texts(procs):
    for module, args in ((DRIVER, ["--help"]), (DRIVER, ["start", "--help"]),
                         (WORKER, ["--help"])):  # fmt: skip
        run = procs.run(module, *args)
        assert run.returncode == 0
        assert "--db" in run.stdout or "Commands" in run.stdout


def test_help_texts_show_no_empty_range(procs):
    """`hpo-driver start --help` showed `[x<=None]` for --loss-threshold (a number
    option without bounds): every command's help names only real bounds."""
    commands = ["best", "cancel", "dashboard", "enqueue", "import", "importance",
                "report", "start", "status", "studies", "trials"]  # fmt: skip
    runs = run_together(procs, [(DRIVER, command, "--help") for command in commands]
                        + [(WORKER, "--help")])  # fmt: skip
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "None]" not in run.stdout, run.stdout
    start_help = runs[commands.index("start")].stdout
    assert "--loss-threshold FLOAT" in start_help


def test_every_command_names_the_database_and_its_studies_for_an_unknown_study(
    procs, db, tmp_path
):
    """README: "study not found" names the database and the studies it holds, for
    every command that takes --study (report, importance, enqueue, import and
    dashboard said only "`study` must name an existing study"). The dashboard warns
    with the same words and serves (tests/insight/test_dashboard.py)."""
    point = {"x": 0.5, "y": 0.0}  # a stored study: every command below fails first
    with open_store(db, create=True) as store:
        store.create_study("there", {"max_evals": 1})
        done = FinishedTrial(point, point, {"loss": 0.25, "status": "ok"})
        store.insert_finished("there", [done])
    export = tmp_path / "export.json"
    export.write_text(procs.run(DRIVER, "trials", "--db", db, "--study", "there",
                                "--format", "json").stdout)  # fmt: skip
    commands = [["status"], ["best"], ["trials"], ["cancel"],
                ["report", "--out", str(tmp_path / "r.html")], ["importance"],
                ["enqueue", "--params", '{"x": 0, "y": 0}'],
                ["import", str(export)]]  # fmt: skip
    path = db.removeprefix("sqlite:///")
    runs = run_together(
        procs,
        [(DRIVER, *command, "--db", db, "--study", "gone") for command in commands],
    )
    for command, run in zip(commands, runs, strict=True):
        assert run.returncode == 1, (command, run.stderr)
        hows = {
            "enqueue": ". To enqueue points into a new study, create it first: "
            f"`hpo-driver start --db {db} --study gone --objective REF --space REF "
            "--max-evals N` without --workers queues its first trial and waits for "
            "workers",
            "import": ". To import into a new study, pass --create: it creates the "
            "study without a search space (a later `hpo-driver start --space REF` "
            "gives it one)",
        }
        how = hows.get(command[0], "")
        assert run.stderr.strip().splitlines() == [
            f"Error: study 'gone' not found in SQLite database {path} (it holds: "
            f"there); pass --db (or set HPO_DB) to use another store{how}"
        ], command


def test_a_mistyped_study_is_answered_with_the_closest_names(procs, db, tmp_path):
    """Every command (and a worker at its idle timeout) that meets a study the store
    does not hold names the stored studies closest to it, as the dashboard's warning
    and a mistyped `--objective` do: before, only the dashboard said "did you mean
    'noisy'?", and `status --study nosy` left the user to spot the typo in the list."""
    with open_store(db, create=True) as store:
        for name in ("noisy", "quadratic", "nosey-long-name"):
            store.create_study(name, {"max_evals": 1})
    commands = [["status"], ["best"], ["trials"], ["cancel"], ["importance"],
                ["report", "--out", str(tmp_path / "r.html")]]  # fmt: skip
    runs = run_together(
        procs,
        [(DRIVER, *command, "--db", db, "--study", "nosy") for command in commands]
        + [(WORKER, "--db", db, "--study", "nosy", "--idle-timeout", "0.5")],
    )
    path = db.removeprefix("sqlite:///")
    held = f"in SQLite database {path} (it holds: noisy, quadratic, nosey-long-name"
    for command, run in zip([*commands, ["hpo-worker"]], runs, strict=True):
        assert run.returncode == 1, (command, run.stderr)
        last = run.stderr.strip().splitlines()[-1]
        assert f"{held}; did you mean 'noisy'?); pass --db" in last, (command, last)
    far = procs.run(DRIVER, "status", "--db", db, "--study", "zzz")
    assert f"{held}); pass --db" in far.stderr  # nothing close: no hint
    # another case: before, 'NOISY' got no hint (compared as typed, ratio 0)
    shouted = procs.run(DRIVER, "status", "--db", db, "--study", "NOISY")
    assert f"{held}; did you mean 'noisy'?); pass --db" in shouted.stderr


@pytest.mark.parametrize(
    ("module", "args", "flag"),
    [
        (DRIVER, ["--lease-seconds", "nan"], "--lease-seconds"),
        (DRIVER, ["--lease-seconds", "inf"], "--lease-seconds"),
        (DRIVER, ["--timeout", "nan"], "--timeout"),
        (DRIVER, ["--trial-timeout", "inf"], "--trial-timeout"),
        (DRIVER, ["--stop-grace", "nan"], "--stop-grace"),
        (DRIVER, ["--loss-threshold", "nan"], "--loss-threshold"),
        (DRIVER, ["--pruner", "percentile", "--percentile", "nan"], "--percentile"),
        (WORKER, ["--poll-interval", "nan"], "--poll-interval"),
        (WORKER, ["--idle-timeout", "nan"], "--idle-timeout"),
        (WORKER, ["--reserve-timeout", "nan"], "--reserve-timeout"),
    ],
)  # fmt: skip
def test_a_number_option_refuses_nan_and_infinity(
    procs, db, tmp_path, module, args, flag
):
    """A NaN passed click's range checks: `--lease-seconds nan` was stored with the
    study and every worker then died with a traceback; `--poll-interval nan` gave
    one at once."""
    if module == DRIVER:
        args = ["start", "--db", db, "--study", "s", "--max-evals", "2",
                "--objective", "tests.e2e.objectives:quadratic",
                "--space", "tests.e2e.objectives:space", "--workers", "1",
                "--no-progress", *args]  # fmt: skip
    else:
        args = ["--db", db, "--idle-timeout", "1", *args]
    run = procs.run(module, *args)
    assert run.returncode == 2, run.stderr
    assert f"Invalid value for '{flag}':" in run.stderr
    assert "is not a finite number" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "hpo.sqlite").exists()


@pytest.mark.parametrize("db_url", ["mongomock://demo", "sqlite:///:memory:"])
def test_an_in_process_store_is_refused_by_every_command(procs, db_url):
    """A mongomock:// or in-memory SQLite store lives inside one process: with it
    `hpo-driver start --workers 2` waited for ever (its workers each had their own,
    empty store) and read commands always found no study. The commands are
    processes of their own, so they refuse such a URL, naming what to use."""
    start = ["start", "--study", "s", "--objective", "tests.e2e.objectives:quadratic",
             "--space", "tests.e2e.objectives:space", "--max-evals", "2",
             "--workers", "2", "--no-progress"]  # fmt: skip
    for module, args in ((DRIVER, start), (DRIVER, ["status", "--study", "s"]),
                         (WORKER, [])):  # fmt: skip
        run = procs.run(module, *args[:1], "--db", db_url, *args[1:], timeout=60)
        assert run.returncode == 2, run.stderr
        assert "lives inside one process" in run.stderr, run.stderr
        assert "sqlite:///hpo.sqlite" in run.stderr


def test_a_changed_study_names_the_override_flag_as_typed(procs, db):
    from hpo_service.driver._study import open_study, space_settings
    from hpo_service.store import open_store
    from tests.e2e.objectives import space

    given = {"objective": "tests.e2e.objectives:curve", "max_evals": 1}
    with open_store(db) as store:
        open_study(store, "s", {**given, **space_settings(space)})
    run = procs.run(DRIVER, "start", "--db", db, "--study", "s", "--objective",
                    "tests.e2e.objectives:quadratic", "--max-evals", "1")  # fmt: skip
    assert run.returncode == 2, run.stderr
    message = " ".join(run.stderr.split())  # click wraps long lines
    assert "exists with a different objective (objective: stored" in message
    assert "or pass --override to continue it with the new settings" in message
    assert "override=True" not in message


def test_a_worker_stopped_by_failures_names_the_command_that_lists_them(
    procs, tmp_path
):
    from hpo_service.store import open_store
    from tests.worker.conftest import OBJ, make_study

    with open_store(f"sqlite:///{tmp_path / 'hpo.sqlite'}") as store:
        make_study(store, "bad", f"{OBJ}:dispatch", [{"call": "raises"}] * 4)
    limit = ("--max-consecutive-failures", "2", "--idle-timeout", "5")
    default = procs.run_in(tmp_path, WORKER, "--study", "bad", *limit)
    assert default.returncode == 1, default.stderr
    assert (
        "see `hpo-driver trials --study bad --state error --format json`"
    ) in default.stderr
    elsewhere = procs.run(WORKER, "--db", f"sqlite:///{tmp_path / 'hpo.sqlite'}",
                          "--study", "bad", *limit)  # fmt: skip
    assert elsewhere.returncode == 1, elsewhere.stderr
    command = (
        f"see `hpo-driver trials --db sqlite:///{tmp_path / 'hpo.sqlite'} --study "
        "bad --state error --format json`"
    )
    assert command in " ".join(elsewhere.stderr.split())


def test_the_failures_command_masks_the_store_password():
    from hpo_service.worker.cli import _error_trials_command

    command = _error_trials_command("mongodb://u:secret@db:27017/hpo", "my study")
    assert command == (
        "`hpo-driver trials --db 'mongodb://u:***@db:27017/hpo' --study 'my study' "
        "--state error --format json` (the command shows *** in place of the "
        "password)"
    )
    assert _error_trials_command("sqlite:///hpo.sqlite", None) == (
        "`hpo-driver trials --study NAME --state error --format json` (NAME: the study)"
    )


N_JOBS = (
    "'--n-jobs' (Optuna's): each hpo-worker runs one trial at a time: start one per "
    "trial to run at once (or `hpo-driver start --workers K`)."
)


def test_optunas_option_names_point_at_ours_not_at_the_nearest_spelling(procs, db):
    """``--n-trials`` was answered "Did you mean '--startup-trials'?", ``--storage``
    with '--space', ``--direction`` with '--reduction-factor'."""
    start = [DRIVER, "start", "--db", db, "--study", "s",
             "--objective", "tests.e2e.objectives:quadratic",
             "--space", "tests.e2e.objectives:space"]  # fmt: skip
    cases = [
        ([*start, "--n-trials", "10"], "'--n-trials' (Optuna's): use '--max-evals'"),
        ([*start, "--n-trials=10"], "'--n-trials' (Optuna's): use '--max-evals'"),
        ([*start, "--storage", db], "'--storage' (Optuna's): use '--db'"),
        ([*start, "--sampler", "tpe"], "'--sampler' (Optuna's): use '--algo'"),
        ([*start, "--n-jobs", "4"], "'--n-jobs' (Optuna's): use '--workers'"),
        ([*start, "--direction", "maximize"], "return it negated"),
        (
            [DRIVER, "best", "--study-name", "s"],
            "'--study-name' (Optuna's): use '--study'",
        ),
        ([WORKER, "--storage", db], "'--storage' (Optuna's): use '--db'"),
        ([WORKER, "--n-trials", "3"], "Did you mean '--max-trials'?"),  # no counterpart
        # click's guess was '--max-jobs', hyperopt's number of trials to run
        ([WORKER, "--n-jobs", "2"], N_JOBS),
        ([*start, "--nope"], "No such option '--nope'."),  # click's own guess stays
    ]
    runs = run_together(procs, [command for command, _ in cases])
    for (command, message), run in zip(cases, runs, strict=True):
        assert run.returncode == 2, (command, run.stderr)
        assert message in run.stderr, (command, run.stderr)
        assert "Traceback" not in run.stderr
    assert "Did you mean" not in runs[0].stderr
    assert "Did you mean" not in runs[-2].stderr


def test_enqueue_of_a_plain_option_names_its_index(procs, db):
    """A choice's param is the index of its option: given the option itself (one of
    plain values), the refusal names the index to give."""
    space = {"loss": hp.choice("sgd_loss", ["log", "hinge", "modified_huber"])}
    with open_store(db, create=True) as store:
        given = {"objective": "tests.e2e.objectives:with_extra_keys", "max_evals": 2}
        open_study(store, "s", {**given, **space_settings(space)})
    given = ["--params", '{"sgd_loss": "hinge"}']
    run = procs.run(DRIVER, "enqueue", "--db", db, "--study", "s", *given)
    assert run.returncode != 0
    assert "'hinge' is option 1 of sgd_loss: give 1" in run.stderr, run.stderr
    run = procs.run(DRIVER, "enqueue", "--db", db, "--study", "s", "--params",
                    '{"sgd_loss": 1}')  # fmt: skip
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        (["--space", "tests.e2e.objectives:space"], "`--max-evals`"),
        (["--max-evals", "3"], "`--space`"),
        ([], "`--space` and `--max-evals`"),
    ],
)
def test_a_new_study_without_space_or_budget_creates_no_database(
    procs, db, tmp_path, given, missing
):
    """`start` of a new study without --space or --max-evals was refused only after
    it had created an empty database (later commands then said "study not found"
    instead of "no SQLite database at PATH")."""
    objective = ["--objective", "tests.e2e.objectives:quadratic"]
    run = procs.run(DRIVER, "start", "--db", db, "--study", "s", *objective, *given)
    assert run.returncode == 2, run.stderr
    assert f"{missing} must be given to create study 's'" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "hpo.sqlite").exists()


def test_an_objective_that_is_no_function_is_named_with_its_type(procs, db, tmp_path):
    """`--objective` naming the space (a dict) or a number said "... is a int"."""
    run = procs.run(DRIVER, "start", "--db", db, "--study", "s", "--max-evals", "2",
                    "--objective", "tests.helpers.objectives:NOT_CALLABLE",
                    "--space", "tests.e2e.objectives:space")  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "Error: objective 'tests.helpers.objectives:NOT_CALLABLE' must be callable (a "
        "function of the config), but got an object of type int"
    )
    assert not (tmp_path / "hpo.sqlite").exists()


@pytest.mark.parametrize(
    "command",
    ["status", "best", "trials", "cancel", "report", "importance", "enqueue", "start"],
)
def test_a_study_given_as_an_argument_is_answered_with_the_option(procs, db, command):
    """`hpo-driver status quadratic` (as optuna's commands take a study) was told
    "Name the study: `hpo-driver studies` lists those of the store", though it had
    named it; report, importance and enqueue said only "Missing option '--study'"."""
    run = procs.run(DRIVER, command, "--db", db, "my study")
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "Error: Missing option '--study'. Name the study with the option, --study "
        "'my study' (got 'my study' as an argument)"
    )
    bare = procs.run(DRIVER, command, "--db", db)
    assert bare.returncode == 2, bare.stderr
    assert bare.stderr.strip().splitlines()[-1] == (
        "Error: Missing option '--study'. Name the study: `hpo-driver studies` lists "
        "those of the store (a MongoTrials study is named by its exp_key)"
    )


@pytest.mark.parametrize(
    ("flags", "flag", "dotted"),
    [
        (["--objective", "tests.e2e.objectives.quadratic", "--space",
          "tests.e2e.objectives:space"], "--objective", "quadratic"),
        (["--objective", "tests.e2e.objectives:quadratic", "--space",
          "tests.e2e.objectives.space"], "--space", "space"),
    ],
)  # fmt: skip
def test_a_reference_written_with_dots_only_is_answered_with_the_colon(
    procs, db, tmp_path, flags, flag, dotted
):
    """A Python import path (`pkg.mod.fn`, as hyperopt scripts import it) was
    answered only "must look like `package.module:name`"."""
    run = procs.run(DRIVER, "start", "--db", db, "--study", "s", "--max-evals", "2",
                    *flags)  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"Error: Invalid value for '{flag}': a reference must look like "
        f"`package.module:name`, but got 'tests.e2e.objectives.{dotted}'; did you "
        f"mean 'tests.e2e.objectives:{dotted}'?"
    )
    assert not (tmp_path / "hpo.sqlite").exists()


@pytest.mark.parametrize("given", ["myspace.py", "myspace"])
def test_a_space_given_as_a_file_or_a_module_alone_is_answered_with_a_space(
    procs, db, tmp_path, given
):
    """`--space myspace.py` (a space file, as a hyperopt user keeps one) was told
    "name a function in it: 'myspace:FUNCTION'", and `--space myspace` got no hint."""
    (tmp_path / "myspace.py").write_text(
        "from hpo_service import hp\nspace = {'x': hp.uniform('x', 0, 1)}\n"
    )
    run = procs.run_in(tmp_path, DRIVER, "start", "--db", db, "--study", "s",
                       "--max-evals", "2", "--space", given,
                       "--objective", "tests.e2e.objectives:quadratic")  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "Error: Invalid value for '--space': a reference must look like "
        f"`package.module:name`, but got {given!r}; name the space in it: "
        "'myspace:SPACE'"
    )
    assert not (tmp_path / "hpo.sqlite").exists()
