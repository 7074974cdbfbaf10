"""GW pipeline candidates: a LIGO-LW ``coinc.xml`` as the search pipelines upload it.

Accepted as dropped in the inbox:

- a LIGO-LW document (plain or gzipped) with the coinc tables (``coinc_event``,
  ``coinc_inspiral``, ``sngl_inspiral``, ...) and the detectors' PSDs in the same document;
- or a tar archive holding that ``coinc.xml[.gz]`` and, alongside, optionally
  ``psd.xml[.gz]`` (the PSDs), ``<pipeline>.p_astro.json`` (the pipeline's own p_astro),
  ``ranking_data.xml[.gz]`` (gstlal's ranking-statistic PDFs, from which p_astro is
  computed as GWCelery did: :mod:`skyspool.gw_classify`), a sky map ``*.fits[.gz]`` (a burst
  pipeline's own localization) and ``candidate.json`` (what GraceDB would know besides
  the file: ``offline``, ``search``, ``category`` = production/test/mdc, ``pipeline``).

CBC candidates have ``coinc_inspiral``/``sngl_inspiral`` rows and need their PSDs (for
BAYESTAR). Burst candidates (cWB) have one ``multi_burst`` row (``ifos``, ``start_time``,
``duration``, ``peak_time``, ``central_freq``, ``snr``, ``false_alarm_rate``) and need
their own sky map in the bundle. A candidate is stored as
``spool/gwcand/<pipeline>-<GPS time>/<NNN>-coinc.<ext>`` (CBC) or ``<NNN>-burst.<ext>``:
a pipeline that uploads the same candidate again adds an entry to the same event.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import json
import tarfile
import zlib
from pathlib import Path

from skyspool.formats.registry import Message, Refused, register

# LIGO-LW process ``program`` -> pipeline name of the IGWN alerts.
PIPELINES = {"pycbc": "pycbc", "pycbc_live": "pycbc", "gstlal_inspiral": "gstlal",
             "gstlal_inspiral_coinc_extractor": "gstlal", "MBTAOnline": "MBTA",
             "gstlal_inspiral_postcohspiir_online": "spiir",
             "bayestar_realize_coincs": "bayestar-realize-coincs",
             "bayestar-realize-coincs": "bayestar-realize-coincs", "cwb": "CWB", "cWB": "CWB"}
CATEGORIES = ("production", "test", "mdc")
META_KEYS = {"offline": bool, "search": str, "category": str, "pipeline": str}
SEARCHES = ("AllSky", "EarlyWarning", "SSM", "BBH", "IMBH", "MDC")
# The LIGO-LW element of gstlal's ranking-statistic PDFs in ranking_data.xml.gz.
RANKING_STAT_PDF = "gstlal_inspiral_likelihood:gstlal_inspiral_rankingstatpdf"


@dataclasses.dataclass(frozen=True)
class Candidate:
    """The facts of one pipeline candidate (GPS seconds, Hz, solar masses)."""

    candidate_id: str
    pipeline: str
    program: str
    group: str                  # CBC or Burst
    search: str
    category: str               # production, test or mdc: kept apart
    offline: bool
    gps_time: float
    far_hz: float
    snr: float
    instruments: tuple[str, ...]
    mass1: float
    mass2: float
    spin1z: float
    spin2z: float
    mchirp: float
    p_astro: dict | None        # the pipeline's own p_astro.json
    duration_s: float | None = None             # bursts
    start_time: float | None = None             # bursts: GPS start of the burst
    central_frequency_hz: float | None = None   # bursts
    ln_likelihood_ratio: float | None = None    # coinc_event.likelihood (gstlal's ranking statistic)
    has_ranking_data: bool = False

    def facts(self) -> dict:
        return dataclasses.asdict(self) | {"instruments": list(self.instruments)}


def _content_handler():
    from igwn_ligolw.ligolw import LIGOLWContentHandler
    from ligo.skymap.util import ilwd

    # Older pipelines' files (O1-O3) write ids as ilwd:char: read them too.
    @ilwd.use_in
    class ContentHandler(LIGOLWContentHandler):
        pass

    return ContentHandler


_HANDLER = functools.cache(_content_handler)


def _gunzip(data: bytes, what: str) -> bytes:
    """``data``, decompressed when gzipped."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise Refused(f"{what}: broken gzip ({exc})") from None


def _load_ligolw(data: bytes, what: str):
    from igwn_ligolw.utils import load_fileobj

    data = _gunzip(data, what)
    try:
        return load_fileobj(io.BytesIO(data), contenthandler=_HANDLER())
    except Exception as exc:  # expat and igwn_ligolw raise many kinds
        raise Refused(f"{what}: not a readable LIGO-LW document ({type(exc).__name__})") from None


