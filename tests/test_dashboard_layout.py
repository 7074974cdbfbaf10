"""The dashboard's layout in headless Chromium on a laptop (1366x768) and a phone (390x844):
no page scrolls sideways (on the laptop the index table fits whole: its wide columns fold into
the event pages), every image loads, the recent events' 90% regions (index) and an event's sky
map and volume plot are shown large.
Screenshots of every page are kept in the test's folder for a person to look at.
"""

from __future__ import annotations

import pytest

from test_dashboard import (
    browser,  # noqa: F401 (the fixture: Debian's chromium, headless)
    superevent_spool,  # noqa: F401 (a superevent's decisions, by the orchestrator)
)

LAPTOP, PHONE = (1366, 768), (390, 844)
LAYOUT = """() => ({
  page_width: document.documentElement.scrollWidth,
  view_width: window.innerWidth,
  tables: [...document.querySelectorAll("div.scroll")].map(d => [d.scrollWidth, d.clientWidth]),
  images: [...document.images].map(i => [i.getAttribute("src"), i.complete, i.naturalWidth]),
  figures: [...document.querySelectorAll("div.figures img")].map(i => [i.alt, i.getBoundingClientRect().width]),
})"""


def _layout(browser, url: str, size: tuple[int, int], screenshot) -> dict:  # noqa: F811
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url, wait_until="load")
    found = page.evaluate(LAYOUT)
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return found


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_pages_fit_the_screen_and_show_their_images(processed_gw_spool, browser, size, tmp_path):  # noqa: F811
    from PIL import Image

    index = processed_gw_spool.products / "index.html"
    pages = [index] + [processed_gw_spool.products / "gw" / event / "index.html"
                       for event in ("S230518h", "MS181101ab")]
    for number, path in enumerate(pages):
        shot = tmp_path / f"{number}-{size[0]}x{size[1]}.png"
        layout = _layout(browser, path.as_uri(), size, shot)
        where = (path.relative_to(processed_gw_spool.products).as_posix(), size)
        assert layout["page_width"] <= layout["view_width"] == size[0], where  # no sideways scrolling
        with Image.open(shot) as image:
            assert image.width == size[0], where
        assert layout["images"] and all(done and width > 0 for _, done, width in layout["images"]), where
        if path == index and size == LAPTOP:
            assert all(scroll <= client for scroll, client in layout["tables"]), where  # fits whole
        widths = dict(layout["figures"])
        if path == index:  # the recent events' 90% regions on one all-sky map, large
            assert list(widths) == ["90% regions of the recent GW events"], where
            assert widths["90% regions of the recent GW events"] >= min(600, size[0] - 40), where
        else:
            assert {"sky map", "volume"} <= {alt.rsplit(" ", 1)[0] for alt in widths}, where
            assert all(width >= min(600, size[0] - 40) for width in widths.values()), (where, widths)


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_decision_tables_fit_the_screen(superevent_spool, browser, size, tmp_path):  # noqa: F811
    products = superevent_spool.products
    for page in ("gw/S151012a/index.html", "gwcand/pycbc-1128678900.4443/index.html"):
        layout = _layout(browser, (products / page).as_uri(), size, tmp_path / f"{page.split('/')[0]}.png")
        assert layout["page_width"] <= layout["view_width"] == size[0], (page, size)  # no sideways scrolling
        decisions, entries = layout["tables"]
        if size == LAPTOP:  # the decisions table fits whole, its long reasons wrapped
            assert decisions[0] <= decisions[1] <= size[0], (page, decisions)


def test_recent_regions_are_the_newest_gw_events_not_retracted(tmp_path):
    from skyspool import dashboard

    def event(event_id, received, kind="gw", retracted=False, contours=True):
        products = [{"name": "contours.geojson", "state": "done" if contours else "pending"}]
        return {"kind": kind, "event_id": event_id, "received": received, "retracted": retracted,
                "entries": [{"entry": "002-update", "products": products},
                            {"entry": "001-preliminary", "products": [{"name": "contours.geojson", "state": "done"}]}]}

    events = [event("S1", 1.0), event("S2", 5.0, retracted=True), event("G3", 4.0, kind="grb"),
              event("S4", 3.0, contours=False), event("S5", 2.0), event("S6", 2.5)]
    for path in ("gw/S1/002-update", "gw/S2/002-update", "gw/S4/001-preliminary", "gw/S5/002-update",
                 "G3/002-update"):  # S6's contours were removed since its event.json was written
        (tmp_path / path).mkdir(parents=True)
        (tmp_path / path / "contours.geojson").write_text("{}")
    found = dashboard.recent_regions(events, tmp_path, count=2)
    assert [(event_id, path.relative_to(tmp_path).as_posix()) for event_id, path in found] == [
        ("S4", "gw/S4/001-preliminary/contours.geojson"), ("S5", "gw/S5/002-update/contours.geojson")]


def test_the_timeline_shows_received_notice_products_and_sends():
    from skyspool import dashboard

    entry = {"entry": "001-preliminary", "received": 1.7e9, "notice_latency_s": 0.84,
             "all_latency_s": 12.5, "products": [], "coincidences": [],
             "sends": [{"sink": "brokers", "kind": "voevent", "items": 1, "time": 1.7e9 + 0.9},
                       {"sink": "tm", "kind": "treasuremap", "items": 2, "time": 1.7e9 + 13.25}]}
    later = {**entry, "entry": "002-update", "received": 1.7e9 + 60, "notice_latency_s": None,
             "all_latency_s": None, "sends": []}
    text = dashboard._timeline([later, entry])
    assert text == ('<h2>timeline</h2>\n<ol class="timeline">'
                    '<li><b>001-preliminary</b>: received 2023-11-14 22:13:20 UTC → notice +0.8 s → '
                    'all products +12.5 s → sent by brokers (voevent, 1) +0.9 s → '
                    'sent by tm (treasuremap, 2) +13.2 s</li>'
                    '<li><b>002-update</b>: received 2023-11-14 22:14:20 UTC</li></ol>\n')
