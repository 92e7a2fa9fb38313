"""Owner ids that prove a death: real processes, killed, reaped, and pids that do
not belong to this pid namespace."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from hpo_service._common.processes import (
    certainly_dead,
    namespace_key,
    owner_id,
    process_of,
    same_process_pid,
)
from hpo_service.driver._lease import default_owner, take_driver_lease
from hpo_service.exceptions import DriverLeaseError
from hpo_service.store import open_store

pytestmark = pytest.mark.skipif(
    namespace_key() is None, reason="process identities need Linux's /proc"
)
HOST = socket.gethostname()


def start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[19])


def id_of(pid: int, start: int, key: str | None = None) -> str:
    return f"{HOST}:{pid}:abcdef12/{key or namespace_key()}-{start:x}"


@pytest.fixture
def child():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_this_process_is_named_and_alive():
    own = owner_id()
    assert own.startswith(f"{HOST}:{os.getpid()}:")
    assert process_of(own) == (namespace_key(), os.getpid(), start_time(os.getpid()))
    assert not certainly_dead(own)
    driver = default_owner("driver")
    assert driver.startswith(f"driver@{HOST}:{os.getpid()}:")
    assert process_of(driver)[1] == os.getpid() and not certainly_dead(driver)


def test_a_killed_process_is_dead_as_a_zombie_and_once_reaped(child):
    owner = id_of(child.pid, start_time(child.pid))
    assert not certainly_dead(owner)
    child.send_signal(signal.SIGKILL)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped
    assert certainly_dead(owner)  # a zombie holds no lease
    child.wait()
    assert certainly_dead(owner)


def test_a_pid_now_held_by_a_later_process_is_the_old_ones_death(child):
    """The id's start time is not the live process's: the pid was reused."""
    assert certainly_dead(id_of(child.pid, start_time(child.pid) - 1))


def test_ids_that_cannot_prove_a_death_never_do(child):
    child.kill()
    child.wait()
    gone, start = child.pid, 1
    assert certainly_dead(id_of(gone, start))
    for owner in (
        id_of(gone, start, key="0" * 12),  # another pid namespace, same host name
        f"{HOST}:{gone}:abcdef12",  # an older worker's id, or a hand-made one
        f"driver@{HOST}:{gone}:abcdef",
        "my-worker",  # --worker-id
        f"{HOST}:{gone}:abcdef12/{namespace_key()}",  # malformed
        f"{HOST}:x:abcdef12/{namespace_key()}-1",
        None,
        "",
    ):
        assert not certainly_dead(owner), owner


def test_a_name_chosen_by_hand_leads_an_id_that_still_proves_a_death(child):
    """``--worker-id NAME`` gives ``NAME/host:pid:random/NAMESPACE-START``: the
    name leads (whatever it holds: ``@``, ``:``, ``/``), the identity decides."""
    own = owner_id(name="slurm-77_3@node7")
    assert own.startswith(f"slurm-77_3@node7/{HOST}:{os.getpid()}:")
    assert process_of(own) == (namespace_key(), os.getpid(), start_time(os.getpid()))
    assert not certainly_dead(own) and same_process_pid(own, os.getpid())
    for name in ("gpu-3", "team/a:b@c", "x:1:2"):
        owner = f"{name}/{id_of(child.pid, start_time(child.pid))}"
        assert process_of(owner)[1] == child.pid, owner
        assert not certainly_dead(owner) and same_process_pid(owner, child.pid)
    child.kill()
    child.wait()
    assert certainly_dead(f"gpu-3/{id_of(child.pid, 1)}")
    for owner in (
        "gpu-3",  # a name stored by an older version: readable, never proof
        f"gpu-3/{HOST}:{child.pid}:abcdef12",  # no identity (a non-Linux host)
        f"gpu-3:{child.pid}/{namespace_key()}-1",  # not host:pid:random
        f"{child.pid}/{namespace_key()}-1",
    ):
        assert process_of(owner) is None and not certainly_dead(owner), owner


def test_same_process_pid_matches_this_namespace_only(child):
    owner = id_of(child.pid, start_time(child.pid))
    assert same_process_pid(owner, child.pid)
    assert not same_process_pid(owner, child.pid + 1)
    assert not same_process_pid(id_of(child.pid, 1, key="0" * 12), child.pid)
    assert not same_process_pid(f"{HOST}:{child.pid}:abcdef12", child.pid)


def test_a_driver_lease_of_a_pid_free_here_but_maybe_alive_elsewhere_is_kept(
    tmp_path, child
):
    """A driver id of this host name without this namespace's identity (another
    container's driver, or an older version's) is not taken over before its lease
    ends, even if its pid is free here; a certainly dead driver's is."""
    child.kill()
    child.wait()
    with open_store(f"sqlite:///{tmp_path / 'lease.sqlite'}") as store:
        store.create_study("s", {})
        elsewhere = f"driver@{HOST}:{child.pid}:abcdef"
        assert store.acquire_driver_lease("s", elsewhere, 600.0)
        with pytest.raises(DriverLeaseError, match="is driven by"):
            take_driver_lease(store, "s", "driver@me", 600.0)
        store.release_driver_lease("s", elsewhere)
        dead = f"driver@{id_of(child.pid, 1)}"
        assert store.acquire_driver_lease("s", dead, 600.0)
        take_driver_lease(store, "s", "driver@me", 600.0)
        assert store.get_study("s").driver_owner == "driver@me"


