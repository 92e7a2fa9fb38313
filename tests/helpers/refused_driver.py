"""A running ``hpo-driver start`` whose writes the MongoDB-wire server then refuses
with one error code (its ``failCommand`` fail point): how the driver ends."""

from __future__ import annotations

import subprocess
from typing import Protocol

from hpo_service.store import open_store
from tests.e2e.conftest import wait_until
from tests.helpers.mongo_wire import fail_point

WRITES = ["findAndModify", "update", "insert"]
"""The commands of a driver's writes (claims, leases and results; new trials)."""


class Starts(Protocol):
    """What starts a background process: ``tests.e2e.conftest.Processes``."""

    def start(self, module: str, *args: str) -> subprocess.Popen[str]: ...


def driver_refused(
    procs: Starts, url: str, reader: str, app: str, code: int
) -> tuple[int, str]:
    """Start a driver of study ``d`` (50 trials, a 1.5 s lease) on ``url``, wait
    until the study exists, then answer error ``code`` to every write of client
    ``app`` until the driver ends.

    Args:
        procs: Starts the driver (and kills it at the end of the test).
        url: The driver's store URL; it must name ``appName=app``.
        reader: A URL of the same server and database that may read the study
            and arm fail points (the driver's own user may not).
        app: The driver's appName, which the fail point is scoped to.
        code: The MongoDB error code every write gets.

    Returns:
        The driver's exit code and its stderr.
    """
    driver = procs.start(
        "hpo_service.driver", "start", "--db", url, "--study", "d",
        "--objective", "tests.e2e.objectives:quadratic",
        "--space", "tests.e2e.objectives:space", "--max-evals", "50",
        "--lease-seconds", "1.5", "--no-progress",
    )  # fmt: skip
    with open_store(reader) as store:  # running: the study and its queue exist
        wait_until(lambda: "d" in {s.name for s in store.list_studies()})
    refused = {"failCommands": WRITES, "appName": app, "errorCode": code}
    with fail_point(reader, refused, "alwaysOn"):
        _, err = driver.communicate(timeout=120)
    return driver.returncode, err
