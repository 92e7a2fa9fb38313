"""The MongoDB-wire server the tests start (``tests/helpers/mongo_wire.py``): its URL
names the port its own process listens on, which the kernel picked as it bound.

A port found free, closed, then handed to the server could be taken by another
process in between (CI runs two pytest processes, each starting servers); a ping
could then be answered by another server, and the tests would run against it.
"""

from __future__ import annotations

from pathlib import Path

import pymongo
import pytest

from tests.helpers.mongo_wire import WireServer, executable
from tests.helpers.ports import listening_ports

pytestmark = pytest.mark.skipif(
    executable() is None, reason="secantusdb is not installed"
)


def test_a_server_names_the_port_it_listens_on(tmp_path: Path) -> None:
    """An earlier start's lines stay in ``server.log`` (a restart on the same data
    writes below them): a start reads the port from its own lines only."""
    earlier = "INFO secantus.server: secantus listening on 127.0.0.1:1\n"
    (tmp_path / "server.log").write_text(earlier)
    with WireServer.start(tmp_path) as server:
        assert listening_ports(server.pid) == {server.port}, server
        with pymongo.MongoClient(server.url) as client:
            client.probe.marks.insert_one({"by": server.pid})
            assert client.probe.marks.count_documents({"by": server.pid}) == 1