def _members(data: bytes) -> dict[str, bytes]:
    """The files of a tar bundle by base name (regular files only, no paths followed)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers()
                    if m.isfile()}
    except tarfile.TarError as exc:
        raise Refused(f"not a readable tar bundle ({exc})") from None


@dataclasses.dataclass(frozen=True)
class Bundle:
    """The files of a candidate upload (bytes; None when absent)."""

    coinc: bytes
    psd: bytes | None = None
    p_astro: bytes | None = None
    ranking_data: bytes | None = None
    skymap: bytes | None = None
    meta: dict = dataclasses.field(default_factory=dict)


def split_bundle(data: bytes) -> Bundle:
    """The candidate's files: a bare coinc.xml, or the members of a tar bundle."""
    if not is_tar(data):
        return Bundle(data)
    files = _members(data)
    coinc = files.get("coinc.xml.gz") or files.get("coinc.xml")
    if coinc is None:
        raise Refused("candidate bundle without coinc.xml or coinc.xml.gz")

    def ending(*suffixes):
        return next((v for k, v in sorted(files.items()) if k.endswith(suffixes)), None)

    meta = {}
    if "candidate.json" in files:
        try:
            meta = json.loads(files["candidate.json"])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Refused(f"candidate.json is not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise Refused("candidate.json is not a JSON object")
        for key, value in meta.items():
            if key not in META_KEYS or not isinstance(value, META_KEYS[key]):
                raise Refused(f"candidate.json: unknown key or wrong type: {key}")
    return Bundle(coinc, psd=files.get("psd.xml.gz") or files.get("psd.xml"),
                  p_astro=ending("p_astro.json"),
                  ranking_data=files.get("ranking_data.xml.gz") or files.get("ranking_data.xml"),
                  skymap=ending(".fits", ".fits.gz"), meta=meta)


def _table(doc, name: str):
    from igwn_ligolw import ligolw

    try:
        return ligolw.Table.get_table(doc, name)
    except ValueError:
        return None


def _p_astro(data: bytes | None) -> dict | None:
    if data is None:
        return None
    try:
        values = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"p_astro.json is not valid JSON ({exc})") from None
    if (not isinstance(values, dict) or not values
            or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in values.values())):
        raise Refused("p_astro.json must map source classes to probabilities in [0, 1]")
    return {str(k): float(v) for k, v in values.items()}


def candidate_from_bytes(data: bytes) -> Candidate:
    """Read a candidate's facts, or raise :class:`Refused` with the reason."""
    bundle = split_bundle(data)
    doc = _load_ligolw(bundle.coinc, "coinc.xml")
    process, coinc_event = _table(doc, "process"), _table(doc, "coinc_event")
    if not process or not coinc_event:
        raise Refused("coinc.xml lacks coinc_event or process rows")
    meta = bundle.meta
    # The pipeline is the program of the process that made the coinc.
    program = {p.process_id: p.program for p in process}.get(coinc_event[0].process_id) or "unknown"
    search = meta.get("search", "AllSky")
    category = meta.get("category", "mdc" if search == "MDC" else "production")
    if category not in CATEGORIES:
        raise Refused(f"candidate.json: category must be one of {', '.join(CATEGORIES)}")
    if search not in SEARCHES:
        raise Refused(f"candidate.json: search must be one of {', '.join(SEARCHES)}")
    common = {"program": program, "pipeline": meta.get("pipeline") or PIPELINES.get(program, program),
              "search": search, "category": category, "offline": bool(meta.get("offline", False)),
              "p_astro": _p_astro(bundle.p_astro)}
    if _table(doc, "multi_burst") is not None:
        return _burst(doc, bundle, common)
    return _cbc(doc, bundle, coinc_event[0], common)


def _cbc(doc, bundle: Bundle, coinc_event, common: dict) -> Candidate:
    coinc_inspiral, singles = _table(doc, "coinc_inspiral"), _table(doc, "sngl_inspiral")
    if not coinc_inspiral or not singles:
        raise Refused("coinc.xml lacks coinc_inspiral or sngl_inspiral rows (or a burst's multi_burst)")
    if len(coinc_inspiral) != 1:
        raise Refused(f"coinc.xml must hold one candidate, found {len(coinc_inspiral)}")
    if bundle.psd is None and not _has_psd(doc):
        raise Refused("no PSD: put the PSDs in coinc.xml or psd.xml.gz beside it in a tar bundle")
    if bundle.psd is not None:
        _load_ligolw(bundle.psd, "psd.xml")
    ln_lr = coinc_event.likelihood
    if bundle.ranking_data is not None:
        if ln_lr is None:
            raise Refused("ranking_data.xml.gz given but coinc_event has no likelihood (ln L)")
        if not _has_element(_load_ligolw(bundle.ranking_data, "ranking_data.xml"), RANKING_STAT_PDF):
            raise Refused(f"ranking_data.xml.gz holds no {RANKING_STAT_PDF}")
    row = coinc_inspiral[0]
    first = singles[0]
    gps_time = float(row.end_time) + 1e-9 * float(row.end_time_ns)
    far_hz = float(row.combined_far) if row.combined_far is not None else float("nan")
    if not far_hz >= 0:
        raise Refused("coinc_inspiral has no valid combined_far")
    return Candidate(
        candidate_id=f"{common['pipeline']}-{gps_time:.4f}", group="CBC", gps_time=gps_time,
        far_hz=far_hz, snr=float(row.snr), instruments=tuple(sorted({s.ifo for s in singles})),
        mass1=float(first.mass1), mass2=float(first.mass2), spin1z=float(first.spin1z or 0),
        spin2z=float(first.spin2z or 0), mchirp=float(row.mchirp or first.mchirp),
        ln_likelihood_ratio=None if ln_lr is None else float(ln_lr),
        has_ranking_data=bundle.ranking_data is not None, **common)


