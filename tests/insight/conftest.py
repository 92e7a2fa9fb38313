"""The ``browser`` fixture: headless Chromium driven by selenium.

One Chromium (with its chromedriver) serves the whole session: starting one costs
seconds on a loaded machine, and a test only needs a fresh page. Each test gets it on
``about:blank`` with its console log emptied, and leaves it on ``about:blank`` (so a
dashboard page stops polling a server the test has stopped).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.chromedriver import chromedriver, remote_chromium

from ._support import CHROMIUM_FLAGS, chromium


@pytest.fixture(scope="session")
def _chromium_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A selenium Chrome session on Debian's chromium (1400 x 1500 window)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium-driver (see .ci/run)")
        pytest.skip("no chromedriver installed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    profile = tmp_path_factory.mktemp("chromium") / "profile"
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                 "--window-size=1400,1500", "--hide-scrollbars"]:  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console
    with chromedriver(driver_path) as (url, _):
        browser = remote_chromium(url, options)
        yield browser
        browser.quit()


@pytest.fixture
def browser(_chromium_session: Any) -> Iterator[Any]:
    """The session's Chromium on a blank page, its console log emptied."""
    _chromium_session.get("about:blank")
    _chromium_session.get_log("browser")  # what earlier tests logged
    yield _chromium_session
    _chromium_session.get("about:blank")
