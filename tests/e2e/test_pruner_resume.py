"""``hpo-driver start --pruner NAME`` resuming a study of the same pruner: a setting
not given keeps the stored one (real processes, SQLite).

ASHA's default ``reduction_factor`` became 2 (20d7da98; it was 3). A study started
before with ``--pruner asha --max-resource 9`` stored eta 3, and the same command run
again to resume it was refused ("exists with different pruner settings ...
reduction_factor 3 -> 2; ... pass --override"), the override then switching it to
eta 2: the default of a setting the user never gave counted as a change.
"""

from __future__ import annotations

from hpo_service.store import TrialState, open_store

DRIVER = "hpo_service.driver"
CURVE = [
    "--objective", "tests.e2e.objectives:curve",
    "--space", "tests.e2e.objectives:curve_space",
    "--workers", "1", "--no-progress",
]  # fmt: skip


def _stored(db: str) -> tuple[str, dict, int]:
    """Study s's pruner, its settings and how many of its trials finished (done or
    pruned: the pruner may stop the second one)."""
    with open_store(db) as store:
        settings = store.get_study("s").settings
        counts = store.count_by_state("s")
    finished = counts[TrialState.DONE] + counts[TrialState.PRUNED]
    return settings["pruner"], settings["pruner_settings"], finished


def test_the_same_command_resumes_a_study_stored_with_the_old_eta(procs, tmp_path):
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    asha = ["--pruner", "asha", "--max-resource", "9"]
    # what `--pruner asha --max-resource 9` stored before the default changed
    first = procs.run(DRIVER, "start", "--db", db, "--study", "s", *CURVE, *asha,
                      "--reduction-factor", "3", "--max-evals", "1")  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = procs.run(DRIVER, "start", "--db", db, "--study", "s", *CURVE, *asha,
                      "--max-evals", "2")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "different pruner settings" not in again.stderr
    name, settings, finished = _stored(db)
    assert name == "asha"
    assert (settings["reduction_factor"], settings["max_resource"]) == (3, 9)
    assert finished == 2


def test_a_setting_given_on_resume_still_counts_as_a_change(procs, tmp_path):
    """Only the settings not given are kept: one given with another value is
    refused without --override, and with it replaces the stored one alone."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    start = [DRIVER, "start", "--db", db, "--study", "s", *CURVE, "--pruner", "asha"]
    first = procs.run(*start, "--max-resource", "9", "--min-resource", "3",
                      "--reduction-factor", "3", "--max-evals", "1")  # fmt: skip
    assert first.returncode == 0, first.stderr
    changed = procs.run(*start, "--reduction-factor", "4", "--max-evals", "2")
    assert changed.returncode == 2, changed.stderr
    message = " ".join(changed.stderr.split())
    assert "stored -> given: reduction_factor 3 -> 4);" in message, message
    override = procs.run(*start, "--reduction-factor", "4", "--max-evals", "2",
                         "--override")  # fmt: skip
    assert override.returncode == 0, override.stderr
    _, settings, _ = _stored(db)
    assert settings == {"min_resource": 3, "max_resource": 9, "reduction_factor": 4,
                        "min_early_stopping_rate": 0}  # fmt: skip


def test_another_pruner_takes_its_own_defaults(procs, tmp_path):
    """Switching pruner (with --override) keeps nothing of the old one's settings:
    Hyperband's eta is its default 3, not ASHA's stored 4."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    start = [DRIVER, "start", "--db", db, "--study", "s", *CURVE]
    first = procs.run(*start, "--pruner", "asha", "--max-resource", "9",
                      "--reduction-factor", "4", "--max-evals", "1")  # fmt: skip
    assert first.returncode == 0, first.stderr
    switch = procs.run(*start, "--pruner", "hyperband", "--max-resource", "9",
                       "--max-evals", "2", "--override")  # fmt: skip
    assert switch.returncode == 0, switch.stderr
    name, settings, _ = _stored(db)
    assert name == "hyperband"
    assert settings == {"min_resource": 1, "max_resource": 9, "reduction_factor": 3}
