"""``python -m tests.e2e.restarted_container DB STUDY SECONDS ARGS...``: a driver in
a container restarted after its driver was killed.

A container restarted after its driver was SIGKILLed (the OOM killer, ``docker
kill``) keeps its host name, runs in a new pid namespace, and its first process gets
the same pid again. This leaves a lease of SECONDS on STUDY held by such a dead
driver (this host, this process's pid, another namespace's identity) and then
runs ``hpo-driver ARGS`` in this process (the same pid), its modules imported before
the lease starts so that a loaded machine does not spend the lease on imports.
"""

from __future__ import annotations

import sys

from hpo_service._common.processes import owner_id, process_of
from hpo_service.driver.cli import main as hpo_driver
from hpo_service.store import open_store

OTHER_NAMESPACE = "0123456789ab"


def dead_driver_id() -> str:
    """This process's driver id, as the driver before the restart had it: the same
    host and pid, another pid namespace."""
    own = owner_id("driver@")
    base, _, _ = own.rpartition("/")
    found = process_of(own)
    start = 1 if found is None else found[2]
    return f"{base}/{OTHER_NAMESPACE}-{start:x}"


def main(argv: list[str]) -> None:
    db, study, seconds, *args = argv
    with open_store(db) as store:
        if not store.acquire_driver_lease(study, dead_driver_id(), float(seconds)):
            raise SystemExit(f"{study!r}'s driver lease must be free, but it is held")
    hpo_driver(args, prog_name="hpo-driver")


if __name__ == "__main__":
    main(sys.argv[1:])
