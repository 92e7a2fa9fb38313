"""Helpers for the insight tests: studies drawn from a space, and headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpo_service.insight import StudyData, TrialRow
from hpo_service.insight._params import params_from_space_document
from hpo_service.space import compile_space, sample_params, space_eval, to_document
from tests.e2e.conftest import REPO

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


#: A page is drawn: its header names the study and plotly drew a figure.
_DRAWN = (
    "document.getElementById('study-name')?.textContent"
    " && document.querySelector('.main-svg')"
)


def random_study(
    space: Any, loss: Callable[[Any], float], n: int, seed: int = 0
) -> StudyData:
    """A study of ``n`` random-search trials of ``space`` scored by ``loss(config)``."""
    rng = np.random.default_rng(seed)
    compiled = compile_space(space)
    data = StudyData("synthetic", params_from_space_document(to_document(space)))
    rows = []
    for tid in range(n):
        params = sample_params(compiled, rng)
        config = space_eval(space, params)
        rows.append(TrialRow(tid, "done", params, loss=loss(config), status="ok"))
    data.apply(rows)
    return data


def chromium() -> str:
    """The Chromium binary; skipped where none is installed, except in CI."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("no chromium installed")
    return path


def dump_dom(browser: Any, url: str, *, ready: str = _DRAWN) -> str:
    """The page's DOM once ``ready`` (a JavaScript expression) is true in it: by
    default once the page's title is set and plotly has drawn a figure (a report
    draws its figures as it loads; the dashboard fills them in from its API)."""
    browser.get(url)
    wait_for(lambda: browser.execute_script(f"return Boolean({ready})"),
             what=f"{url} drawn")  # fmt: skip
    return browser.page_source


def screenshot(url: str, out: Path, tmp_path: Path, *, size: str = "1400,1800") -> None:
    """Save a PNG of the page as a 1400 px wide window shows it."""
    profile = tmp_path / "chromium-profile"
    run = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         f"--window-size={size}", "--virtual-time-budget=8000", "--hide-scrollbars",
         f"--screenshot={out}", url],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and out.exists(), run.stderr[-2000:]


def plot_section(dom: str, name: str) -> str:
    """The DOM of the ``plot-NAME`` figure (up to the next figure)."""
    start = dom.index(f'id="plot-{name}"')
    end = dom.find('id="plot-', start + 10)
    return dom[start : end if end > 0 else len(dom)]


def hpo_driver(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``hpo-driver ARGS`` run to its end, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def imported_study(
    tmp_path: Path, records: list[dict[str, Any]], study: str = "s"
) -> str:
    """A SQLite study ``study`` made by ``hpo-driver import --create`` of ``records``
    (trial records as ``trials --format json`` writes them); its ``--db`` URL."""
    export = tmp_path / "export.json"
    export.write_text(json.dumps(records))
    db = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    run = hpo_driver("import", "--db", db, "--study", study, "--create", str(export))
    assert run.returncode == 0, run.stderr[-3000:]
    return db


def run_demo_study(
    db: str, max_evals: int, *, objective: str = "objective", workers: int = 2
) -> None:
    """Run (or resume) study ``demo`` of ``tests.insight.objectives`` (its space and
    the named objective, seed 5) with ``workers`` local workers to ``max_evals``."""
    run = hpo_driver(
        "start", "--db", db, "--study", "demo", "--seed", "5",
        "--objective", f"tests.insight.objectives:{objective}",
        "--space", "tests.insight.objectives:space",
        "--max-evals", str(max_evals), "--workers", str(workers), "--no-progress",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]


# ---- a dashboard (or any hpo-driver command) in its own process --------------------


def start(*args, env=None):
    """``hpo-driver ARGS`` in its own process group, output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "hpo_service.driver.cli", *args], cwd=REPO,
        env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def start_dashboard(*args, env=None):
    """``hpo-driver dashboard ARGS --port 0`` (see :func:`start`): the process, the
    port it serves on and its standard error lines up to the one naming that port.

    The dashboard binds a port the system chooses: a port found free here and
    passed to it could be taken by another program first (the machine is shared).
    """
    proc = start("dashboard", *args, "--port", "0", env=env)
    said = []

    def read():
        for line in proc.stderr:
            said.append(line)
            if "http://localhost:" in line:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(120)
    found = re.search(r"http://localhost:(\d+)/", said[-1]) if said else None
    if found is None:
        stop(proc)
        pytest.fail(f"the dashboard named no port within 120 s: {''.join(said)}")
    return proc, int(found.group(1)), said


def stop(proc):
    """SIGTERM the process group of ``proc``, SIGKILL after 20 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(condition, timeout=120.0, what="condition"):
    """Poll ``condition()`` until it is truthy (returned) or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met within {timeout} s")
        time.sleep(0.2)


def table_cells(
    browser: Any, server: Any, port: int, count: int
) -> dict[str, list[str]]:
    """Open the dashboard ``server`` serves on ``port`` in ``browser``, wait until
    its trials table holds ``count`` rows, and return each row's cells (their text
    content) by its first cell, the tid."""
    url = f"http://127.0.0.1:{port}/"
    wait_for(lambda: serving(server, url), what="dashboard up")
    browser.get(url)
    rows = "#trials tbody tr"
    wait_for(lambda: len(browser.find_elements("css selector", rows)) == count,
             what=f"the {count} trials in the table")  # fmt: skip
    table = {}
    for row in browser.find_elements("css selector", rows):
        cells = row.find_elements("tag name", "td")
        texts = [c.get_attribute("textContent") for c in cells]
        table[texts[0]] = texts
    return table


def get(url):
    """GET a JSON document."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def serving(server, url):
    """Whether the server process ``server`` answers at ``url``; fails the test with
    its output at once if it has exited."""
    if server.poll() is not None:
        output = server.stderr.read()[-2000:]
        pytest.fail(f"the server exited with {server.returncode}: {output}")
    return up(url)


