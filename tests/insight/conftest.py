"""The ``browser`` fixture: headless Chromium driven by selenium."""

from __future__ import annotations

import os
import shutil

import pytest

from ._support import CHROMIUM_FLAGS, chromium


@pytest.fixture
def browser(tmp_path):
    """A selenium Chrome session on Debian's chromium (1400 x 1500 window)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium-driver (see .ci/run)")
        pytest.skip("no chromedriver installed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                 "--window-size=1400,1500", "--hide-scrollbars"]:  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console
    service = webdriver.ChromeService(executable_path=driver_path)
    browser = webdriver.Chrome(options=options, service=service)
    yield browser
    browser.quit()
