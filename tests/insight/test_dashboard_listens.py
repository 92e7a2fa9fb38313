"""`hpo-driver dashboard` answers once it says where it is: its "dashboard on URL"
line came after the port was bound but before anything listened on it, so a script
(or a browser) connecting on reading it was refused until uvicorn had started."""

from __future__ import annotations

import socket

from hpo_service.insight._cli import _bind
from hpo_service.store import open_store

from ._support import get, start_dashboard, stop


def test_the_bound_socket_already_queues_connections():
    """A connection made right after ``_bind`` waits in the backlog; the old socket,
    bound without listening, refused it (ConnectionRefusedError)."""
    sock = _bind("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=10):
            pass
    finally:
        sock.close()


def test_the_dashboard_answers_the_first_request_after_its_line(tmp_path):
    """One request, sent as soon as the line names the port (no waiting for the
    server to come up), gets the studies of the (empty) store."""
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    open_store(db).close()  # read commands never create a store
    server, port, said = start_dashboard("--db", db)
    try:
        assert said[-1].startswith(f"dashboard on http://localhost:{port}/"), said
        assert get(f"http://127.0.0.1:{port}/api/studies") == {"studies": []}
    finally:
        stop(server)
