"""The dashboard in headless Chromium (Debian's chromium driven by Playwright).

A spool is fed to the real daemon, with volume.png made to fail (a failure record), a
retracted event and a neutrino search linked to a GW event (a coincidence); the daemon
regenerates the pages. Its pages, and those of the whole GW corpus through `skyspool
process`, are opened from file:// and from `skyspool serve`: no console error, the right
rows, thumbnails that load, links that resolve.
"""

from __future__ import annotations

import concurrent.futures
import html.parser
import json
import re
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


# ----- a superevent's labels and decisions -----

class Cells(html.parser.HTMLParser):
    """The text of each data cell (td) of each row of a page's tables, table by table."""

    def __init__(self):
        super().__init__()
        self.tables, self.cell = [], None

    @classmethod
    def of(cls, text: str) -> list[list[list[str]]]:
        parser = cls()
        parser.feed(text)
        return [[row for row in table if row] for table in parser.tables]

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag == "td":
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self.tables[-1][-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


SUPEREVENT, CANDIDATE = "S151012a", "pycbc-1128678900.4443"  # G197392 of ligo.skymap's tests


@pytest.fixture(scope="module")
def superevent_spool(tmp_path_factory):
    """A superevent the pipeline formed from one candidate, by the orchestrator's own steps:
    assigned, decided (no sky map yet: no alert), retracted by hand (an alert in the spool);
    then the pages of the candidate's event are refreshed."""
    import gwcand_samples as samples
    from skyspool import config, ingest, orchestrator

    spool = make_spool(tmp_path_factory.mktemp("superevent") / "spool")
    settings = config.load(spool)
    coinc, psd = samples.candidate_files()
    (spool.inbox / "G197392.tar").write_bytes(
        samples.candidate_bundle(coinc.read_bytes(), psd.read_bytes(), far_hz=1e-9))
    ingest.take_inbox(spool)
    [entry] = spool.entries("gwcand")
    for step, product in ((orchestrator.assign, "superevent.json"), (orchestrator.decide, "orchestrator.json")):
        orchestrator.write_step(step, spool, entry, str(spool.product(entry, product)), settings)
    orchestrator.send_by_hand(spool, SUPEREVENT, "retraction", settings)
    ingest.take_inbox(spool)
    assert [(e.kind, e.event_id, e.name) for e in spool.entries()] == [
        ("gw", SUPEREVENT, "001-retraction"), ("gwcand", CANDIDATE, "001-coinc")]
    assert refresh(spool, [("gwcand", CANDIDATE)])  # the superevent's page too
    return spool


def refresh(spool, events) -> bool:
    """``dashboard.refresh`` in a worker thread, as the daemon runs it (Snakemake runs in no
    thread that has an event loop running: Playwright's)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(dashboard.refresh, spool.root, events).result()


def _decision_rows(page: Path) -> list[list[str]]:
    """The decisions table (the page's first), times checked and left out."""
    rows = Cells.of(page.read_text())[0]
    assert all(re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d", row[0]) for row in rows), rows
    return [row[1:] for row in rows]


NUMBERS = "FAR 1e-09 Hz · SNR 9.7 · H1,L1 · cbc_allsky"  # the coinc file: SNR 9.72
DECISIONS = [  # candidate, step, rule, reason and numbers, outcome, alert sent
    [CANDIDATE, "assign", "superevent", "-" + NUMBERS, f"joined; preferred event {CANDIDATE}", "-"],
    [CANDIDATE, "decide", "incomplete",
     f"preferred event {CANDIDATE} has no sky map or classification yet" + NUMBERS, "no alert", "-"],
    ["-", "by_hand", "person_decided", "-", "sent retraction #1", "retraction #1"]]


def test_superevent_and_candidate_pages_show_labels_and_decisions(superevent_spool, browser):
    from skyspool import config, orchestrator

    spool = superevent_spool
    superevent_page = spool.products / "gw" / SUPEREVENT / "index.html"
    candidate_page = spool.products / "gwcand" / CANDIDATE / "index.html"
    for page in (superevent_page, candidate_page):
        assert _decision_rows(page) == DECISIONS, page
        assert '<p class="labels">labels: ADVNO, RETRACTED</p>' in page.read_text()
        found = visit(browser, page.as_uri())
        assert found["errors"] == [] and all(resolves(link) for link in found["links"]), found["links"]
    # the candidate's page links to the superevent's page (which sent an alert)
    assert f'<h2>superevent <a href="../../gw/{SUPEREVENT}/index.html">{SUPEREVENT}</a>: decisions</h2>' \
        in candidate_page.read_text()
    assert f"<h2>superevent {SUPEREVENT}: decisions</h2>" in superevent_page.read_text()

    # A later decision on the candidate: refreshing the candidate's event remakes both pages.
    before = superevent_page.stat().st_mtime_ns
    orchestrator.decide(spool, spool.entries("gwcand")[0], config.load(spool))
    assert refresh(spool, [("gwcand", CANDIDATE)])
    later = [CANDIDATE, "decide", "person_decided",
             "a person decided (ADVNO,RETRACTED): no automatic alert" + NUMBERS, "no alert", "-"]
    for page in (superevent_page, candidate_page):
        assert _decision_rows(page) == DECISIONS + [later], page  # newest last
    assert superevent_page.stat().st_mtime_ns > before
