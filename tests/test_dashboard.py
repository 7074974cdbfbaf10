"""The dashboard in headless Chromium (Debian's chromium driven by Playwright).

A spool is fed to the real daemon, with volume.png made to fail (a failure record), a
retracted event and a neutrino search linked to a GW event (a coincidence); the daemon
regenerates the pages. Its pages, and those of the whole GW corpus through `skyspool
process`, are opened from file:// and from `skyspool serve`: no console error, the right
rows, thumbnails that load, links that resolve.
"""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from skyspool import dashboard
from support import CORPUS, FAST_CONFIG, GW_ALERTS, make_spool

CHROMIUM = "/usr/bin/chromium"  # Debian's package (make test-deps); never a downloaded browser
TIMEOUT_S = 300
NU_SEARCH = CORPUS / "notices" / "kafka_json" / "gcnschema_icecube_lvk_nu_track_search.example.json"


# ----- the plain functions -----

def _entry(**values) -> dict:
    entry = {"entry": "001-preliminary", "alert_type": "preliminary", "source": "001-preliminary.json",
             "received": 1.7e9, "time": None, "far_hz": None, "significant": None,
             "area50_deg2": None, "area90_deg2": None, "distmean_mpc": None, "diststd_mpc": None,
             "classification": None, "notice_latency_s": None, "all_latency_s": None, "flags": [],
             "products": [], "skymap": False, "thumbnail": False, "coincidences": []}
    return {**entry, **values}


def test_outside_text_is_escaped():
    hostile = '<script>alert("x")</script>'
    event = {"kind": "gw", "event_id": "S1", "retracted": False, "received": 1.7e9, "entries": [_entry(
        time=hostile, classification={"class": hostile, "probability": 0.5},
        products=[{"name": "stats.json", "state": "failed", "reason": hostile}])]}
    for page in (dashboard.event_page(event), dashboard.index_page([event])):
        assert "<script>" not in page and "&lt;script&gt;" in page


def test_index_is_newest_first_with_retracted_and_failed_rows():
    old = {"kind": "gw", "event_id": "S1", "retracted": True, "received": 1.0, "entries": [_entry()]}
    new = {"kind": "grb", "event_id": "G2", "retracted": False, "received": 2.0, "entries": [_entry(
        products=[{"name": "skymap.png", "state": "failed", "reason": "broken"}])]}
    rows = Rows.of(dashboard.index_page([old, new]))
    assert [(row["id"], row["class"]) for row in rows] == [("G2", "failed"), ("S1", "retracted")]


def test_thumbnail_is_small(tmp_path):
    from PIL import Image

    Image.new("RGB", (1600, 1000), "white").save(tmp_path / "skymap.png")
    dashboard.write_thumbnail(str(tmp_path / "skymap.png"), str(tmp_path / "thumb.png"))
    with Image.open(tmp_path / "thumb.png") as thumb:
        assert thumb.size == (dashboard.THUMBNAIL_PX, 200)


# ----- pages as a browser sees them -----

class Rows(html.parser.HTMLParser):
    """The event rows of an index page: event id, row class, text; and every link."""

    def __init__(self):
        super().__init__()
        self.rows, self.links, self.images = [], [], []

    @classmethod
    def of(cls, text: str) -> list[dict]:
        parser = cls()
        parser.feed(text)
        parser.close()
        return parser.rows

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append({"class": attrs.get("class", ""), "id": None, "text": ""})
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag == "img":
            self.images.append(attrs["src"])

    def handle_data(self, data):
        if self.rows:
            row = self.rows[-1]
            row["text"] += data
            if row["id"] is None and self.lasttag == "a":
                row["id"] = data

    def close(self):
        super().close()
        self.rows = [row for row in self.rows if row["id"]]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


def visit(browser, url: str) -> dict:
    """Open ``url``; its console errors, failed requests, thumbnails' widths and links."""
    page = browser.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    page.on("response", lambda response: response.status >= 400 and errors.append(
        f"{response.status}: {response.url}"))
    page.goto(url, wait_until="load")
    found = {"errors": errors, "title": page.title(),
             "thumbnails": page.eval_on_selector_all("img.thumb", "imgs => imgs.map(i => i.naturalWidth)"),
             "links": page.eval_on_selector_all("a", "links => links.map(a => a.href)"),
             "html": page.content()}
    page.close()
    return found


def resolves(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).is_file()
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status == 200


def check_site(browser, index_url: str) -> list[dict]:
    """Every page of the site loads cleanly, its thumbnails load and its links resolve."""
    index = visit(browser, index_url)
    events = dict.fromkeys(link for link in index["links"] if link.endswith("/index.html"))
    pages = [index] + [visit(browser, link) for link in events]
    for page in pages:
        assert page["errors"] == [], (page["title"], page["errors"])
        assert all(width > 0 for width in page["thumbnails"]), page["title"]
        for link in page["links"]:
            assert resolves(link), (page["title"], link)
    return pages


