"""What an operator reads: every log line of real ``hpo-driver`` and ``hpo-worker``
processes says when, which process and which module (``TIME PID LEVEL LOGGER:``)."""

from __future__ import annotations

import re

DRIVER = "hpo_service.driver.cli"
WORKER = "hpo_service.worker"
RUN = ["--objective", "tests.e2e.objectives:quadratic",
       "--space", "tests.e2e.objectives:space", "--no-progress"]  # fmt: skip
LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<pid>\d+) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<name>[\w.]+): (?P<msg>.*)$"
)
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def log_lines(text: str) -> list[re.Match[str]]:
    """The log lines of ``text`` (those starting with a time), each parsed; a line
    with a time but not the whole format fails the test."""
    stamped = [line for line in text.splitlines() if STAMP.match(line)]
    parsed = [LINE.match(line) for line in stamped]
    bad = [line for line, match in zip(stamped, parsed, strict=True) if not match]
    assert not bad, bad
    return [match for match in parsed if match]


def test_driver_and_worker_lines_name_their_process_and_logger(procs, tmp_path):
    """The driver's lines had no pid and no logger (``TIME LEVEL MESSAGE``), the
    worker's no pid: two drivers or workers on one terminal could not be told
    apart."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    driver = procs.start(
        DRIVER, "-v", "start", "--db", db, "--study", "s", *RUN, "--max-evals", "2",
        "--workers", "1",
    )  # fmt: skip
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err
    lines = log_lines(err)
    ours = [m for m in lines if m["pid"] == str(driver.pid)]
    assert any(m["name"] == "hpo_service.driver._local_workers" for m in ours), err
    assert all(m["name"].startswith("hpo_service.") for m in lines), err
    worker = procs.run(WORKER, "--db", db, "--study", "s", "--idle-timeout", "1")
    assert worker.returncode == 0, worker.stderr
    theirs = log_lines(worker.stderr)
    assert theirs, worker.stderr
    assert any(m["name"] == "hpo_service.worker._loop" for m in theirs)
    assert {m["pid"] for m in theirs} == {str(int(theirs[0]["pid"]))}
    assert theirs[0]["pid"] != str(driver.pid)
