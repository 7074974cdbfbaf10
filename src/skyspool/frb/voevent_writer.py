"""FRB VOEvents following the FRB VOEvent standard (Petroff et al. 2017, PASA 34, e020), built
with voevent-parse: detections, updates (citing the detection as superseded) and retractions.

A detection carries the groups of the standard: ``observatory parameters`` (beam error ellipse,
sampling time, bandwidth, centre frequency, channel width, npol, backend, beam), ``event
parameters`` (dm, dm_error, width, snr, flux, gl, gb) and ``advanced parameters`` (MW_dm_limit,
galactic_electron_model, redshift_inferred, cluster members, classification), with the fields
DARC's VOEvents carry (nchan, bits_per_sample, gain, tsys, redshift_inferred = DM / 1000); WhereWhen gives the compound beam's
pointing with the beam semi-major axis as error radius, and the arrival time at the top of the band.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import voeventparse as vp
from astropy.coordinates import SkyCoord
from astropy.time import TimeDelta
from lxml import etree

from skyspool.frb.observation import Observation


class VOEventError(ValueError):
    """A VOEvent that would not be valid VOEvent 2.0; the message is a one-line reason."""


@dataclass(frozen=True)
class VOEventAuthor:
    """Who publishes: IVORN authority and stream (``ivo://<authority>/<stream>#<local id>``) and the
    author's contact details."""

    authority: str = "skyspool.local"
    stream: str = "frb"
    title: str = "skyspool FRB trigger system"
    short_name: str = "skyspool"
    contact_name: str = "skyspool operator"
    contact_email: str = "skyspool@localhost"

    @classmethod
    def from_config(cls, config: dict | None) -> VOEventAuthor:
        """Build from a mapping with the field names; unknown keys refused with a ValueError."""
        try:
            return cls(**(config or {}))
        except TypeError as exc:
            raise VOEventError(f"voevent settings: {exc}") from None

    def ivorn(self, local_id: str) -> str:
        return f"ivo://{self.authority}/{self.stream}#{local_id}"


@dataclass(frozen=True)
class VOEventFields:
    """What DARC's FRB VOEvents state about the telescope and the event, with DARC's values for
    Apertif: ``importance`` (DARC 0.1), ``gain_k_per_jy`` (K/Jy: 8 dishes of 25 m at aperture
    efficiency 0.6), ``tsys_k`` (K, 85), ``bits_per_sample`` (8), ``redshift_per_dm`` (DARC's
    ``z = DM / 1000``). The SEFD ``tsys_k / gain_k_per_jy`` (99.6 Jy) gives the flux where the
    observation states no ``sefd_jy``."""

    importance: float = 0.1
    gain_k_per_jy: float = 0.8533
    tsys_k: float = 85.0
    bits_per_sample: int = 8
    redshift_per_dm: float = 0.001

    @classmethod
    def from_config(cls, config: dict | None) -> VOEventFields:
        """Build from a mapping with the field names; unknown keys or bad values refused with a VOEventError."""
        try:
            made = cls(**(config or {}))
        except TypeError as exc:
            raise VOEventError(f"voevent_fields settings: {exc}") from None
        for name in ("importance", "gain_k_per_jy", "tsys_k", "bits_per_sample", "redshift_per_dm"):
            value = getattr(made, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise VOEventError(f"voevent_fields {name} must be a positive number, not {value!r:.40}")
        if made.importance > 1:
            raise VOEventError(f"voevent_fields importance must lie in (0, 1], not {made.importance}")
        return made

    @property
    def sefd_jy(self) -> float:
        """System equivalent flux density (Jy): Tsys / gain."""
        return self.tsys_k / self.gain_k_per_jy


def _new(publisher: VOEventAuthor, local_id: str, test: bool, date: dt.datetime | None) -> vp.Voevent:
    role = vp.definitions.roles.test if test else vp.definitions.roles.observation
    v = vp.Voevent(stream=f"{publisher.authority}/{publisher.stream}", stream_id=local_id, role=role)
    vp.set_who(v, date=date or dt.datetime.now(dt.UTC), author_ivorn=f"{publisher.authority}/contact")
    vp.set_author(v, title=publisher.title, shortName=publisher.short_name,
                  contactName=publisher.contact_name, contactEmail=publisher.contact_email)
    return v


def _param(name, value, unit=None, ucd=None, description=None):
    # ac=True stores Python ints and floats as strings with dataType int or float.
    value = value.item() if isinstance(value, np.generic) else value
    p = vp.Param(name=name, value=value, unit=unit, ucd=ucd, ac=True)
    if description:
        p.Description = description
    return p


def _cite(v: vp.Voevent, ivorn: str, cite_type: str, description: str) -> None:
    # What vp.add_citations does; it cannot be called: voevent-parse 1.0.3 tests its argument with
    # collections.Iterable, removed in Python 3.10 (timstaley/voevent-parse pull request 11).
    # The same holds for add_why's inferences, appended directly above.
    citations = etree.SubElement(v, "Citations")
    citations.append(vp.EventIvorn(ivorn, cite_type))
    citations.Description = description


def _checked(v: vp.Voevent) -> vp.Voevent:
    if not vp.valid_as_v2_0(v):
        raise VOEventError(f"VOEvent {v.attrib['ivorn']} is not valid VOEvent 2.0")
    return v


def frb_voevent(trigger: dict, obs: Observation, publisher: VOEventAuthor, local_id: str, *,
                importance: float, galactic_model: str = "ymw16", supersedes: str | None = None,
                date: dt.datetime | None = None, fields: VOEventFields = VOEventFields()) -> vp.Voevent:
    """A detection VOEvent for ``trigger`` (keys ``time`` s since the observation start, ``dm``
    pc cm^-3, ``snr``, ``width`` samples, ``cb``, ``beam``, ``mw_dm`` pc cm^-3, ``members``,
    ``label``), or an update of the event ``supersedes`` (its IVORN). Role ``test`` for test
    observations. ``importance`` in [0, 1]. ``fields``: DARC's telescope facts; their SEFD gives the
    flux when the observation has none. Raises :class:`VOEventError` if the result is invalid."""
    if not 0 <= importance <= 1:
        raise VOEventError(f"importance must lie in [0, 1], not {importance}")
    v = _new(publisher, local_id, obs.test, date)
    cb = int(trigger["cb"])
    beam = obs.beam(cb)
    width = int(trigger["width"])
    flux = obs.flux_jy(float(trigger["snr"]), width, default_sefd_jy=fields.sefd_jy)
    v.What.append(vp.Group(name="observatory parameters", params=[
        _param("beam_semi-major_axis", obs.beam_semi_major_arcmin, "arcmin",
               "instr.beam;pos.errorEllipse;phys.angSize.smajAxis"),
        _param("beam_semi-minor_axis", obs.beam_semi_minor_arcmin, "arcmin",
               "instr.beam;pos.errorEllipse;phys.angSize.sminAxis"),
        _param("beam_rotation_angle", obs.beam_rotation_deg, "deg", "instr.beam;pos.errorEllipse;instr.offset"),
        _param("sampling_time", obs.sampling_time_s * 1e3, "ms", "time.resolution"),
        _param("bandwidth", obs.bandwidth_mhz, "MHz", "instr.bandwidth"),
        _param("centre_frequency", obs.centre_frequency_mhz, "MHz", "em.freq;instr"),
        _param("channel_width", obs.channel_width_mhz, "MHz", "instr.bandwidth;em.freq"),
        _param("nchan", obs.nchan, None, "meta.number;em.freq;em.bin"),
        _param("npol", obs.npol),
        _param("bits_per_sample", fields.bits_per_sample),
        _param("gain", fields.gain_k_per_jy, "K/Jy"),
        _param("tsys", fields.tsys_k, "K", "phot.antennaTemp"),
        _param("backend", obs.backend),
        _param("beam", cb, description="compound beam"),
    ]))
    event = [
        _param("dm", float(trigger["dm"]), "pc/cm^3", "phys.dispMeasure"),
        _param("dm_error", round(obs.dm_error(width), 4), "pc/cm^3", "stat.error;phys.dispMeasure",
               "DM offset whose smearing across the band equals the width"),
        _param("width", round(obs.width_s(width) * 1e3, 5), "ms", "time.duration;src.var.pulse"),
        _param("snr", float(trigger["snr"]), None, "stat.snr"),
    ]
    if flux is not None:
        event.append(_param("flux", round(flux, 4), "Jy", "phot.flux",
                            "Calculated from the radiometer equation. Not calibrated."))
    gal = SkyCoord(beam.ra_deg, beam.dec_deg, unit="deg").galactic
    event += [_param("gl", round(gal.l.deg, 5), "deg", "pos.galactic.lon"),
              _param("gb", round(gal.b.deg, 5), "deg", "pos.galactic.lat")]
    v.What.append(vp.Group(name="event parameters", params=event))
    v.What.append(vp.Group(name="advanced parameters", params=[
        _param("MW_dm_limit", round(float(trigger["mw_dm"]), 2), "pc/cm^3"),
        _param("galactic_electron_model", galactic_model.upper()),
        _param("redshift_inferred", round(float(trigger["dm"]) * fields.redshift_per_dm, 4), None, "src.redshift",
               f"Redshift estimated as z = DM x {fields.redshift_per_dm:g} (DARC)"),
        _param("cluster_members", int(trigger["members"]),
               description="single-pulse candidates clustered into this event"),
        _param("classification", str(trigger["label"])),
    ]))
    arrival = (obs.start + TimeDelta(float(trigger["time"]), format="sec")).to_datetime(dt.UTC)
    vp.add_where_when(v, coords=vp.Position2D(ra=beam.ra_deg, dec=beam.dec_deg,
                                              err=obs.beam_semi_major_arcmin / 60.0, units="deg",
                                              system=vp.definitions.sky_coord_system.utc_icrs_topo),
                      obs_time=arrival, observatory_location=obs.telescope)
    vp.add_how(v, descriptions=f"{obs.telescope} {obs.backend}: AMBER single-pulse search, arrival time "
                                f"at the top of the band ({obs.top_frequency_mhz:g} MHz)")
    vp.add_why(v, importance=importance)
    v.Why.append(vp.Inference(name=f"{obs.id} CB{cb:02d}", concept="Fast Radio Burst"))
    if supersedes:
        _cite(v, supersedes, vp.definitions.cite_types.supersedes, "Update of the parameters of the cited event")
    return _checked(v)


def retraction_voevent(retracted: str, obs: Observation, publisher: VOEventAuthor, local_id: str,
                       reason: str, *, date: dt.datetime | None = None) -> vp.Voevent:
    """A VOEvent retracting the event with IVORN ``retracted``, with a one-line ``reason``."""
    v = _new(publisher, local_id, obs.test, date)
    v.remove(v.WhereWhen)  # an empty WhereWhen is invalid, and a retraction has no position
    vp.add_why(v, importance=1.0)  # Why precedes Citations in the schema, and needs a child
    v.Why.Description = "Retraction of the cited event"
    _cite(v, retracted, vp.definitions.cite_types.retraction, reason)
    return _checked(v)


def dumps(v: vp.Voevent) -> bytes:
    """The VOEvent as pretty-printed UTF-8 XML."""
    return vp.dumps(v, pretty_print=True)
