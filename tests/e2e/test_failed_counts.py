"""Every count of a study's trials says what ``hpo-driver start``'s end line says:
``done`` trials returned status ok, ``failed`` ones status fail.

Before, ``hpo-driver status`` showed ``done=29`` (and a line "of the done trials,
6 failed") for a study whose driver had ended with "23 done, 6 failed"; the report
and the dashboard showed ``done=29`` only; an import said "29 done". Real driver,
worker and CLI processes, on SQLite and on the MongoDB-wire server.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from hpo_service.insight._data import StudyData
from hpo_service.insight._live import summary_of
from hpo_service.store import open_store

from .conftest import Processes

DRIVER = "hpo_service.driver.cli"
STUDY_MODULE = textwrap.dedent(
    """
    from hpo_service import STATUS_FAIL, hp

    space = {"x": hp.uniform("x", -5, 5)}

    def half_fails(config):
        if config["x"] < 0:
            return {"status": STATUS_FAIL, "failure": "negative x"}
        return config["x"] ** 2
    """
)


def test_status_report_dashboard_and_import_count_as_the_end_line(
    procs: Processes, any_db: str, tmp_path: Path
) -> None:
    (tmp_path / "halves.py").write_text(STUDY_MODULE)
    run = procs.run_in(
        tmp_path, DRIVER, "start", "--db", any_db, "--study", "h",
        "--objective", "halves:half_fails", "--space", "halves:space",
        "--max-evals", "10", "--workers", "1", "--no-progress", "--seed", "7",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    said = re.search(r"; (\d+) done, (\d+) failed \(status fail\)", run.stdout)
    assert said is not None, run.stdout
    ok, failed = map(int, said.groups())
    assert ok > 0 and failed > 0 and ok + failed == 10, run.stdout

    status = procs.run(DRIVER, "status", "--db", any_db, "--study", "h")
    assert status.returncode == 0, status.stderr
    assert f"  done={ok}  failed={failed} (status fail)  " in status.stdout
    assert "of the done trials" not in status.stdout

    as_json = procs.run(DRIVER, "status", "--db", any_db, "--study", "h", "--json")
    summary = json.loads(as_json.stdout)
    assert summary["counts"]["done"] == ok + failed  # the store's state, as before
    assert summary["failed"] == failed
    assert summary["outcomes"]["done"] == ok
    assert summary["outcomes"]["failed"] == failed
    words = list(summary["outcomes"])
    assert words[words.index("done") + 1] == "failed"

    with open_store(any_db) as store:
        live = summary_of(StudyData.from_store(store, "h"))  # the dashboard's JSON
    assert live["outcomes"] == {"done": ok, "failed": failed}
    assert live["counts"] == {"done": ok + failed} and live["failed"] == failed

    page = tmp_path / "h.html"
    report = procs.run(
        DRIVER, "report", "--db", any_db, "--study", "h", "--out", str(page)
    )
    assert report.returncode == 0, report.stderr
    assert f"(done={ok} failed={failed} (status fail))" in page.read_text()

    export = procs.run(DRIVER, "trials", "--db", any_db, "--study", "h")
    (tmp_path / "h.csv").write_text(export.stdout)
    imported = procs.run(
        DRIVER, "import", "--db", any_db, "--study", "copy", "--create",
        str(tmp_path / "h.csv"),
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "(10 done, " not in imported.stdout
    assert f"({ok} done, {failed} failed (status fail)) " in imported.stdout
