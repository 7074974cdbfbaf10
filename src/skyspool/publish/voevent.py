"""VOEvent sink: send VOEvents to brokers over the VOEvent Transport Protocol (VTP).

VTP (IVOA note "VOEvent Transport Protocol", as GCN Classic, Comet and DARC speak it): every
message is a 4-byte big-endian length and that many bytes of XML, over TCP. An *author*
connects, sends one VOEvent and reads the broker's ``Transport`` answer (``ack``, or ``nak``
with a reason); a *subscriber* stays connected, answers each ``iamalive`` with one of its own
and each VOEvent with an ``ack``.

The sink sends, per entry, every product matching ``products`` (default: ``notice.xml`` of GW
and external-notice entries and the FRB trigger VOEvents ``triggers/trigger-<n>.xml``) to each
broker of ``brokers`` (``host:port``), one connection per event. A broker that answers ``nak``
because it has seen the IVORN already (a receipt lost in a crash) counts as delivered.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import xml.etree.ElementTree as ET

from skyspool import times
from skyspool.paths import Entry
from skyspool.publish.registry import Sink, product_files, sink

TRANSPORT_NS = "http://www.telescope-networks.org/schema/Transport/v1.1"
MAX_MESSAGE_BYTES = 10_000_000  # a sky map is never inlined; anything larger is not a VOEvent


class VtpError(RuntimeError):
    """A broker refused an event or broke the protocol."""


def parse_host_port(address: str, default_port: int = 8099) -> tuple[str, int]:
    """``"host:port"`` (or ``"host"``: VTP's usual port 8099) as a pair.

    >>> parse_host_port("voevent.gsfc.nasa.gov:8099")
    ('voevent.gsfc.nasa.gov', 8099)
    >>> parse_host_port("127.0.0.1")
    ('127.0.0.1', 8099)
    """
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    return host, int(port) if port else default_port


def send_message(connection: socket.socket, data: bytes) -> None:
    connection.sendall(struct.pack("!I", len(data)) + data)


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = connection.recv(min(left, 1 << 16))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(connection: socket.socket) -> bytes:
    """One VTP message (blocks; raises ConnectionError when the peer closes)."""
    (size,) = struct.unpack("!I", _read_exactly(connection, 4))
    if size > MAX_MESSAGE_BYTES:
        raise VtpError(f"message of {size} bytes announced: not VTP")
    return _read_exactly(connection, size)


def message_kind(data: bytes) -> tuple[str, str | None, str | None]:
    """``(root, role, ivorn)`` of a VTP message: ``("VOEvent", role, ivorn)`` or
    ``("Transport", "ack"|"nak"|"iamalive"|..., origin)``."""
    root = ET.fromstring(data)
    name = root.tag.rsplit("}", 1)[-1]
    if name == "VOEvent":
        return name, root.get("role"), root.get("ivorn")
    origin = root.findtext("Origin")
    return name, root.get("role"), origin.strip() if origin else None


def transport(role: str, local_ivo: str, origin: str | None = None) -> bytes:
    """A VTP ``Transport`` message from ``local_ivo``: ``ack`` of the event ``origin``, or
    the answer to a broker's ``iamalive`` / ``authenticate`` (``origin``: the broker's)."""
    root = ET.Element(f"{{{TRANSPORT_NS}}}Transport", {"role": role, "version": "1.0"})
    ET.SubElement(root, "Origin").text = origin or local_ivo
    ET.SubElement(root, "Response").text = local_ivo
    stamp = times.iso_now()
    ET.SubElement(root, "TimeStamp").text = stamp
    ET.register_namespace("trn", TRANSPORT_NS)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def nak_reason(data: bytes) -> str:
    """The reason a broker gives in a ``nak`` (Comet: ``Meta/Result``)."""
    root = ET.fromstring(data)
    return " ".join((root.findtext("Meta/Result") or root.findtext(".//Result") or "").split())


def author_send(address: str, event: bytes, timeout_s: float) -> str:
    """Send ``event`` to the broker at ``address`` as its author; return the broker's answer
    (``ack``, or ``seen`` for a nak of an IVORN it has already). Raises VtpError on a nak."""
    host, port = parse_host_port(address)
    with socket.create_connection((host, port), timeout=timeout_s) as connection:
        send_message(connection, event)
        while True:
            answer = read_message(connection)
            kind, role, _ = message_kind(answer)
            if kind == "Transport" and role == "ack":
                return "ack"
            if kind == "Transport" and role == "nak":
                reason = nak_reason(answer)
                if "previously seen" in reason.lower():
                    return "seen"
                raise VtpError(f"broker {address} refused the event: {reason or 'nak'}")
            # an iamalive before the answer: keep reading


def event_ivorn(data: bytes) -> str:
    kind, _, ivorn = message_kind(data)
    if kind != "VOEvent" or not ivorn:
        raise ValueError("not a VOEvent with an IVORN")
    return ivorn


@sink("voevent")
class VoeventSink(Sink):
    """Settings: ``brokers`` (``host:port`` list), ``products`` (patterns, ``triggers/``
    included), ``timeout_s`` (s, per connection)."""

    once = False
    default_stages = ("notice", "done")
    defaults = {"brokers": [], "products": ["notice.xml", "triggers/trigger-*.xml"],
                "timeout_s": 10.0}

    def plan(self, entry: Entry, receipt: dict | None) -> list[dict]:
        done = {(item["broker"], item["product"]) for item in (receipt or {}).get("sent", [])}
        folder = self.spool.products_dir(entry)
        items = []
        for name in product_files(folder, self.settings["products"]):
            data = (folder / name).read_bytes()
            try:
                ivorn = event_ivorn(data)
            except (ValueError, ET.ParseError):
                continue  # not a VOEvent (a product that matched a broad pattern)
            items += [{"broker": broker, "product": name, "ivorn": ivorn, "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()}
                      for broker in self.settings["brokers"] if (broker, name) not in done]
        return items

    def deliver(self, entry: Entry, items: list[dict]) -> list[dict]:
        sent = []
        folder = self.spool.products_dir(entry)
        for item in items:
            answer = author_send(item["broker"], (folder / item["product"]).read_bytes(),
                                 self.settings["timeout_s"])
            sent.append({**item, "answer": answer})
        return sent
