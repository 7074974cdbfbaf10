"""Storage sink: copy chosen products to any fsspec URL (a local directory, s3://, az://,
swift://, ...), mirroring ``products/``: ``<url>/<kind>/<event_id>/<NNN>-<type>/<product>`` (FRB trigger files
in ``triggers/`` included).

With ``layout: treasuremap`` the objects get the names the Treasure Map listeners (gwtm_cron)
give them in the Treasure Map's bucket, under ``test/`` for mock (MS) events and ``fit/``
otherwise, ``<path_info>`` being ``<graceid>-<AlertType>`` and, from the second alert of that
type on, the count of the earlier ones (``S230520ae-Preliminary1``):

- ``<path_info>_alert.json``: the IGWN alert as received (JSON);
- ``<path_info>.fits.gz``: ``skymap.flat.fits.gz``; ``<path_info>_moc.fits.gz``: the
  multi-order sky map; ``<path_info>-contours-smooth.json``: ``contours.geojson``;
- ``<graceid>-Fermi.json`` and ``<graceid>-LAT.json``: the sky Fermi GBM sees (not occulted
  by the Earth) and the LAT field of view as MOC JSON, once per event (the first alert's).

Idempotent: a product listed in the receipt is not sent again, and one already at the
destination with the same size is recorded without being sent (a receipt lost in a crash).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid
from pathlib import Path

from skyspool.paths import Entry, Spool
from skyspool.publish.registry import Sink, product_files, sink


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@sink("storage")
class StorageSink(Sink):
    """Settings: ``url`` (fsspec URL or local path), ``products`` (file name patterns),
    ``storage_options`` (passed to fsspec: endpoint, credentials, ...), ``layout``
    (``skyspool``: as ``products/``; ``treasuremap``: the Treasure Map's object names)."""

    once = False
    default_stages = ("notice", "done")
    defaults = {"products": ["*"], "storage_options": {}, "layout": "skyspool"}

    def __init__(self, *args):
        super().__init__(*args)
        self._fs = None
        self._root = ""

    def _connect(self) -> None:
        """Make the fsspec file system of ``url`` (on first use: no connection before)."""
        if self._fs is None:
            import fsspec

            self._fs, root = fsspec.core.url_to_fs(self.settings["url"],
                                                    **self.settings["storage_options"])
            self._root = root.rstrip("/")

    @property
    def fs(self):
        self._connect()
        return self._fs

    def remote(self, entry: Entry, name: str) -> str:
        """Where ``name`` of ``entry`` goes, as a path of :attr:`fs`."""
        self._connect()
        return "/".join((self._root, entry.kind, entry.event_id, entry.name, name))

    def plan(self, entry: Entry, receipt: dict | None) -> list[dict]:
        done = {item["product"] for item in (receipt or {}).get("sent", [])}
        folder = self.spool.products_dir(entry)
        if self.settings["layout"] == "treasuremap":
            chosen = [(name, source, self._join(remote), once) for name, source, remote, once
                      in treasuremap_objects(self.spool, entry) if name not in done]
        else:
            chosen = [(name, folder / name, self.remote(entry, name), False)
                      for name in product_files(folder, self.settings["products"]) if name not in done]
        return [{"product": name, "source": str(source.relative_to(self.spool.root)),
                 "bytes": source.stat().st_size, "sha256": _sha256(source),
                 "to": self.fs.unstrip_protocol(remote), **({"once_per_event": True} if once else {})}
                for name, source, remote, once in chosen]

    def _join(self, name: str) -> str:
        self._connect()
        return f"{self._root}/{name}"

    def deliver(self, entry: Entry, items: list[dict]) -> list[dict]:
        sent = []
        self.fs.invalidate_cache()  # sizes at the destination now, not as listed before
        local = "file" in self.fs.protocol
        for item in items:
            source = self.spool.root / item["source"]
            target = self.fs._strip_protocol(item["to"])
            with tempfile.TemporaryDirectory() as scratch:
                if item["to"].endswith((
                        "-Fermi.json", "-LAT.json")) and item["product"].endswith(".moc.fits"):
                    source = _moc_json(source, item["product"], scratch)
                try:
                    size = self.fs.info(target)["size"]
                    present = item.get("once_per_event") or size == source.stat().st_size
                except FileNotFoundError:
                    present = False
                if not present:
                    if local:  # readers of a directory never see a partial file
                        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                        partial = f"{target}.{uuid.uuid4().hex}.part"
                        self.fs.put_file(str(source), partial)
                        self.fs.mv(partial, target)
                    else:  # an object store's PUT is atomic already
                        self.fs.put_file(str(source), target)
            sent.append({**item, "skipped_present": present})
        return sent


def _moc_json(source, product: str, scratch: str):
    """A MOC FITS product as the Treasure Map's MOC JSON: the GBM occultation as the sky
    GBM sees (its complement), the LAT field of view as it is."""
    from mocpy import MOC

    moc = MOC.from_fits(str(source))
    if product == "fermi_occultation.moc.fits":
        moc = moc.complement()
    path = Path(scratch) / "moc.json"
    path.write_text(json.dumps(moc.serialize(format="json")))
    return path


def treasuremap_objects(spool: Spool, entry: Entry) -> list[tuple[str, Path, str, bool]]:
    """``(product, source, object name, once per event)`` of a GW entry in the Treasure Map's
    bucket layout (see the module's doc); nothing for other entries."""
    if entry.kind != "gw" or entry.path.suffix != ".json":
        return []
    from skyspool.publish.treasuremap import treasuremap_alert_type

    alert_type, _ = treasuremap_alert_type(entry.alert_type)
    earlier = sum(1 for e in spool.entries_of(entry.kind, entry.event_id)
                  if e.number < entry.number and e.alert_type == entry.alert_type and e.path.suffix == ".json")
    folder = f"{'test' if entry.event_id.startswith('MS') else 'fit'}"
    path_info = f"{folder}/{entry.event_id}-{alert_type}{earlier or ''}"
    objects = [("alert.json", entry.path, f"{path_info}_alert.json", False)]
    for product, suffix, once in (("skymap.flat.fits.gz", ".fits.gz", False),
                                  ("skymap.multiorder.fits", "_moc.fits.gz", False),
                                  ("contours.geojson", "-contours-smooth.json", False),
                                  ("fermi_occultation.moc.fits", None, True),
                                  ("lat_fov.moc.fits", None, True)):
        source = spool.product(entry, product)
        if source.exists():
            name = (f"{path_info}{suffix}" if suffix else
                    f"{folder}/{entry.event_id}-{'Fermi' if product.startswith('fermi') else 'LAT'}.json")
            objects.append((product, source, name, once))
    return objects