def _burst(doc, bundle: Bundle, common: dict) -> Candidate:
    rows = _table(doc, "multi_burst")
    if len(rows) != 1:
        raise Refused(f"coinc.xml must hold one multi_burst row, found {len(rows)}")
    row = rows[0]
    try:
        start = float(row.start_time) + 1e-9 * float(row.start_time_ns or 0)
        peak = float(row.peak_time) + 1e-9 * float(row.peak_time_ns or 0)
        duration, far_hz, snr = float(row.duration), float(row.false_alarm_rate), float(row.snr)
        instruments = tuple(sorted(i for i in str(row.ifos).split(",") if i))
        central = float(row.central_freq)
    except (AttributeError, TypeError, ValueError) as exc:
        raise Refused(f"multi_burst row lacks a needed value ({exc})") from None
    if not (duration >= 0 and far_hz >= 0 and instruments):
        raise Refused("multi_burst row needs duration >= 0, false_alarm_rate >= 0 and ifos")
    if bundle.skymap is None:
        raise Refused("burst candidate without its sky map: put the pipeline's *.fits beside "
                      "coinc.xml in a tar bundle")
    burst_skymap(bundle.skymap)  # readable, or refused
    return Candidate(
        candidate_id=f"{common['pipeline']}-{peak:.4f}", group="Burst", gps_time=peak, far_hz=far_hz,
        snr=snr, instruments=instruments, mass1=0.0, mass2=0.0, spin1z=0.0, spin2z=0.0, mchirp=0.0,
        duration_s=duration, start_time=start, central_frequency_hz=central, **common)


def burst_skymap(data: bytes):
    """A burst pipeline's sky map (flat or multi-order FITS) as a multi-order table."""
    from ligo.skymap.io import read_sky_map

    data = _gunzip(data, "burst sky map")
    try:
        return read_sky_map(io.BytesIO(data), moc=True)
    except Exception as exc:  # astropy and ligo.skymap raise many kinds
        raise Refused(f"burst sky map is not a readable HEALPix FITS file ({type(exc).__name__})") from None


def _has_element(doc, name: str) -> bool:
    from igwn_ligolw.ligolw import LIGO_LW

    return any(elem.Name == name for elem in doc.getElementsByTagName(LIGO_LW.tagName)
               if elem.hasAttribute("Name"))


def _has_psd(doc) -> bool:
    return _has_element(doc, "REAL8FrequencySeries")


def is_tar(data: bytes) -> bool:
    return data[257:262] == b"ustar"


def _looks_like_coinc(data: bytes, filename: str) -> bool:
    if is_tar(data):
        return True
    head = data[:4096]
    if head[:2] == b"\x1f\x8b":
        try:
            head = gzip.GzipFile(fileobj=io.BytesIO(data)).read(4096)
        except (OSError, EOFError, zlib.error):
            return filename.endswith((".xml.gz", ".xml"))
    return b"LIGO_LW" in head


@register("GW pipeline candidate (LIGO-LW coinc)", sniff=_looks_like_coinc)
def parse_coinc(data: bytes) -> Message:
    candidate = candidate_from_bytes(data)
    extension = "tar" if is_tar(data) else ("xml.gz" if data[:2] == b"\x1f\x8b" else "xml")
    role = "observation" if candidate.category == "production" else "test"
    alert_type = "coinc" if candidate.group == "CBC" else "burst"
    return Message("gwcand", candidate.candidate_id, alert_type, extension, role)


def read_candidate(path: str | Path) -> Candidate:
    """The facts of a spooled candidate."""
    return candidate_from_bytes(Path(path).read_bytes())


def read_bundle(path: str | Path) -> Bundle:
    """The files of a spooled candidate."""
    return split_bundle(Path(path).read_bytes())


def bayestar_event(path: str | Path):
    """The candidate as a ligo.skymap event (for BAYESTAR), PSDs from the file or bundle."""
    from lalinspiral.thinca import InspiralCoincDef
    from ligo.skymap.io.events.ligolw import LigoLWEventSource

    bundle = split_bundle(Path(path).read_bytes())
    doc = _load_ligolw(bundle.coinc, "coinc.xml")
    psd = _load_ligolw(bundle.psd, "psd.xml") if bundle.psd is not None else doc
    # The inspiral coinc (bayestar-realize-coincs adds a sim-inspiral one); older pipelines'
    # files (G197392) define theirs differently: then the only coinc there is.
    source = (LigoLWEventSource(doc, psd_file=psd, coinc_def=InspiralCoincDef)
              or LigoLWEventSource(doc, psd_file=psd, coinc_def=None))
    return next(iter(source.values()))
