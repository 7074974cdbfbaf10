"""Classification of clusters and selection of triggers, with DARC's rules as defaults (all configurable).

Each cluster gets a label and a one-line reason, the first rule that applies:

1. ``below-threshold``: S/N < ``snr_min`` (10). With ``snr_before_clustering`` (DARC) these
   candidates are dropped before clustering, so no cluster gets this label.
2. ``rfi``: DM < ``dm_min`` (5 pc cm^-3): undispersed, terrestrial.
3. ``rfi``: with ``sb_filter`` (DARC: on), a synthesised-beam periodicity outside
   ``sb_period_min < period < sb_period_max`` (DARC: 10 and 15, both excluded).
4. ``known-source``: the observation targets a source of the known-source list and the DM lies
   within ``known_dm_range`` (10 pc cm^-3) of its DM (no width or member limit, as in DARC).
5. ``rfi``: width > ``width_max`` (100 samples), or more than ``members_max`` members (off by default).
6. ``below-threshold``: DM < ``dm_gal_factor`` (1.2) x the Milky Way's maximum DM along the beam.
7. ``astrophysical-new``: everything else.

Astrophysical-new and known-source clusters are trigger candidates. A data-dump trigger is issued at
most once per ``dump_interval_s`` (60 s) of observation time. The external (LOFAR TBB) trigger
qualifies, as in DARC, with S/N >= 20 and width <= 80 samples, and for a new source with DM >=
2 x the Milky Way's DM and <= 100 members (known FRBs: no DM or member condition; known pulsars
never). Of the qualifying clusters in a batch window (``lofar.batch_s``, DARC 1.0 s, from the first
one), DARC's choice is taken: known sources first, then the highest S/N; at most
``max_per_observation`` (1) are sent. With ``voevent_only_with_lofar`` (DARC), a VOEvent goes out
only for a batch's LOFAR trigger, the batch's highest S/N (DARC's VOEvent generator does not prefer
known sources), whether or not the packet is sent; otherwise for every trigger of a new source or
known FRB.

The Milky Way's DM comes from pygedm (YMW16, or NE2001), unless the observation gives a fixed
``mw_dm_max`` for the beam, which is also the fallback where pygedm cannot be installed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from skyspool.frb.observation import KnownSource, Observation, ObservationError

LABELS = ("astrophysical-new", "known-source", "rfi", "below-threshold")
GALACTIC_MODELS = ("ymw16", "ne2001")
# pygedm integrates to at most 50 kpc, which spans the whole Galactic disk.
_MW_DISTANCE_PC = 50_000.0


class ThresholdError(ValueError):
    """Invalid classification configuration; the message is a one-line reason."""


@dataclass(frozen=True)
class LofarThresholds:
    """External (LOFAR TBB) trigger thresholds: S/N, width (samples), DM over the Milky Way's, members."""

    snr_min: float = 20.0
    width_max: int = 80
    dm_gal_factor: float = 2.0
    members_max: int = 100
    max_per_observation: int = 1
    batch_s: float = 1.0


