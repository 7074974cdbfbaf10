"""Intents: what a product job decided to send, written as a product (rules write only under
``products/``); :mod:`skyspool.publish.effects` performs them after the run.

An intent file is ``effects.json`` or ``<step>.effects.json`` in an entry's products folder:
JSON ``{"effects": [item, ...]}``, each item a dict with ``key`` (unique within the entry),
``type`` and what its handler needs:

- ``alert``: an IGWN alert into ``outgoing/`` and the inbox (``superevent_id``, ``number``,
  ``alert_type``, ``record``: the alert JSON);
- ``udp``: a LOFAR TBB packet (``file``: the packet's product, ``host``, ``port``);
- ``email``: an e-mail (``subject``, ``page``: HTML, ``smtp``: the ``frb.email`` settings,
  ``attachments``: product names); ``after``: the key of an item that must go out first.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

from skyspool import atomic

PATTERNS = ("effects.json", "*.effects.json")


def write_intents(path: str | Path, items: list[dict]) -> None:
    """Write the intent file ``path`` listing ``items`` (none: an empty list)."""
    atomic.write_json(path, {"effects": items})


def is_intent_file(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in PATTERNS)


def read_intents(folder: Path) -> list[dict]:
    """Every item of the intent files in ``folder`` (an entry's products), in name order."""
    if not folder.is_dir():
        return []
    return [item for path in sorted(folder.iterdir()) if is_intent_file(path.name)
            for item in json.loads(path.read_text())["effects"]]
