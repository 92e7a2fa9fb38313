"""A user without write rights is stopped at once, never retried for ever.

Real ``hpo-worker`` and ``hpo-driver`` processes, real pymongo over TCP against the
session's MongoDB-wire server with ``--auth``: a user with only the ``read`` role
(worker), and a driver whose writes are refused while it runs.
"""

from __future__ import annotations

import pymongo
import pytest

from hpo_service._common.settings import StudySettings
from hpo_service.store import NewTrial, open_store
from tests.conftest import AUTH_ADMIN, mongo_lane
from tests.helpers.mongo_wire import as_user, with_database
from tests.helpers.refused_driver import driver_refused

pytestmark = pytest.mark.skipif(
    mongo_lane() is None, reason="no MongoDB-wire server (see tests/conftest.py)"
)

DATABASE = "refused"
PASSWORD = "pw-never-shown"


@pytest.fixture(scope="module")
def server(auth_mongo_url: str) -> str:
    """The auth server with users ``looker`` (read) and ``runner`` (readWrite) on
    :data:`DATABASE`, which holds study ``q`` with two queued trials."""
    admin = as_user(auth_mongo_url, *AUTH_ADMIN, DATABASE, "admin")
    with open_store(admin) as store:
        settings = StudySettings(
            objective="tests.e2e.objectives:quadratic",
            space={},
            space_fingerprint="t",
            max_evals=2,
        )
        store.create_study("q", settings.to_dict())
        store.insert_trials("q", [NewTrial({}, {"x": 0.0, "y": 0.0})] * 2)
    with pymongo.MongoClient(admin) as client:
        for user, role in (("looker", "read"), ("runner", "readWrite")):
            roles = [{"role": role, "db": DATABASE}]
            client[DATABASE].command("createUser", user, pwd=PASSWORD, roles=roles)
    return auth_mongo_url


def login(server: str, user: str) -> str:
    return as_user(server, user, PASSWORD, DATABASE, DATABASE)


def test_a_worker_without_write_rights_exits_1_naming_user_database_and_operation(
    server, procs
):
    url = login(server, "looker")
    run = procs.run("hpo_service.worker", "--db", url, "--idle-timeout", "120")
    assert run.returncode == 1, run.stderr
    error = run.stderr.splitlines()[-1]
    assert error.startswith("Error: MongoDB store mongodb://looker:***@"), error
    assert (
        "claiming a trial was refused to user 'looker' on database 'refused'" in error
    ), error
    assert "readWrite role" in error, error
    assert "retrying" not in run.stderr and PASSWORD not in run.stderr, run.stderr


def test_a_driver_whose_rights_are_revoked_stops_with_exit_1(server, procs):
    """Once its writes are refused with Unauthorized (what MongoDB answers after a
    ``revokeRolesFromUser``; the wire server keeps an open connection's roles, so
    its ``failCommand`` fail point answers the refusal here), the driver stops."""
    url = login(server, "runner") + "&appName=refused-driver"
    admin = as_user(server, *AUTH_ADMIN, DATABASE, "admin")
    code, err = driver_refused(procs, url, admin, "refused-driver", 13)
    assert code == 1, err
    assert "refused to user 'runner' on database 'refused'" in err, err
    assert "cannot run the study" not in err, err  # no retrying line
    assert PASSWORD not in err, err


def test_a_wrong_password_is_refused_at_start_not_waited_for(server, procs):
    """The server answers, so --wait-for-store does not apply: exit 1 at once."""
    url = as_user(server, "looker", "wrong-" + PASSWORD, DATABASE, DATABASE)
    run = procs.run("hpo_service.worker", "--db", url, "--wait-for-store", "600")
    assert run.returncode == 1, run.stderr
    assert "waiting up to" not in run.stderr, run.stderr
    error = run.stderr.splitlines()[-1]
    assert error.startswith("Error: MongoDB at mongodb://looker:***@"), error
    assert "refused user 'looker' (not retried): authentication failed" in error, error
    assert PASSWORD not in run.stderr, run.stderr


def test_a_url_without_a_user_is_named_so_in_the_refusal(server, procs):
    """No user in the URL: the refusal says so (not "user None"), with what to do."""
    url = with_database(server, DATABASE)
    run = procs.run("hpo_service.worker", "--db", url, "--idle-timeout", "120")
    assert run.returncode == 1, run.stderr
    error = run.stderr.splitlines()[-1]
    assert (
        "refused to a client without a user (the URL names none) on database "
        "'refused' (not retried)" in error
    ), error
    assert "put a user in the URL" in error, error