@dataclass(frozen=True)
class Thresholds:
    """Classification thresholds (DM in pc cm^-3, width in samples, interval in s); DARC's defaults."""

    snr_min: float = 10.0
    dm_min: float = 5.0
    dm_gal_factor: float = 1.2
    width_max: int = 100
    known_dm_range: float = 10.0
    members_max: int | None = None
    dump_interval_s: float = 60.0
    galactic_model: str = "ymw16"
    snr_before_clustering: bool = True
    sb_filter: bool = True
    sb_period_min: int = 10
    sb_period_max: int = 15
    voevent_only_with_lofar: bool = True
    lofar: LofarThresholds = field(default_factory=LofarThresholds)

    def __post_init__(self):
        if self.galactic_model not in GALACTIC_MODELS:
            raise ThresholdError(f"galactic_model must be one of {', '.join(GALACTIC_MODELS)}, "
                                 f"not {self.galactic_model!r}")

    @classmethod
    def from_config(cls, config: dict | None) -> Thresholds:
        """Build from a mapping with the field names (``lofar`` a nested mapping); unknown keys refused."""
        config = dict(config or {})
        lofar = config.pop("lofar", None) or {}
        for klass, given in ((cls, config), (LofarThresholds, lofar)):
            known = {f.name for f in fields(klass)}
            unknown = set(given) - known
            if unknown:
                raise ThresholdError(f"unknown threshold setting(s): {', '.join(sorted(map(str, unknown)))}")
            flags = {f.name for f in fields(klass) if f.type in ("bool", bool)}
            for key, value in given.items():
                if key in flags:
                    if not isinstance(value, bool):
                        raise ThresholdError(f"threshold {key} must be true or false, not {value!r:.40}")
                elif key != "galactic_model" and value is not None and (
                        isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise ThresholdError(f"threshold {key} must be a number, not {value!r:.40}")
        return cls(**config, lofar=LofarThresholds(**lofar))


@functools.lru_cache(maxsize=1024)
def galactic_dm_max(ra_deg: float, dec_deg: float, model: str = "ymw16") -> float:
    """Maximum Milky Way DM (pc cm^-3) towards ICRS ``ra_deg``, ``dec_deg`` from pygedm (``ymw16``
    or ``ne2001``). Raises :class:`ObservationError` if pygedm is not importable."""
    from astropy.coordinates import SkyCoord

    try:
        import scipy.integrate

        # pygedm 3.3 calls scipy.integrate.simps, removed in scipy 1.14 (FRBs/pygedm issue #26).
        if not hasattr(scipy.integrate, "simps"):
            scipy.integrate.simps = lambda y, x=None, **kw: scipy.integrate.simpson(y, x=x, **kw)
        import pygedm
    except ImportError:
        raise ObservationError("pygedm is not installed (needs apt libf2c2-dev): give mw_dm_max "
                               "for every compound beam in the observation") from None
    gal = SkyCoord(ra_deg, dec_deg, unit="deg").galactic
    dm, _ = pygedm.dist_to_dm(gal.l.deg, gal.b.deg, _MW_DISTANCE_PC, method=model)
    return float(dm.value)


def milky_way_dm(obs: Observation, cb: int, model: str = "ymw16") -> float:
    """The beam's fixed ``mw_dm_max`` if given, else the model's maximum Milky Way DM (pc cm^-3)."""
    beam = obs.beam(cb)
    if beam.mw_dm_max is not None:
        return beam.mw_dm_max
    return galactic_dm_max(beam.ra_deg, beam.dec_deg, model)


def classify(clusters: pd.DataFrame, thresholds: Thresholds, mw_dm: dict[int, float],
             known: KnownSource | None = None) -> pd.DataFrame:
    """Label clusters (from :func:`skyspool.frb.clustering.cluster`).

    ``mw_dm`` maps compound beam to the Milky Way's maximum DM (pc cm^-3); ``known`` is the targeted
    known source, if any. Returns a copy with columns ``mw_dm``, ``label`` and ``reason`` added.
    """
    out = clusters.copy()
    try:
        gal = np.array([mw_dm[int(cb)] for cb in out["cb"]], dtype=np.float64)
    except KeyError as exc:
        raise ObservationError(f"no Milky Way DM for compound beam {exc.args[0]}") from None
    out["mw_dm"] = gal
    t = thresholds
    snr, dm = out["snr"].to_numpy(), out["dm"].to_numpy()
    width, members = out["width"].to_numpy(), out["members"].to_numpy()
    is_known = np.abs(dm - known.dm) <= t.known_dm_range if known else np.zeros(len(out), bool)
    too_many = members > t.members_max if t.members_max is not None else np.zeros(len(out), bool)
    period = out["sb_period"].to_numpy() if "sb_period" in out else np.full(len(out), -1)
    # -1: not computed (fixed boxes), so the filter cannot judge.
    sb_bad = (t.sb_filter & (period >= 0) & ~((period > t.sb_period_min) & (period < t.sb_period_max)))
    model = t.galactic_model.upper()
    rules = [  # (condition, label, reason for one row)
        (snr < t.snr_min, "below-threshold", lambda i: f"S/N {snr[i]:.1f} < {t.snr_min:g}"),
        (dm < t.dm_min, "rfi", lambda i: f"DM {dm[i]:.1f} < {t.dm_min:g} pc cm^-3: undispersed"),
        (sb_bad, "rfi", lambda i: f"synthesised-beam periodicity {period[i]} outside "
                                  f"{t.sb_period_min}-{t.sb_period_max} (exclusive)"),
        (is_known, "known-source",
         lambda i: f"DM {dm[i]:.1f} within {t.known_dm_range:g} of {known.kind} {known.name} ({known.dm:g})"),
        (width > t.width_max, "rfi", lambda i: f"width {width[i]} > {t.width_max} samples"),
        (too_many, "rfi", lambda i: f"{members[i]} members > {t.members_max}"),
        (dm < t.dm_gal_factor * gal, "below-threshold",
         lambda i: f"DM {dm[i]:.1f} < {t.dm_gal_factor:g} x Milky Way {gal[i]:.1f} ({model})"),
        (np.ones(len(out), bool), "astrophysical-new",
         lambda i: f"S/N {snr[i]:.1f}, DM {dm[i]:.1f} >= {t.dm_gal_factor:g} x Milky Way {gal[i]:.1f} ({model})"),
    ]
    rule = np.select([cond for cond, _, _ in rules], np.arange(len(rules)))
    out["label"] = np.array([label for _, label, _ in rules])[rule] if len(out) else np.empty(0, str)
    out["reason"] = [rules[r][2](i) for i, r in enumerate(rule)]
    return out


@dataclass
class TriggerState:
    """What earlier chunks of the observation triggered: data-dump times (s) and LOFAR triggers sent."""

    dump_times: list[float] = field(default_factory=list)
    lofar_sent: int = 0

    def to_dict(self) -> dict:
        return {"dump_times": list(self.dump_times), "lofar_sent": self.lofar_sent}

    @classmethod
    def from_dict(cls, doc: dict | None) -> TriggerState:
        doc = doc or {}
        return cls([float(t) for t in doc.get("dump_times", [])], int(doc.get("lofar_sent", 0)))


def select_triggers(classified: pd.DataFrame, thresholds: Thresholds, state: TriggerState,
                    known: KnownSource | None = None) -> tuple[pd.DataFrame, TriggerState]:
    """Pick the triggers among classified clusters, in time order, given what was triggered before.

    Returns the trigger rows (the cluster columns plus booleans ``dump``, ``lofar`` and ``voevent``)
    and the new state. A row is a trigger if it gets a data dump, a LOFAR trigger or a VOEvent
    (see the module docstring for the rules).
    """
    t, lofar = thresholds, thresholds.lofar
    cand = classified[classified["label"].isin(["astrophysical-new", "known-source"])].sort_values("time", kind="stable")
    new = (cand["label"] == "astrophysical-new").to_numpy()
    known_frb = known is not None and known.kind == "frb"
    lofar_ok = ((cand["snr"] >= lofar.snr_min) & (cand["width"] <= lofar.width_max)).to_numpy() & np.where(
        new, ((cand["dm"] >= lofar.dm_gal_factor * cand["mw_dm"]) & (cand["members"] <= lofar.members_max)).to_numpy(),
        known_frb)
    times, snr = cand["time"].to_numpy(), cand["snr"].to_numpy()
    dumps, sent = list(state.dump_times), state.lofar_sent
    dump_flags = []
    # Sequential by nature (each decision depends on the previous ones); trigger candidates are few.
    for time in times:
        dump = all(abs(time - d) >= t.dump_interval_s for d in dumps)
        if dump:
            dumps.append(float(time))
        dump_flags.append(dump)
    lofar_flags = np.zeros(len(cand), bool)
    batch_best = np.zeros(len(cand), bool)
    qualifying = np.flatnonzero(lofar_ok)
    while len(qualifying):
        batch = qualifying[times[qualifying] < times[qualifying[0]] + lofar.batch_s]
        qualifying = qualifying[len(batch):]
        batch_best[batch[np.argmax(snr[batch])]] = True  # first of equal S/N: the earliest
        preferred = batch[~new[batch]] if (~new[batch]).any() else batch
        if sent < lofar.max_per_observation:
            lofar_flags[preferred[np.argmax(snr[preferred])]] = True
            sent += 1
    voevent = batch_best if t.voevent_only_with_lofar else (new | known_frb)
    cand = cand.assign(dump=dump_flags, lofar=lofar_flags, voevent=voevent)
    triggers = cand[cand["dump"] | cand["lofar"] | cand["voevent"]].reset_index(drop=True)
    return triggers, TriggerState(dumps, sent)
