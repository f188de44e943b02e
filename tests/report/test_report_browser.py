"""The HTML pages in headless Chromium: rows, sorting, the link to a certificate, its figures,
and no request to anything but the local files (and data: URIs). Screenshots are kept.

Chromium is driven through chromedriver's WebDriver HTTP interface with the standard library
only. When chromium or chromium-driver is missing the test installs the Debian packages (as
root, with apt-get) or skips, printing why.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--window-size=1400,1000",
]


def _chromium() -> tuple[str, str]:
    """(browser, driver) paths, installing the Debian packages when missing; skips with the reason."""

    def found():
        return (shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver"))

    browser, driver = found()
    if browser and driver:
        return browser, driver
    reason = None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        reason = "chromium/chromium-driver missing and apt-get cannot install them here (not root or no apt-get)"
    else:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]):
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
            if done.returncode != 0:
                reason = f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}"
                break
        browser, driver = found()
    if not (browser and driver):
        reason = reason or "chromium/chromium-driver still missing after apt-get install"
        print(f"SKIP REASON: {reason}")
        pytest.skip(reason)
    return browser, driver


class WebDriver:
    """The few WebDriver commands the test needs, over HTTP."""

    def __init__(self, driver: str, browser: str, profile: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        options = {"binary": browser, "args": [*FLAGS, f"--user-data-dir={profile}"]}
        session = self._call(
            "POST",
            "/session",
            {
                "capabilities": {
                    "alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options, "goog:loggingPrefs": {"performance": "ALL"}}
                }
            },
        )
        self.session = f"/session/{session['sessionId']}"

    def _call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def open(self, url: str) -> None:
        self._call("POST", f"{self.session}/url", {"url": url})

    def run(self, script: str):
        return self._call("POST", f"{self.session}/execute/sync", {"script": script, "args": []})

    def click(self, css: str) -> None:
        element = self._call("POST", f"{self.session}/element", {"using": "css selector", "value": css})
        self._call("POST", f"{self.session}/element/{next(iter(element.values()))}/click", {})

    def requested_urls(self) -> list[str]:
        """Every URL the browser asked for since the last call (Chrome's performance log)."""
        entries = self._call("POST", f"{self.session}/se/log", {"type": "performance"})
        messages = [json.loads(e["message"])["message"] for e in entries]
        return [m["params"]["request"]["url"] for m in messages if m["method"] == "Network.requestWillBeSent"]

    def screenshot(self, out: Path) -> Path:
        out.write_bytes(base64.b64decode(self._call("GET", f"{self.session}/screenshot")))
        return out

    def quit(self) -> None:
        try:
            self._call("DELETE", self.session)
        finally:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def browser(tmp_path):
    chromium, driver = _chromium()
    session = WebDriver(driver, chromium, tmp_path / "profile")
    yield session
    session.quit()


NETWORK = ("http:", "https:", "ws:", "wss:", "ftp:")
BROWSER_OWN = ("chrome:", "chrome-untrusted:", "about:", "devtools:")  # the browser's own pages, not the documents'


def _fetched_outside(urls: list[str]) -> list[str]:
    """Requests that left the local files: any network URL, any other non-file, non-data URL."""
    return [u for u in urls if u.startswith(NETWORK) or not u.startswith(("file://", "data:", *BROWSER_OWN))]


def test_leaderboard_and_certificate_open_offline(browser, finished_run, tmp_path):
    page = finished_run / "results/leaderboard.html"
    browser.requested_urls()  # drop what the browser itself loaded at start-up
    browser.open(page.as_uri())
    rows = browser.run("return Array.from(document.querySelectorAll('#leaderboard tbody tr'), r => r.cells[1].innerText)")
    assert sorted(rows) == ["report_other (no certificate)", "report_smoke"]

    reproduced = "Array.from(document.querySelectorAll('#leaderboard tbody tr'), r => parseFloat(r.cells[4].dataset.sort))"
    browser.click("#leaderboard th:nth-child(5)")
    ascending = browser.run(f"return {reproduced}")
    browser.click("#leaderboard th:nth-child(5)")
    descending = browser.run(f"return {reproduced}")
    assert ascending == sorted(ascending) and descending == sorted(descending, reverse=True) and ascending != descending
    shot = browser.screenshot(tmp_path / "leaderboard.png")
    print(f"screenshot: {shot}")

    browser.click("#leaderboard a")
    assert browser.run("return document.title") == "Reproduction certificate: report_smoke"
    images = browser.run("return Array.from(document.images, i => [i.complete, i.naturalWidth])")
    assert len(images) == 5 and all(complete and width > 100 for complete, width in images)
    sections = browser.run("return Array.from(document.querySelectorAll('h2'), h => h.innerText)")
    assert len(sections) == 7 and sections[2].startswith("3. Results")
    shot = browser.screenshot(tmp_path / "certificate.png")
    print(f"screenshot: {shot}")

    requested = browser.requested_urls()
    assert any(u.endswith("leaderboard.html") for u in requested) and any(u.endswith("certificate.html") for u in requested)
    assert _fetched_outside(requested) == [], "the pages fetched something from the network"
    assert browser.run("return performance.getEntriesByType('resource').filter(e => !/^(file|data):/.test(e.name)).length") == 0
