"""GCN notices from other messengers, normalised: one :class:`Notice` whatever the format.

GCN Classic VOEvents (:mod:`skyspool.formats.gcn_voevent`) and GCN JSON notices
(:mod:`skyspool.formats.gcnjson`) are parsed into the same dataclass
(:mod:`skyspool.formats.gcn_notice`), so that rules and the coincidence search never parse
a notice again. :func:`read_notice` reads a spooled notice by its extension.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from skyspool.formats import gcn_voevent, gcnjson, skymaps
from skyspool.formats.gcn_notice import CoincidentNeutrino, Notice  # noqa: F401  (the package's names)


def read_notice(path: str | Path) -> Notice:
    """Read a spooled notice (``.xml`` VOEvent or ``.json`` GCN JSON) into a :class:`Notice`."""
    path = Path(path)
    data = path.read_bytes()
    notice = gcn_voevent.to_notice(data) if path.suffix == ".xml" else gcnjson.to_notice(data)
    return _with_mission_map(notice, path)


def _with_mission_map(notice: Notice, path: Path) -> Notice:
    """The notice with the mission map file stored for its trigger, when it names one by
    ``healpix_url`` and carries none itself (:mod:`skyspool.notices.mission_maps`)."""
    found = skymaps.mission_map_file(path) if notice.skymap is None and notice.skymap_url else None
    if found is None:
        return notice
    return dataclasses.replace(notice, skymap=skymaps.fits_bytes(found.read_bytes()),
                               skymap_file=found.name)