def test_a_watched_driver_lease_that_is_renewed_is_refused(tmp_path):
    """A starting driver watches a holder it cannot tell alive (another host): when
    the holder renews its lease, it lives, and the lease is refused saying so."""
    holder = "driver@elsewhere:1:abcdef"
    with open_store(f"sqlite:///{tmp_path / 'lease.sqlite'}") as store:
        store.create_study("s", {})
        assert store.acquire_driver_lease("s", holder, 2.0)
        renewing = subprocess.Popen(
            [sys.executable, "-c", RENEW, str(tmp_path), holder]
        )
        try:
            with pytest.raises(DriverLeaseError) as info:
                take_driver_lease(store, "s", "driver@me", 30.0, watch=True)
        finally:
            renewing.kill()
            renewing.wait()
        assert "renewed its lease while this driver waited" in str(info.value)
        assert store.get_study("s").driver_owner == holder


def test_a_watched_driver_lease_that_runs_out_unrenewed_is_taken_over(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'lease.sqlite'}") as store:
        store.create_study("s", {})
        holder = "driver@elsewhere:1:abcdef"
        assert store.acquire_driver_lease("s", holder, 60.0)  # held however slow
        with pytest.raises(DriverLeaseError, match="is driven by"):  # not watched
            take_driver_lease(store, "s", "driver@me", 30.0)
        assert store.acquire_driver_lease("s", holder, 1.0)  # its last renewal
        take_driver_lease(store, "s", "driver@me", 30.0, watch=True)
        assert store.get_study("s").driver_owner == "driver@me"


def test_a_watched_driver_lease_given_back_meanwhile_is_taken(tmp_path):
    """The holder stops cleanly while a new driver watches its lease (here right
    after the watch's first look): the lease is free, so the new driver takes it.
    Before, a holder gone from the lease read as another driver taking it: refused,
    "driven by another driver"."""
    holder = "driver@elsewhere:1:abcdef"
    with open_store(f"sqlite:///{tmp_path / 'lease.sqlite'}") as store:
        store.create_study("s", {})
        assert store.acquire_driver_lease("s", holder, 30.0)
        acquire, refused = store.acquire_driver_lease, []

        def given_back_after_the_first_look(name, owner, seconds):
            got = acquire(name, owner, seconds)
            refused.extend([] if got else [owner])
            if refused.count("driver@me") == 2:  # the start, then the watch's look
                store.release_driver_lease(name, holder)
            return got

        store.acquire_driver_lease = given_back_after_the_first_look
        take_driver_lease(store, "s", "driver@me", 30.0, watch=True)
        assert store.get_study("s").driver_owner == "driver@me"


RENEW = """
import sys, time
from hpo_service.store import open_store
with open_store(f"sqlite:///{sys.argv[1]}/lease.sqlite") as store:
    while store.acquire_driver_lease("s", sys.argv[2], 2.0):
        time.sleep(0.3)
"""
