"""A mission's own HEALPix map, dropped into the inbox as a file, for a notice that only
names it (``healpix_url``: Fermi GBM's ``glg_healpix_all_bn...fit``, IceCube's
``...skymap_nside_1024_probability.fits.gz``), which cannot be fetched offline.

The file is matched to its trigger by its name: the last part of the ``healpix_url`` of a
notice in the spool. It is stored with that trigger's notices as the entry
``<NNN>-mission_map.fits`` (``.fits.gz`` when gzip-compressed), and from then on the
trigger's notices that name a ``healpix_url`` carry it as their own map
(:func:`skyspool.notices.read_notice`): their sky-map products and their coincidences use
it instead of the model, and say so (``skymap_file``, ``skymap_source``). A FITS file that
no stored notice names is refused as before (kept in quarantine: drop it again once the
notice is in).
"""

from __future__ import annotations

from skyspool.formats.registry import Message, Refused
from skyspool.formats.skymaps import FITS_MAGIC, GZIP_MAGIC, fits_bytes
from skyspool.formats.skymaps import MISSION_MAP_TYPE as MAP_TYPE
from skyspool.ids import MISSION_MAP_KINDS


def url_name(url: str | None) -> str | None:
    """The file name at the end of a URL (what a person saves it as)."""
    return url.rstrip("/").rsplit("/", 1)[-1] if url else None


def _stored_notices(spool, name: str):
    """Notices in the spool whose ``healpix_url`` ends with ``name``."""
    from skyspool.notices import read_notice

    for kind in MISSION_MAP_KINDS:
        for entry in spool.entries(kind):
            if entry.alert_type == MAP_TYPE or entry.path.suffix not in (".json", ".xml"):
                continue
            try:
                notice = read_notice(entry.path)
            except Refused:
                continue
            if url_name(notice.skymap_url) == name:
                yield notice


def message(spool, data: bytes, filename: str) -> Message | None:
    """The spool entry of a dropped map file named as a stored notice's ``healpix_url``,
    checked to be a usable HEALPix map; None for any other file."""
    from skyspool.formats import skymaps

    if not data.startswith((FITS_MAGIC, GZIP_MAGIC)):
        return None
    notice = next(_stored_notices(spool, filename), None)
    if notice is None:
        return None
    skymaps.check_skymap(fits_bytes(data), f"mission map {filename}", flat_ok=True)
    extension = "fits.gz" if data.startswith(GZIP_MAGIC) else "fits"
    return Message(notice.kind, notice.trigger_id, MAP_TYPE, extension, notice.role)
