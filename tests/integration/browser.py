"""The browser tests' chromium (Debian's, driven by Selenium through Debian's chromedriver) and the small helpers
both view test files use: open a page at an exact viewport, wait for it, read and fill it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
# POLYDEMO_SCREENSHOTS=1 writes the docs' screenshots (docs/img/); otherwise they go to a scratch directory, so
# `make test` leaves the checkout as it was.
SHOTS = ROOT / "docs" / "img" if os.environ.get("POLYDEMO_SCREENSHOTS") == "1" else Path("/tmp/polydemo-web-shots")

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason=f"{CHROMIUM} or {CHROMEDRIVER} is missing: run `bash scripts/browser.sh` (apt chromium chromium-driver)",
)


def chromium(width: int, height: int, mobile: bool = False):
    """A headless chromium whose page is exactly ``width`` x ``height``; ``SE_OFFLINE``: Selenium never downloads."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    viewport(drv, width, height, mobile)
    return drv


def viewport(drv, width: int, height: int, mobile: bool = False) -> None:
    """The page's viewport exactly (``--window-size`` is the window, browser chrome included)."""
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def wait(drv, predicate, timeout: float, what: str):
    """Poll ``predicate(drv)`` until truthy; its value. On timeout: an AssertionError with the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate(drv)
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def text(drv, css: str) -> str | None:
    return drv.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : null", css)


def attr(drv, css: str, name: str) -> str | None:
    return drv.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null", css, name
    )


def fill(drv, field_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    el = drv.find_element(By.ID, field_id)
    el.clear()
    el.send_keys(value)


def click(drv, css: str) -> None:
    from selenium.webdriver.common.by import By

    drv.find_element(By.CSS_SELECTOR, css).click()


def no_scrolling(drv) -> tuple[int, int, int, int]:
    return tuple(
        drv.execute_script(
            "const e = document.documentElement; return [e.scrollHeight, innerHeight, e.scrollWidth, innerWidth]"
        )
    )
