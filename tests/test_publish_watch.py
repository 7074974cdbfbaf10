"""A publisher's backends down while `skyspool watch` runs (issue 9's fault): the notices
come as usual, and once the backends are back every upload and post is made, once."""

from __future__ import annotations

import json

from publish_backends import BUCKET, ApiServer, S3Server
from skyspool import config, publish
from skyspool.paths import Spool
from support import make_spool
from test_daemon import CHEAP, MOCK_ALERT, O4_ALERT, Watch, drop, wait_for

UPLOADED = ("notice.json", "stats.json", "skymap.png")


def _receipt(spool: Spool, entry, sink: str) -> dict | None:
    path = spool.publish_receipt(entry, sink)
    return json.loads(path.read_text()) if path.exists() else None


def test_notices_are_not_delayed_by_an_outage_and_publishing_catches_up(tmp_path):
    s3, api = S3Server(), ApiServer()
    spool = make_spool(tmp_path / "spool", {**CHEAP, "publish": {
        "retry": {"backoff_s": 0.2, "max_backoff_s": 1.0},
        "sinks": {"archive": {"kind": "storage", "url": f"s3://{BUCKET}/live",
                              "products": list(UPLOADED), "storage_options": s3.storage_options()},
                  "tm": {"kind": "http", "url": api.url, "kinds": ["gw"]}}}})
    s3.stop()
    api.down = True
    watch = Watch(spool, "--log-format", "json")
    try:
        drop(spool, O4_ALERT)
        drop(spool, MOCK_ALERT)
        wait_for(lambda: len(spool.entries()) == 2 and all(
            spool.product(e, "notice.json").exists() for e in spool.entries()), "both notices")
        entries = spool.entries()
        wait_for(lambda: watch.text().count("publish-failed sink=archive") >= 2 and
                 "publish-failed sink=tm" in watch.text(), "failed sends")
        assert not list((spool.logs / "published").rglob("*.json"))  # nothing went out

        s3.start()
        api.down = False
        wait_for(lambda: all((_receipt(spool, e, "archive") or {}).get("stage") == "done" and
                             _receipt(spool, e, "tm") for e in entries), "uploads and posts")
        assert watch.stop() == 0

        expected = {f"live/gw/{e.event_id}/{e.name}/{name}": spool.product(e, name).stat().st_size
                    for e in entries for name in UPLOADED}
        assert s3.objects("live/") == expected
        for entry in entries:
            sent = [item["product"] for item in _receipt(spool, entry, "archive")["sent"]]
            assert sorted(sent) == sorted(UPLOADED)  # each file once
        posted = sorted(r["body"]["event_id"] for r in api.accepted())
        assert posted == sorted(e.event_id for e in entries)  # one post per entry

        # A restart would send nothing again: its catch-up finds every receipt.
        settings = config.load(spool)
        for the_sink in publish.make_sinks(spool, settings):
            assert publish.pending(spool, settings, the_sink, entries, dry=False) == []
    finally:
        if watch.process.poll() is None:
            watch.kill()
        api.close()
        s3.stop()