def up(url):
    """Whether ``url`` answers."""
    try:
        urllib.request.urlopen(url, timeout=5).close()
        return True
    except OSError:
        return False


# ---- what plotly drew in a browser (selenium) ---------------------------------------

_TRACES_JS = """
const finite = (a) => Array.from(a || []).map(Number).filter(Number.isFinite).length;
const div = document.getElementById(arguments[0]);
return (div && div._fullData || []).map((t) => ({
  name: t.name, type: t.type, symbol: t.marker ? t.marker.symbol : null,
  x: finite(t.x), y: finite(t.y), z: finite(t.z),
  dims: (t.dimensions || []).map((d) => [d.label, finite(d.values)]),
}));
"""


def drawn_traces(browser: Any, name: str) -> list[dict[str, Any]]:
    """Each trace plotly drew in ``plot-NAME``: name, type, marker symbol, the
    number of finite x / y / z values, and parallel-coordinate dimensions as
    ``[label, finite values]``."""
    return browser.execute_script(_TRACES_JS, f"plot-{name}")


def wait_drawn(browser: Any, *names: str) -> None:
    """Wait until plotly has drawn each ``plot-NAME`` (figures are drawn one after
    another, asynchronously, after the page loads)."""
    for name in names:
        wait_for(lambda n=name: drawn_traces(browser, n), what=f"plot-{name} drawn")


def wait_for_colour(
    browser: Any, name: str, rgb: tuple[int, int, int], tolerance: int = 60
) -> int:
    """Wait until ``plot-NAME``'s plotting area shows more than 20 pixels of ``rgb``
    (WebGL traces are painted a moment after plotly has the data); the count."""
    return wait_for(
        lambda: max(0, count_colour(plot_area_pixels(browser, name), rgb, tolerance)
                    - 20),
        what=f"{rgb} painted in plot-{name}",
    ) + 20  # fmt: skip


def plot_area_pixels(browser: Any, name: str) -> Any:
    """The RGB pixels (an ``h x w x 3`` array) of ``plot-NAME``'s plotting area (inside
    the axes: legend, titles and colour bars cropped away), from a screenshot."""
    import io

    from PIL import Image

    element = browser.find_element("id", f"plot-{name}")
    browser.execute_script("arguments[0].scrollIntoView()", element)
    size = browser.execute_script(
        "const s = arguments[0]._fullLayout._size;"
        "return [s.l, s.t, s.w, s.h, window.devicePixelRatio];",
        element,
    )
    left, top, width, height, ratio = size
    image = Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")
    box = [round(v * ratio) for v in (left, top, left + width, top + height)]
    return np.asarray(image.crop(box)).astype(int)


def count_colour(pixels: Any, rgb: tuple[int, int, int], tolerance: int = 60) -> int:
    """Pixels within ``tolerance`` (sum of absolute channel differences) of ``rgb``
    painted over the white background at an opacity from 0.35 to 1 (markers are
    drawn at 0.7 and 0.8; where two overlap the blend is darker)."""
    white = np.full(3, 255.0)
    towards = np.array(rgb, dtype=float) - white
    alpha = ((pixels - white) @ towards) / (towards @ towards)
    painted = white + np.clip(alpha, 0.35, 1.0)[..., None] * towards
    return int((np.abs(pixels - painted).sum(axis=2) <= tolerance).sum())


def plotly_array(array: Any) -> list[int]:
    """The integers of a plotly JSON array: a list, or a typed array
    ``{"dtype", "bdata"}`` (base64)."""
    if isinstance(array, list):
        return [int(v) for v in array]
    import base64

    raw = base64.b64decode(array["bdata"])
    return [int(v) for v in np.frombuffer(raw, dtype=array["dtype"])]