@pytest.fixture(scope="module")
def served(request):
    """`skyspool serve` on a free loopback port for a spool; stopped at the end."""
    servers = []

    def start(spool) -> str:
        process = subprocess.Popen([sys.executable, "-m", "skyspool.cli", "serve", str(spool.root),
                                    "--port", "0"], stdout=subprocess.PIPE, text=True)
        servers.append(process)
        line = process.stdout.readline()
        assert line.startswith("dashboard at http://127.0.0.1:"), line
        return line.split()[2]

    yield start
    for process in servers:
        process.terminate()
        process.wait(30)


# ----- the whole GW corpus through `skyspool process` -----

def test_corpus_pages_have_a_row_per_event_newest_first(processed_gw_spool, browser):
    spool = processed_gw_spool
    pages = check_site(browser, (spool.products / "index.html").as_uri())
    rows = Rows.of(pages[0]["html"])
    assert sorted(row["id"] for row in rows) == sorted(event for _, event in spool.events())
    received = [max(e.path.stat().st_mtime for e in spool.entries_of("gw", row["id"])) for row in rows]
    assert received == sorted(received, reverse=True)
    assert len(pages) == 1 + len(rows)
    # every sky map has its thumbnail, on the index and on its event's page
    assert sum(len(page["thumbnails"]) for page in pages[1:]) == len(list(spool.products.rglob("skymap.png")))


# ----- the daemon keeps the pages up to date -----

@pytest.fixture(scope="module")
def watched_spool(tmp_path_factory):
    """A spool fed to `skyspool watch`, with volume.png failing; the daemon is stopped after."""
    from test_daemon import Watch, failing_volume_png_env, wait_for

    root = tmp_path_factory.mktemp("dashboard")
    spool = make_spool(root / "spool", {**FAST_CONFIG, "retries": 0})
    watch = Watch(spool, env=failing_volume_png_env(root / "inject"))
    try:
        shutil.copy(GW_ALERTS / "S230518h-Preliminary_alert.json", spool.inbox / "gw.json")
        shutil.copy(GW_ALERTS / "MS181101ab-preliminary.json", spool.inbox / "mock.json")
        (spool.inbox / "nu.json").write_bytes(NU_SEARCH.read_bytes().replace(b"S230914ak", b"S230518h"))
        wait_for(lambda: len(spool.entries()) == 3, "three entries stored", TIMEOUT_S)
        shutil.copy(GW_ALERTS / "MS181101ab-retraction.json", spool.inbox / "retraction.json")

        def shown() -> bool:
            try:
                events = {e["event_id"]: e for e in map(json.loads, map(Path.read_text, spool.products.glob("*/*/event.json")))}
                text = (spool.products / "index.html").read_text()
            except (OSError, ValueError):
                return False
            return (len(events) == 3 and events["MS181101ab"]["retracted"]
                    and all(p["state"] != "pending" for e in events.values() for entry in e["entries"]
                            for p in entry["products"])
                    and Rows.of(text) and len(Rows.of(text)) == 3
                    and (spool.products / "index.html").stat().st_mtime
                    >= max(p.stat().st_mtime for p in spool.products.glob("*/*/event.json")))

        wait_for(shown, "the dashboard of every entry", TIMEOUT_S)
    finally:
        assert watch.stop() == 0
    return spool


def test_daemon_pages_show_retraction_failure_and_coincidence(watched_spool, browser, served):
    spool = watched_spool
    for url in ((spool.products / "index.html").as_uri(), served(spool)):
        pages = check_site(browser, url)
        rows = {row["id"]: row for row in Rows.of(pages[0]["html"])}
        # newest first: the retraction came last
        assert list(rows) == ["MS181101ab", "IceCube-LVK-S230518h", "S230518h"] or \
            list(rows) == ["MS181101ab", "S230518h", "IceCube-LVK-S230518h"]
        assert rows["MS181101ab"]["class"] == "retracted failed"
        assert rows["S230518h"]["class"] == "failed" and "failed: volume.png" in rows["S230518h"]["text"]
        neutrino = rows["IceCube-LVK-S230518h"]
        assert neutrino["class"] == "" and "gw S230518h" in neutrino["text"]
        assert "neutrino IceCube-LVK-S230518h" in rows["S230518h"]["text"]
        # a thumbnail per event on the index, one per entry with a sky map on the pages
        assert len(pages) == 4 and [len(page["thumbnails"]) for page in pages] == [3, 1, 1, 1]
        gw_page = next(page for page in pages if page["title"] == "gw S230518h")
        assert "volume.png not built after 1 attempts" in gw_page["html"]
        mock_page = next(page for page in pages if page["title"] == "gw MS181101ab")
        assert "<s>MS181101ab</s> (retracted)" in mock_page["html"]
