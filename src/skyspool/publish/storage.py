"""Storage sink: copy chosen products to any fsspec URL (a local directory, s3://, az://,
swift://, ...), mirroring ``products/``: ``<url>/<kind>/<event_id>/<NNN>-<type>/<product>`` (FRB trigger files
in ``triggers/`` included).

Idempotent: a product listed in the receipt is not sent again, and one already at the
destination with the same size is recorded without being sent (a receipt lost in a crash).
"""

from __future__ import annotations

import hashlib
import uuid

from skyspool.paths import Entry
from skyspool.publish import Sink, product_files, sink


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@sink("storage")
class StorageSink(Sink):
    """Settings: ``url`` (fsspec URL or local path), ``products`` (file name patterns),
    ``storage_options`` (passed to fsspec: endpoint, credentials, ...)."""

    once = False
    default_stages = ("notice", "done")
    defaults = {"products": ["*"], "storage_options": {}}

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
        chosen = [name for name in product_files(folder, self.settings["products"]) if name not in done]
        return [{"product": name, "bytes": (folder / name).stat().st_size,
                 "sha256": _sha256(folder / name),
                 "to": self.fs.unstrip_protocol(self.remote(entry, name))} for name in chosen]

    def deliver(self, entry: Entry, items: list[dict]) -> list[dict]:
        sent = []
        self.fs.invalidate_cache()  # sizes at the destination now, not as listed before
        local = "file" in self.fs.protocol
        for item in items:
            source = self.spool.product(entry, item["product"])
            target = self.remote(entry, item["product"])
            try:
                present = self.fs.info(target)["size"] == item["bytes"]
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
