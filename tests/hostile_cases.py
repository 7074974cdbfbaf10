"""A corpus of hostile inbox files, generated from the real corpus (read in place).

Each :class:`Case` is one file to put in an inbox (or a symbolic link, or a named pipe)
and the reason that must come back from quarantine (a regular expression, matched
case-insensitively against the one-line ``.reason.txt``). :func:`cases` makes them all;
:func:`materialise` puts one in an inbox. Nothing here is a valid alert.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import os
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from support import CORPUS, GW_ALERTS

GW_JSON = GW_ALERTS / "MS181101ab-preliminary.json"
GW_AVRO = GW_ALERTS / "MS181101ab-preliminary.avro"
EXT_UPDATE = GW_ALERTS / "MS181101ab-ext-update.json"
GBM_VOEVENT = CORPUS / "notices" / "voevent" / "finkmm_fermi_voevent_number_193.xml"
SVOM_LIKE_ID = "sb24031501"
GCN_JSON = CORPUS / "notices" / "kafka_json"
GBM_JSON = GCN_JSON / "gcnschema_fermi_gbm_trigger.ground1.example.json"
GUANO_JSON = GCN_JSON / "gcnschema_swift_bat_guano.example.json"
# The inbox size limit the hostile spools are given (the largest corpus alert is 2.1 MB).
MAX_INPUT_BYTES = 3_000_000
SECRET = b'{"secret": "outside the spool: must never be read"}\n'

UNREADABLE = r"not a recognised alert, notice or candidate file"
BAD_JSON = r"not valid JSON \("
NOT_ALERT = r"not a valid IGWN alert: "
UNSAFE_ID = r"(unsafe (event|trigger) id|does not match)"
DOCTYPE = r"XML with a DOCTYPE or entity declarations is refused"


@dataclasses.dataclass
class Case:
    """One hostile input: ``name`` in the inbox, its bytes, and the expected reason.

    ``link``: make a symbolic link to this path (``{outside}`` is the directory beside the
    spool, ``{spool}`` the spool) instead of a file; ``fifo``: make a named pipe.
    ``group``: cases of one group share a name and are dropped one after the other.
    """

    name: str
    data: bytes = b""
    reason: str = ""
    link: str | None = None
    fifo: bool = False
    group: str | None = None

    @property
    def inbox_name(self) -> str:
        return self.group or self.name


def _alert() -> dict:
    return json.loads(GW_JSON.read_bytes())


def _dumps(record: dict) -> bytes:
    return json.dumps(record).encode()


def _with(**fields) -> bytes:
    """The GW alert with top-level fields replaced (None: removed)."""
    record = _alert()
    for key, value in fields.items():
        if value is None:
            record.pop(key)
        else:
            record[key] = value
    return _dumps(record)


def _with_event(**fields) -> bytes:
    record = _alert()
    for key, value in fields.items():
        if value is None:
            record["event"].pop(key)
        else:
            record["event"][key] = value
    return _dumps(record)


def _skymap_bytes() -> bytes:
    return base64.b64decode(_alert()["event"]["skymap"])


def _with_skymap(data: bytes) -> bytes:
    """The GW alert carrying ``data`` as its sky map (base64)."""
    return _with_event(skymap=base64.b64encode(data).decode())


def _table() -> Table:
    return Table.read(io.BytesIO(_skymap_bytes()), format="fits")


def _fits(table: Table, **header) -> bytes:
    """``table`` written as FITS, with header keywords replaced."""
    buffer = io.BytesIO()
    table.write(buffer, format="fits")
    with fits.open(io.BytesIO(buffer.getvalue())) as hdus:
        for key, value in header.items():
            hdus[1].header[key] = value
        out = io.BytesIO()
        hdus.writeto(out)
    return out.getvalue()


def _map_with(change) -> bytes:
    table = _table()
    change(table)
    return _with_skymap(_fits(table))


def _set_first(column: str, value: float):
    def change(table):
        table[column][0] = value
    return change


def _scaled(factor: float):
    def change(table):
        table["PROBDENSITY"] *= factor
    return change


def _flat_map(ordering: str) -> bytes:
    """A flat HEALPix map (nside 16) with the given ORDERING."""
    prob = np.full(12 * 16 ** 2, 1 / (12 * 16 ** 2))
    return _fits(Table({"PROB": prob}), PIXTYPE="HEALPIX", ORDERING=ordering, NSIDE=16,
                 INDXSCHM="IMPLICIT")


def _voevent(replace: dict[bytes, bytes] | None = None, prefix: bytes = b"") -> bytes:
    data = GBM_VOEVENT.read_bytes()
    for old, new in (replace or {}).items():
        assert old in data, old
        data = data.replace(old, new, 1)
    if prefix:
        data = data.split(b"?>", 1)
        data = data[0] + b"?>" + prefix + data[1]
    return data


def _gcn_json(path: Path = GBM_JSON, **fields) -> bytes:
    record = json.loads(path.read_bytes())
    for key, value in fields.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return _dumps(record)


def _gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)


def _flip(data: bytes, every: int) -> bytes:
    corrupt = bytearray(data)
    corrupt[100::every] = bytes((b ^ 0x5A) for b in corrupt[100::every])
    return bytes(corrupt)


LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
          + b"".join(b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b']>\n<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0">&lol9;</voe:VOEvent>\n')


def cases() -> list[Case]:
    """Every hostile case (generated afresh: nothing is written to disk here)."""
    alert = GW_JSON.read_bytes()
    avro = GW_AVRO.read_bytes()
    skymap = _skymap_bytes()
    fits_image = io.BytesIO()
    fits.PrimaryHDU(np.zeros((8, 8))).writeto(fits_image)
    fits_image = fits_image.getvalue()
    random = np.random.default_rng(9).bytes(4096)
    guano = json.loads(GUANO_JSON.read_bytes())
    c = [
        # --- JSON: truncated, malformed, nested, odd encodings and numbers
        Case("trunc-10.json", alert[:10], BAD_JSON),
        Case("trunc-half.json", alert[: len(alert) // 2], BAD_JSON),
        Case("trunc-last-brace.json", alert.rstrip()[:-1], BAD_JSON),
        Case("trailing-comma.json", b'{"superevent_id": "S230520ae",}', BAD_JSON),
        Case("single-quotes.json", b"{'superevent_id': 'S230520ae'}", BAD_JSON + r"Expecting property name"),
        Case("nan-far.json", alert.replace(b'"far": ', b'"far": NaN, "x": ', 1),
             r"JSON with NaN \(not valid JSON"),
        Case("infinity.json", _with_event(far=0.0).replace(b'"far": 0.0', b'"far": Infinity'),
             r"JSON with Infinity"),
        Case("huge-float.json", _with_event(far=0.0).replace(b'"far": 0.0', b'"far": 1e999'),
             r"JSON number 1e999 is out of range"),
        Case("huge-int.json", b'{"superevent_id": "S1", "far": ' + b"9" * 5000 + b"}",
             BAD_JSON + r"Exceeds the limit"),
        Case("nested-arrays.json", b'{"superevent_id": ' + b"[" * 100000 + b"]" * 100000 + b"}",
             r"JSON nested too deeply"),
        Case("nested-objects.json", b'{"superevent_id": "S1", "a": ' + b'{"a": ' * 50000 + b"1"
             + b"}" * 50000 + b"}", r"JSON nested too deeply"),
        Case("utf16.json", alert[:2000].decode().encode("utf-16"), UNREADABLE + r": binary data"),
        Case("bad-utf8.json", alert.replace(b'"superevent_id": "MS181101ab"',
                                            b'"superevent_id": "MS181101ab\xff\xfe"', 1), BAD_JSON),
        Case("top-list.json", b'[{"superevent_id": "S230520ae"}]', r"^JSON is not an object$"),
        Case("null.json", b"null", UNREADABLE + r": text of an unknown format"),
        Case("string-far.json", _with_event(far="fast"), NOT_ALERT + r"event/far"),
        Case("duplicate-keys.json", alert.replace(b'{"', b'{"superevent_id": 5, "', 1)
             .replace(b'"superevent_id": "MS181101ab"', b'"superevent_id": ["x"]'), NOT_ALERT),
        # --- GW alerts with missing or wrong fields
        Case("no-superevent-id.json", _with(superevent_id=None),
             r"a JSON object that is neither an IGWN alert \(no superevent_id\) nor a GCN notice"),
        Case("no-alert-type.json", _with(alert_type=None), NOT_ALERT + r".*alert_type"),
        Case("bad-alert-type.json", _with(alert_type="BOGUS"), NOT_ALERT + r"alert_type"),
        Case("no-event.json", _with(event=None), NOT_ALERT),
        Case("retraction-with-event.json", _with(alert_type="RETRACTION"),
             r"a retraction must have event null"),
        Case("no-time-created.json", _with(time_created=None), NOT_ALERT + r".*time_created"),
        Case("no-skymap-cbc.json", _dumps({**_alert(), "event": {**_alert()["event"], "skymap": None}}),
             r"^CBC alert without a sky map$"),
        # --- the base64 sky map: invalid base64, not FITS, not HEALPix, bad content
        Case("base64-bad-chars.json", _with_event(skymap="!!!not base64!!!"),
             r"event\.skymap is not valid base64"),
        Case("base64-bad-padding.json", _with_event(skymap=_alert()["event"]["skymap"][:-3]),
             r"event\.skymap is not valid base64"),
        Case("base64-of-junk.json", _with_skymap(random),
             r"skymap is not a readable FITS file \(OSError: No SIMPLE card found, this file does not appear to be a valid FITS file\)$"),
        Case("fits-image.json", _with_skymap(fits_image), r"skymap is FITS but has no binary table"),
        Case("fits-truncated.json", _with_skymap(skymap[: len(skymap) // 2]),
             r"skymap is not a readable FITS file"),
        Case("gzip-truncated-map.json", _with_skymap(_gzipped(skymap)[:5000]),
             r"skymap is gzip-compressed data, not a FITS file"),
        Case("gzip-corrupt-map.json", _with_skymap(_flip(_gzipped(skymap), 97)),
             r"skymap is gzip-compressed data, not a FITS file"),
        Case("map-no-ordering.json", _with_skymap(_fits(_table(), ORDERING="")),
             r"skymap is not a multi-order HEALPix sky map \(ORDERING is missing, expected NUNIQ\)$"),
        Case("map-nested-flat.json", _with_skymap(_flat_map("NESTED")),
             r"skymap is not a multi-order HEALPix sky map \(ORDERING is NESTED, expected NUNIQ\)$"),
        Case("map-ring-flat.json", _with_skymap(_flat_map("RING")), r"skymap is not a multi-order HEALPix sky map \(ORDERING is RING, expected NUNIQ\)$"),
        Case("map-nan.json", _map_with(_set_first("PROBDENSITY", np.nan)),
             r"skymap has NaN or infinite probabilities"),
        Case("map-inf.json", _map_with(_set_first("PROBDENSITY", np.inf)),
             r"skymap has NaN or infinite probabilities"),
        Case("map-negative.json", _map_with(_set_first("PROBDENSITY", -1.0)),
             r"skymap has negative probabilities"),
        Case("map-unnormalised.json", _map_with(_scaled(10.0)),
             r"skymap is not normalised: its probabilities sum to 10"),
        Case("map-all-zero.json", _map_with(_scaled(0.0)),
             r"skymap is not normalised: its probabilities sum to 0"),
        Case("map-uniq-zero.json", _map_with(_set_first("UNIQ", 0)), r"invalid UNIQ pixel indices"),
        Case("map-uniq-repeated.json", _map_with(lambda t: t["UNIQ"].__setitem__(1, t["UNIQ"][0])),
             r"do not cover the sky exactly once"),
        Case("map-pixels-missing.json", _map_with(lambda t: t.remove_rows(slice(0, 100))),
             r"do not cover the sky exactly once"),
        Case("map-uniq-order-30.json", _map_with(_set_first("UNIQ", 4 ** 31)),
             r"beyond HEALPix order 29"),
        Case("combined-map-junk.json", _combined_skymap_junk(), r"combined_skymap is not a readable FITS"),
        # --- Avro
        Case("avro-truncated.avro", avro[: len(avro) // 2], r"not a readable Avro file"),
        Case("avro-header-only.avro", avro[:40], r"not a readable Avro file"),
        Case("avro-corrupt.avro", _flip(avro, 50), r"not a readable Avro file"),
        # --- gzip and FITS files on their own, junk with a .json name
        Case("alert.json.gz", _gzipped(alert)[:3000], UNREADABLE + r": gzip-compressed data"),
        Case("corrupt.json.gz", _flip(_gzipped(alert), 31), UNREADABLE + r": gzip-compressed data"),
        Case("bare-skymap.fits", skymap, UNREADABLE + r": a FITS file on its own"),
        Case("image.fits", fits_image, UNREADABLE + r": a FITS file on its own"),
        Case("random.json", random, UNREADABLE + r": binary data"),
        Case("random-brace.json", b"{" + random, BAD_JSON),
        Case("png.json", b"\x89PNG\r\n\x1a\n" + random[:200], UNREADABLE + r": a PNG image"),
        Case("elf.json", b"\x7fELF\x02\x01\x01" + random[:200], UNREADABLE + r": an executable"),
        Case("zeros.json", bytes(4096), UNREADABLE + r": binary data"),
        # --- empty and oversized
        Case("empty.json", b"", r"^empty file \(0 bytes\)$"),
        Case("blank.json", b" \n\t\n", r"^empty file \(4 bytes of blank space only\)$"),
        Case("oversized.json", alert + b" " * (MAX_INPUT_BYTES + 1 - len(alert)),
             rf"too large: {MAX_INPUT_BYTES + 1} bytes, the limit is {MAX_INPUT_BYTES}"),
        # --- XML: entities, DTDs, wrong namespace, missing fields
        Case("xxe-file.xml", _voevent(prefix=b'\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
             .replace(b"<Who>", b"<Who>&x;", 1), DOCTYPE),
        Case("xxe-http.xml", _voevent(prefix=b'\n<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>')
             .replace(b"<Who>", b"<Who>&x;", 1), DOCTYPE),
        Case("xxe-parameter.xml", _voevent(prefix=b'\n<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'),
             DOCTYPE),
        Case("dtd-only.xml", _voevent(prefix=b'\n<!DOCTYPE voe:VOEvent SYSTEM "VOEvent.dtd">'), DOCTYPE),
        Case("billion-laughs.xml", LAUGHS, DOCTYPE),
        Case("xxe-utf16.xml", _voevent(prefix=b'\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
             .replace(b"<Who>", b"<Who>&x;", 1).replace(b"'UTF-8'", b"'UTF-16'")
             .decode().encode("utf-16"), UNREADABLE + r": binary data"),
        Case("xinclude.xml", _voevent({b"<Who>": b'<Who><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                                                 b'href="file:///etc/passwd" parse="text"/>'}),
             r"XML with XInclude is refused"),
        Case("wrong-namespace.xml", _voevent({b"http://www.ivoa.net/xml/VOEvent/v2.0": b"http://evil.invalid/VOEvent"}),
             r"VOEvent in namespace 'http://evil.invalid/VOEvent', not VOEvent 2.0 or 1.1"),
        # (a VOEvent without a namespace but with an ivorn, GCN's NSSTC form, is read: see
        # tests/test_voevent_variants.py)
        Case("no-namespace.xml", _voevent({b'xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"': b"",
                                           b"<voe:VOEvent": b"<VOEvent", b"</voe:VOEvent>": b"</VOEvent>",
                                           b'ivorn="': b'id="'}),
             r"VOEvent without a namespace or an ivorn"),
        Case("no-packet-type.xml", _voevent({b'name="Packet_Type"': b'name="Packet_Kind"'}),
             r"VOEvent without a numeric Packet_Type"),
        Case("no-trigid.xml", _voevent({b'name="TrigID"': b'name="TrigXX"'}), r"VOEvent without TrigID"),
        Case("no-time.xml", _voevent({b"<ISOTime>": b"<ISOTimeX>", b"</ISOTime>": b"</ISOTimeX>",
                                      b'name="Burst_TJD"': b'name="Burst_TJX"'}),
             r"VOEvent without an event time"),
        Case("bad-role.xml", _voevent({b'role="observation"': b'role="utility"'}),
             r"VOEvent role 'utility' is not an observation or test"),
        Case("unknown-packet.xml", _voevent({b'value="115"': b'value="999"'}),
             r"GCN packet type 999 is not a notice"),
        Case("foreign-ivorn.xml", _voevent({b"ivo://nasa.gsfc.gcn/": b"ivo://evil.invalid/"}),
             r"is not a GCN notice this pipeline reads"),
        Case("truncated.xml", _voevent()[:1500], r"not well-formed XML"),
        Case("not-voevent-root.xml", b'<?xml version="1.0"?><Other><VOEvent/></Other>', r"XML root is <Other>, not a VOEvent"),
        Case("nan-position.xml", _voevent({b"<C1>316.6900</C1>": b"<C1>nan</C1>"}), r"^RA out of range: nan$"),
        # --- GCN JSON notices
        Case("gcn-no-trigger-time.json", _gcn_json(trigger_time=None), r"notice without trigger_time"),
        Case("gcn-bad-trigger-time.json", _gcn_json(trigger_time="yesterday"), r"unreadable time 'yesterday'"),
        Case("gcn-ra-out-of-range.json", _gcn_json(ra=400.0), r"ra out of range: 400"),
        Case("gcn-unknown-schema.json", _gcn_json(**{"$schema": "https://gcn.nasa.gov/schema/main/gcn/notices/evil/x.schema.json"}),
             r"GCN notice schema 'evil/x' is not one this pipeline reads"),
        Case("gcn-empty-id.json", _gcn_json(id=[]), r"GCN JSON notice without an id"),
        # (an unreadable healpix_file is no longer refused: see
        # tests/test_gcn_schema_examples.py::test_an_unreadable_own_sky_map_is_left_out_not_refused)
        # --- ids with separators, '..', NUL, control characters, too long
        Case("id-dotdot.json", _with(superevent_id="../../../tmp/x"), UNSAFE_ID),
        Case("id-slash.json", _with(superevent_id="S230520ae/x"), UNSAFE_ID),
        Case("id-nul.json", _with(superevent_id="S230520ae\u0000"), UNSAFE_ID),
        Case("id-newline.json", _with(superevent_id="S230520ae\nx"), UNSAFE_ID),
        Case("id-long.json", _with(superevent_id="S" + "9" * 300 + "ab"), UNSAFE_ID),
        Case("gcn-id-dotdot.json", _gcn_json(id=["../../etc/passwd"]), r"unsafe trigger id '\.\./\.\./etc/passwd'"),
        Case("gcn-id-nul.json", _gcn_json(id=["12\u00003"]), r"unsafe trigger id '12\\x003'"),
        Case("gcn-id-control.json", _gcn_json(id=["12\u001b[31m"]), r"unsafe trigger id"),
        Case("gcn-id-long.json", _gcn_json(id=["7" * 500]), r"unsafe event id"),
        Case("gcn-id-backslash.json", _gcn_json(id=["..\\..\\x"]), r"unsafe trigger id"),
        # --- file names: control characters, very long, leading dash
        Case("name\nwith\tcontrol\x1b.json", b"junk\n", UNREADABLE + r": text of an unknown format"),
        Case("n" * 240 + ".json", b"junk\n", UNREADABLE + r": text of an unknown format"),
        Case("-rf.json", b"junk\n", UNREADABLE + r": text of an unknown format"),
        # --- links and special files: nothing outside the spool is read
        Case("link-outside.json", link="{outside}/secret-alert.json", reason=r"symbolic link"),
        Case("link-passwd.json", link="/etc/passwd", reason=r"symbolic link"),
        Case("link-dangling.json", link="{outside}/does-not-exist", reason=r"symbolic link"),
        Case("link-dir", link="{outside}", reason=r"symbolic link"),
        Case("link-inside.yaml", link="{spool}/config.yaml", reason=r"symbolic link"),
        Case("fifo.json", fifo=True, reason=r"not a regular file"),
    ]
    # --- the same name, three different contents, one after the other
    for i, (data, reason) in enumerate(((b"first junk\n", UNREADABLE + r": text of an unknown format"),
                                        (b'{"second": 2}', r"neither an IGWN alert"),
                                        (alert[:100], BAD_JSON + r"Expecting value"))):
        c.append(Case(f"same-name-{i}", data, reason, group="same-name.json"))
    assert guano  # the GUANO example carries a map: the cases above replace it
    return c


def _combined_skymap_junk() -> bytes:
    record = json.loads(EXT_UPDATE.read_bytes())
    record["external_coinc"]["combined_skymap"] = base64.b64encode(b"SIMPLE  = junk" * 200).decode()
    return _dumps(record)


def outside_files(outside: Path) -> None:
    """What the links point at: a valid alert and a secret, outside the spool."""
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret-alert.json").write_bytes(GW_JSON.read_bytes())
    (outside / "secret.txt").write_bytes(SECRET)


def materialise(case: Case, inbox: Path, outside: Path) -> Path:
    """Put ``case`` into ``inbox`` (all at once: written beside it, then renamed in)."""
    target = inbox / case.inbox_name
    if case.link is not None:
        os.symlink(case.link.format(outside=outside, spool=inbox.parent), target)
    elif case.fifo:
        os.mkfifo(target)
    else:
        tmp = inbox / f".{os.getpid()}.part"
        tmp.write_bytes(case.data)
        os.replace(tmp, target)
    return target
