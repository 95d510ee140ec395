"""The live dashboard in a real headless Chromium (Debian's) during a feed.

The page must fill its charts and the alert table from the worker alone (any
request elsewhere fails the test) and keep updating without a reload. The
screenshot lands in the test's tmp folder; docs/dashboard.png is one of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

FILLED = """() => {
  const canvases = [...document.querySelectorAll("canvas")];
  return canvases.length >= 12
    && canvases.every((c) => Number(c.dataset.points || 0) >= 20)
    && document.querySelectorAll("#alerts tbody tr").length > 0
    && document.querySelector("#model").textContent.includes("volspike-xgb");
}"""


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: run `make system-deps` as root")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_dashboard_fills_and_updates_live(live, browser, tmp_path):
    live.wait_for_alerts()
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    foreign: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live.worker.url) else
            foreign.append(r.url))
    page.goto(live.worker.url + "/")
    page.wait_for_function(FILLED, timeout=60_000)
    header = page.locator("section#p-BTC_USD h2 span")
    before = header.text_content()
    page.wait_for_function(
        "(before) => document.querySelector('section#p-BTC_USD h2 span').textContent !== before",
        arg=before, timeout=20_000,
    )
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert not foreign, f"the page fetched from elsewhere: {foreign}"
