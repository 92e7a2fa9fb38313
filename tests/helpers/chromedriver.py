"""chromedriver on a port the kernel picks (``--port=0``), read back from what it
prints. selenium's ``ChromeService`` finds a free port, closes it and starts
chromedriver on it: another process (CI's other pytest process starting its own
chromedriver) could take the port in between.
"""

from __future__ import annotations

import contextlib
import queue
import re
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

#: What chromedriver prints once it listens.
_STARTED = re.compile(r"started successfully on port (\d+)")


@contextlib.contextmanager
def chromedriver(path: str, timeout: float = 60.0) -> Iterator[tuple[str, int]]:
    """Run chromedriver ``path`` for the block; yield its URL and pid.

    Raises:
        RuntimeError: It exited, or did not say its port within ``timeout`` seconds.
    """
    process = subprocess.Popen(
        [path, "--port=0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_drain, args=(process, lines), daemon=True).start()
        port = _announced_port(lines, timeout)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drain(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Read what chromedriver prints (a full pipe would stop it), line by line."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put(None)  # it exited


def _announced_port(lines: queue.Queue[str | None], timeout: float) -> int:
    said: list[str] = []
    try:
        while (line := lines.get(timeout=timeout)) is not None:
            said.append(line)
            if found := _STARTED.search(line):
                return int(found.group(1))
    except queue.Empty:
        pass
    raise RuntimeError(
        f"chromedriver must say its port within {timeout} s, but it said: "
        + ("".join(said) or "nothing")
    )


def remote_chromium(url: str, options: Any) -> Any:
    """A selenium session of the chromedriver at ``url``: a ``Remote`` driver with
    Chrome's commands (``get_log``)."""
    from selenium.webdriver import Remote
    from selenium.webdriver.chromium.remote_connection import (
        ChromiumRemoteConnection,
    )
    from selenium.webdriver.remote.command import Command

    class Chromium(Remote):  # type: ignore[misc]
        def get_log(self, log_type: str) -> Any:
            return self.execute(Command.GET_LOG, {"type": log_type})["value"]

    executor = ChromiumRemoteConnection(
        remote_server_addr=url, vendor_prefix="goog", browser_name="chrome"
    )
    return Chromium(command_executor=executor, options=options)
