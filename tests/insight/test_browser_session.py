"""The session's chromedriver (``tests/helpers/chromedriver.py``) listens on the port
the kernel gave it, and it is gone after its block."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.chromedriver import chromedriver
from tests.helpers.ports import listening_ports


def test_chromedriver_listens_on_the_port_it_said_and_stops() -> None:
    path = shutil.which("chromedriver")
    if path is None:
        pytest.skip("no chromedriver installed")
    with chromedriver(path) as (url, pid):
        port = int(url.rsplit(":", 1)[1])
        assert port in listening_ports(pid), url
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped
