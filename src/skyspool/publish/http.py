"""HTTP sink: post one JSON body per entry to an API (the Treasure Map or any alike).

The body is the ``body`` template of the settings with every string ``"$name"`` replaced by
a value from the entry's products (``"$stats.area90_deg2"`` reaches into a mapping):

- ``event_id``, ``alert_type``, ``kind``, ``entry`` (``NNN-type``), ``sequence`` (NNN);
- ``stats`` (stats.json), ``notice`` (notice.json), ``contours`` (contours.geojson), and
  ``galaxies``: the best ``galaxies_top_n`` rows of galaxies.ecsv; null when absent (and so
  is ``"$stats.area90_deg2"`` then).

The token is read from the environment variable named by ``token_env`` and sent in the
``auth_header`` header; it is never logged nor recorded.
"""

from __future__ import annotations

import json
import os
import urllib.request

from skyspool.paths import Entry
from skyspool.publish.registry import Sink, sink


def _read_json(path):
    return json.loads(path.read_text()) if path.exists() else None


def _galaxies(path, top_n: int) -> list[dict] | None:
    if not path.exists():
        return None
    from astropy.table import Table

    from skyspool import galaxies

    return galaxies.notice_galaxies(Table.read(path, format="ascii.ecsv"), top_n)


def fill(template, values: dict):
    """``template`` with every ``"$name"`` / ``"$name.key"`` string replaced from ``values``."""
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, values) for value in template]
    if isinstance(template, str) and template.startswith("$"):
        value = values
        for key in template[1:].split("."):
            if value is None:
                break  # a product this entry lacks (a retraction has no stats.json): null
            if not isinstance(value, dict) or key not in value:
                raise ValueError(f"body template: no value {template}")
            value = value[key]
        return value
    return template


@sink("http")
class HttpSink(Sink):
    """Settings: ``url``, ``body`` (template), ``token_env``, ``auth_header``,
    ``auth_scheme``, ``galaxies_top_n``, ``timeout_s`` (s)."""

    defaults = {"body": {"event_id": "$event_id", "alert_type": "$alert_type",
                         "area50_deg2": "$stats.area50_deg2", "area90_deg2": "$stats.area90_deg2",
                         "contours": "$contours", "galaxies": "$galaxies"},
                "token_env": None, "auth_header": "Authorization", "auth_scheme": "Bearer",
                "galaxies_top_n": 10, "timeout_s": 10.0}

    def values(self, entry: Entry) -> dict:
        """What the body template may use, from the entry's products."""
        folder = self.spool.products_dir(entry)
        return {"event_id": entry.event_id, "alert_type": entry.alert_type, "kind": entry.kind,
                "entry": entry.name, "sequence": entry.number,
                "stats": _read_json(folder / "stats.json"),
                "notice": _read_json(folder / "notice.json"),
                "contours": _read_json(folder / "contours.geojson"),
                "galaxies": _galaxies(folder / "galaxies.ecsv", self.settings["galaxies_top_n"])}

    def plan(self, entry: Entry, receipt: dict | None) -> list[dict]:
        if not self.spool.product(entry, "notice.json").exists():
            return []  # nothing to tell (pipeline candidates, segment lists)
        return [{"url": self.settings["url"], "body": fill(self.settings["body"], self.values(entry))}]

    def deliver(self, entry: Entry, items: list[dict]) -> list[dict]:
        headers = {"Content-Type": "application/json", "User-Agent": "skyspool"}
        if self.settings["token_env"]:
            token = os.environ.get(self.settings["token_env"])
            if not token:
                raise RuntimeError(f"environment variable {self.settings['token_env']} (the "
                                   "API token) is not set")
            scheme = self.settings["auth_scheme"]
            headers[self.settings["auth_header"]] = f"{scheme} {token}" if scheme else token
        sent = []
        for item in items:
            request = urllib.request.Request(item["url"], data=json.dumps(item["body"]).encode(),
                                             headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=self.settings["timeout_s"]) as response:
                sent.append({**item, "status": response.status,
                             "response": response.read(4096).decode("utf-8", "replace")})
        return sent
