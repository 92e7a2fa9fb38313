"""A config holding an integer beyond 64 bits (which MongoDB cannot store, though
JSON can) is refused up front on every backend with one message: by ``hpo-driver
start`` for a suggestion and by ``hpo-driver enqueue`` for a given point, nothing
queued. Before, MongoDB refused it at the insert ("integers stored in MongoDB must
fit in 64 bits", naming neither the space nor the point) and SQLite queued it.
Real ``hpo-driver`` processes; MongoDB through pymongo over TCP to secantusdb."""

from __future__ import annotations

from hpo_service.store import open_store

DRIVER = "hpo_service.driver.cli"
SPACE = "tests.e2e.objectives:big_int_space"
REFUSAL = (
    "the space must make a config every store can hold (JSON values, integers "
    "within 64 bits) of every point it gives (the study stores each one), but of "
    "params {'e': 70"
)


def _said(run) -> str:
    assert "Traceback" not in run.stderr, run.stderr
    return " ".join(run.stderr.split())


def test_a_config_beyond_64_bit_integers_is_refused_on_every_backend(procs, any_db):
    run = procs.run(DRIVER, "start", "--db", any_db, "--study", "b", "--objective",
                    "tests.e2e.objectives:sum_of_squares", "--space", SPACE,
                    "--max-evals", "2", "--workers", "1", "--no-progress")  # fmt: skip
    assert run.returncode == 1, run.stderr
    said = _said(run)
    assert f"Error: {REFUSAL}" in said, said
    assert "1180591620717411303424" in said  # the value made
    with open_store(any_db) as store:
        assert sum(store.count_by_state("b").values()) == 0
    given = procs.run(DRIVER, "enqueue", "--db", any_db, "--study", "b",
                      "--params", "{\"e\": 70}")  # fmt: skip
    assert given.returncode != 0, given.stderr
    assert REFUSAL in _said(given), given.stderr
    with open_store(any_db) as store:
        assert sum(store.count_by_state("b").values()) == 0
