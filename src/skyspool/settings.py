"""Typed, frozen settings, built from the validated configuration.

>>> from skyspool import settings
>>> s = settings.of({"frb": {"follow": {"poll_s": 2.0}}})
>>> s.frb.follow.poll_s, s.frb.follow.timeout_s, s.gwcand.bayestar.threads
(2.0, 600.0, 2)

``of(config)`` takes the configuration :func:`skyspool.config.load` returns (or Snakemake's
``config``, or part of one: keys it lacks take the schema's defaults, which the classes below
carry). Each section is a frozen dataclass; each field's docstring is the schema's description
with its unit in brackets; lists become tuples and mappings read-only.

Below the marker line the classes are GENERATED from ``workflow/schemas/config.schema.yaml``
(``python -m skyspool.config``); the tests check that they are.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal


def frozen(value):
    """``value`` (JSON-like) made read-only: mappings as MappingProxyType, lists as tuples."""
    if isinstance(value, Mapping):
        return types.MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(frozen(item) for item in value)
    return value


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _convert(kind, value):
    for candidate in typing.get_args(kind) or (kind,):
        if dataclasses.is_dataclass(candidate) and isinstance(value, Mapping):
            return build(candidate, value)
    return frozen(value)


def build(cls, data: Mapping):
    """An instance of the settings dataclass ``cls`` from the mapping ``data`` (missing keys take
    their defaults; keys ``cls`` has no field for are left out)."""
    hints = _hints(cls)
    return cls(**{f.name: _convert(hints[f.name], data[f.name])
                  for f in dataclasses.fields(cls) if f.name in data})


#: The settings of the last few configurations, by id, each with a copy to tell a changed one.
_recent: dict[int, tuple[dict, Settings]] = {}
_RECENT_MAX = 8


def of(config: Mapping) -> Settings:
    """The typed settings of ``config`` (built once per configuration: call sites in loops read
    them at the cost of comparing ``config`` with the copy kept when they were built)."""
    hit = _recent.get(id(config))
    if hit is not None and hit[0] == config:
        return hit[1]
    made = build(Settings, config)
    if len(_recent) >= _RECENT_MAX:
        _recent.pop(next(iter(_recent), None), None)
    _recent[id(config)] = (copy.deepcopy(dict(config)), made)
    return made


def _default(value):
    return dataclasses.field(default_factory=lambda: frozen(value))


def _section(cls, value=None):
    return dataclasses.field(default_factory=lambda: build(cls, value or {}))


# ----- generated from workflow/schemas/config.schema.yaml below this line -----

@dataclasses.dataclass(frozen=True, kw_only=True)
class ThresholdSettings:
    """one search's alert thresholds"""

    rank: int = -1
    """rank in the preferred-event choice [rank]"""

    trials_factor: float
    """FAR is multiplied by this before significant_far_hz [1]"""

    significant_far_hz: float | None
    """significant when trials_factor x FAR is at most this (null: never) [Hz]"""

    less_significant_trials_factor: float = 1
    """FAR is multiplied by this before less_significant_far_hz [1]"""

    less_significant_far_hz: float | None = None
    """less-significant when less_significant_trials_factor x FAR is at most this (null: never)
    [Hz]
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class SinkOutgoingSettings:
    """kafka: outgoing topics per format"""

    json: str | None = None
    """topic of JSON alerts"""

    avro: str | None = None
    """topic of Avro alerts"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SinkSettings:
    """one publisher; defaults of the kind-specific keys are in skyspool.publish"""

    kind: Literal['storage', 'http', 'kafka', 'voevent', 'treasuremap']
    """what the sink is"""

    enabled: bool = True
    """false: the sink sends nothing"""

    stages: tuple[Literal['notice', 'done'], ...] | None = None
    """after which stages it sends"""

    kinds: tuple[str, ...] = ()
    """entry kinds it takes ([]: every kind)"""

    products: tuple[str, ...] | None = None
    """product name patterns it sends"""

    url: str | None = None
    """storage, http: where to"""

    storage_options: Mapping[str, Any] | None = None
    """storage: fsspec options"""

    body: Mapping[str, Any] | None = None
    """http: extra body fields"""

    token_env: str | None = None
    """name of the environment variable holding the API token"""

    auth_header: str | None = None
    """http: header carrying the token"""

    auth_scheme: str | None = None
    """http: scheme before the token"""

    galaxies_top_n: int | None = None
    """galaxies sent with the notice [rows]"""

    timeout_s: float | None = None
    """longest wait for one send [s]"""

    topic: str | None = None
    """kafka: the topic"""

    outgoing: SinkOutgoingSettings = _section(SinkOutgoingSettings)
    """kafka: outgoing topics per format"""

    domain: str | None = None
    """kafka: GCN Kafka domain"""

    kafka: Mapping[str, Any] | None = None
    """kafka: extra librdkafka settings"""

    observing_run: str | None = None
    """treasuremap: the run its alerts belong to (O4)"""

    skymap_url: str | None = None
    """treasuremap: the sky map's URL, {graceid} filled in"""

    groupname: str | None = None
    """treasuremap: who made the galaxy list"""

    reference: str | None = None
    """treasuremap: the galaxy ranking's reference"""

    layout: Literal['skyspool', 'treasuremap'] | None = None
    """storage: object names as products/ (skyspool) or as the Treasure Map's bucket"""

    brokers: tuple[str, ...] | None = None
    """voevent: host:port of each VTP broker (port 8099 when omitted)"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SkymapSettings:
    """sky-map products of every kind (flat map, contours, plots)"""

    flat_nside: Literal[64, 128, 256, 512, 1024, 2048] = 512
    """HEALPix nside of the flattened map skymap.flat.fits.gz (a power of 2) [nside]"""

    contour_nside: Literal[64, 128, 256, 512, 1024, 2048, 4096] = 2048
    """contours.geojson outlines each credible region along its own multi-order pixels (so the
    outline holds the region pixel for pixel), at least fine enough for contour_min_pixels
    pixels over the region and at most at this nside (2048: ~0.03 deg pixels) [nside]
    """

    contour_min_pixels: int = 1000
    """fewest pixels over a credible region at which its contour is traced [pixels]"""

    plot_nside: Literal[64, 128, 256, 512] = 256
    """nside at which skymap.png is drawn [nside]"""

    credible_levels: tuple[float, ...] = (50, 90)
    """credible levels of contours.geojson and of the contours on skymap.png [percent]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class GwVoeventSettings:
    """who sends the outgoing GW VOEvents (notice.xml); was `notice`"""

    stream: str = 'skyspool.invalid/gw'
    """VOEvent stream: notice.xml gets the IVORN ivo://<stream>#<event>-<NNN>-<AlertType>"""

    author_ivorn: str = 'skyspool.invalid'
    """IVORN of the author of outgoing VOEvents (without ivo://)"""

    contact_name: str = 'skyspool operator'
    """contact name written into outgoing VOEvents"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FermiSettings:
    """Fermi GBM occultation and LAT field of view of GW alerts (skyspool.fermi)"""

    enabled: bool = False
    """Fermi GBM Earth occultation and LAT field of view at each GW alert's event time:
    fermi_occultation.moc.fits, lat_fov.moc.fits and the GW probability in each (stats.json)
    """

    ft2_folder: str | None = None
    """folder of Fermi FT2 spacecraft files (FITS); where none covers the event time, the latest
    Fermi GBM notice in the spool gives the spacecraft position (stats.json: fermi_source)
    """

    lat_fov_radius_deg: float = 65
    """radius of the LAT field of view around its boresight (GW alerts) [deg]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class GalaxiesSettings:
    """galaxies.ecsv, the galaxies in a GW alert's credible volume"""

    catalog: str | None = None
    """path of an indexed galaxy catalog (Arrow file written by skyspool catalog build); null =
    no galaxies.ecsv
    """

    credible_level: float = 90
    """galaxies inside this credible volume are listed [percent]"""

    weight: Literal['stellar_mass_msun', 'lum_b_lsun', 'lum_k_lsun'] | None = 'stellar_mass_msun'
    """ranking weight: stellar_mass_msun, lum_b_lsun, lum_k_lsun, or null (3D density only)"""

    fold_distance_error: bool = True
    """rank by the density averaged over each galaxy's distance uncertainty"""

    max_rows: int = 10000
    """most rows of galaxies.ecsv (the best-ranked galaxies); its header counts the whole
    selection [rows]
    """

    cumulative_probability: float = 99
    """galaxies.ecsv stops after the row whose cumulative probability (of the summed score of
    every galaxy in the volume) reaches this [percent]
    """

    top_n: int = 0
    """how many of the top-ranked galaxies also go into notice.json. 0: none, so that the notice
    never waits for the galaxy list (seconds on a large catalog, or a stalled file system);
    galaxies.ecsv is built after the notice products either way [rows]
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class GcnNoticesSettings:
    """products of received GCN notices (was `notices`); Fermi GBM maps use each notice type's
    systematic model as GWCelery 3.0.0 (skyspool.notices.maps.GBM_MODELS, README
    "Coincidences")
    """

    lat_fov_radius_deg: float = 65
    """radius of the Fermi-LAT field of view drawn around the spacecraft zenith (Fermi notices)
    [deg]
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class CoincidenceSettings:
    """RAVEN as GWCelery 3.0.0 runs it (gwcelery/conf/__init__.py); README "Coincidences"
    """

    windows_s: Mapping[str, Any] = _default({'grb_cbc': [-1, 5], 'grb_burst': [-60, 600], 'grb_subthreshold_fermi': [-1, 11], 'grb_subthreshold_swift': [-10, 20], 'frb_cbc': [-2, 10], 'frb_burst': [-120, 600], 'neutrino_cbc': [-10, 10], 'neutrino_burst': [-500, 500], 'snews_burst': [-10, 10]})
    """search windows of t_external - t_gw per <kind>_<GW group> (GWCelery's
    raven_coincidence_windows give t_gw - t_external: the same windows with the sign turned;
    GRB_CBC [-5, 1], GRB_Burst [-600, 60], GRB_CBC_SubFermi [-11, 1], GRB_CBC_SubSwift [-20,
    10], FRB_CBC [-10, 2], FRB_Burst [-600, 120], IceCube_CBC [-10, 10], IceCube_burst [-500,
    500], SNEWS [-10, 10]); a Burst BBH candidate takes the CBC windows, sub-threshold and
    targeted GRBs their mission's [s]
    """

    rates_per_year: Mapping[str, Any] = _default({'grb': 325, 'grb_subthreshold': 390, 'frb': 485, 'neutrino': 15})
    """rate of each search's triggers (GWCelery's raven_ext_rates: GRB, SubGRB, FRB, HEN);
    targeted searches use the trigger's own FAR instead (ligo-raven's z (1 - ln(z / z_max)))
    [1/yr]
    """

    pairs: Mapping[str, Any] = _default({'GRB': ['cbc/*', 'burst/allsky', 'burst/bbh'], 'FRB': ['cbc/*', 'burst/allsky', 'burst/bbh'], 'HEN': ['cbc/*', 'burst/allsky', 'burst/bbh'], 'SubGRB': ['cbc/*', 'burst/bbh'], 'SubGRBTargeted': ['cbc/allsky', 'burst/allsky', 'burst/bbh'], 'Supernova': ['burst/*']})
    """which GW candidates (<group>/<search>, * for any search) each external search pairs with
    (GWCelery's external_triggers.handle_superevent_igwn_alert and raven._time_window)
    """

    search_preference: Mapping[str, Any] = _default({'Supernova': 2, 'GRB': 1, 'FRB': 1, 'HEN': 1, 'SubGRB': 0, 'SubGRBTargeted': 0})
    """preferred coincidence: rank of each external search after likely-real and publishable
    (GWCelery's external_search_preference) [rank]
    """

    targeted_far_thresholds_hz: Mapping[str, Any] = _default({'gw': {'Fermi': 0.00018518518518518518, 'Swift': 0.00018518518518518518}, 'grb': {'Fermi': 0.0001, 'Swift': 0.001}})
    """targeted search FAR limits of the GW and of the GRB, per mission
    (raven_targeted_far_thresholds): the GW limit is the CBC AllSky less-significant
    threshold, 2/day x 8; a GRB above its limit is likely noise [Hz]
    """

    publish: Mapping[str, Any] = _default({'far_threshold_hz': {'cbc': {'allsky': 3.858024691358025e-07, 'earlywarning': 3.858024691358025e-07, 'mdc': 3.858024691358025e-07, 'ssm': 3.1709791983764586e-08}, 'burst': {'allsky': 3.1709791983764586e-08, 'bbh': 3.858024691358025e-07}}, 'trials_factor': {'cbc': {'allsky': 7, 'earlywarning': 4, 'mdc': 7, 'ssm': 3}, 'burst': {'allsky': 3, 'bbh': 7}}, 'snews_gw_far_hz': 1.1574074074074073e-05})
    """publishable coincidence (RAVEN_ALERT): joint FAR x trials x (trials - 1) at most the
    significant-alert threshold (far_threshold_hz, Hz) of the GW group/search; SNEWS: GW FAR x
    trials under snews_gw_far_hz (Hz) (significant_alert_far_threshold,
    significant_alert_trials_factor) [Hz]
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrbClusteringSettings:
    """candidates in one time window and DM box form a cluster, kept as its highest-S/N one
    (DARC's boxes by default; skyspool.frb.clustering)
    """

    time_s: float = 1.0
    """time window; DARC 1.0 [s]"""

    boxes: Literal['darc', 'fixed'] = 'darc'
    """darc: DARC's data-dependent DM boxes; fixed: boxes fixed at the start"""

    dm_range_frac: float = 0.2
    """DARC's dm_range fraction (boxes of (1-f)/(1+f)); DARC 0.2 [1]"""

    dm_frac: float = 0.5
    """fixed boxes: fractional DM window at high DM [1]"""

    dm_scale: float = 20.0
    """fixed boxes: DM below which windows are ~dm_scale x dm_frac wide [pc cm^-3]"""

    sb_dm_halfwidth: float = 20.0
    """DM either side of a peak whose candidates form its synthesised-beam S/N; DARC 20 [pc
    cm^-3]
    """

    n_sb: int = 71
    """synthesised beams (Apertif 71) [beams]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrbThresholdsLofarSettings:
    """the external (LOFAR TBB) trigger: stricter (DARC's; for known sources no DM or member
    limit), one per batch_s window, known source first, then highest S/N
    """

    snr_min: float = 20.0
    """lowest S/N of a LOFAR trigger [S/N]"""

    width_max: int = 80
    """widest boxcar of a LOFAR trigger [samples]"""

    dm_gal_factor: float = 2.0
    """DM must exceed this times the Milky Way's maximum along the beam [1]"""

    members_max: int | None = 100
    """most cluster members of a LOFAR trigger (null: no limit) [count]"""

    max_per_observation: int = 1
    """most LOFAR triggers per observation [count]"""

    batch_s: float = 1.0
    """batch window (of observation time) from which one trigger is chosen: known source first,
    then highest S/N (DARC 1.0) [s]
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrbThresholdsSettings:
    """classification, with DARC's defaults"""

    snr_min: float = 10.0
    """lowest S/N of a trigger [S/N]"""

    dm_min: float = 5.0
    """lowest DM of a trigger [pc cm^-3]"""

    dm_gal_factor: float = 1.2
    """DM must exceed this times the Milky Way's maximum along the beam (galactic_model) [1]"""

    width_max: int = 100
    """widest boxcar of a trigger [samples]"""

    known_dm_range: float = 10.0
    """a candidate within this of a known source's DM is that source [pc cm^-3]"""

    members_max: int | None = None
    """most cluster members of a trigger (null: no limit) [count]"""

    dump_interval_s: float = 60.0
    """at most one data-dump trigger per this interval [s]"""

    galactic_model: Literal['ymw16', 'ne2001'] = 'ymw16'
    """Milky Way electron model of dm_gal_factor"""

    snr_before_clustering: bool = True
    """drop candidates below snr_min before clustering (DARC)"""

    sb_filter: bool = True
    """DARC's synthesised-beam periodicity filter (sb_filter True)"""

    sb_period_min: int = 10
    """periodicity must exceed this (DARC 10) [beams]"""

    sb_period_max: int = 15
    """periodicity must be below this (DARC 15) [beams]"""

    voevent_only_with_lofar: bool = True
    """VOEvents only for a batch's LOFAR trigger (DARC); false: every new-source or known-FRB
    trigger
    """

    lofar: FrbThresholdsLofarSettings = _section(FrbThresholdsLofarSettings)
    """the external (LOFAR TBB) trigger: stricter (DARC's; for known sources no DM or member
    limit), one per batch_s window, known source first, then highest S/N
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrbVoeventSettings:
    """outgoing FRB VOEvents: ivo://<authority>/<stream>#<trigger id>, and who sends them"""

    authority: str = 'skyspool.local'
    """IVORN authority"""

    stream: str = 'frb'
    """IVORN stream"""

    title: str = 'skyspool FRB trigger system'
    """the author's title"""

    short_name: str = 'skyspool'
    """the author's short name"""

    contact_name: str = 'skyspool operator'
    """the author's contact name"""

    contact_email: str = 'skyspool@localhost'
    """the author's contact e-mail"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrbVoeventFieldsSettings:
    """What DARC's VOEvents state (Apertif's values); tsys_k / gain_k_per_jy is the default SEFD
    (99.6 Jy), used for the flux when the observation gives no sefd_jy
    """

    importance: float = 0.1
    """VOEvent importance; DARC 0.1 [1]"""

    gain_k_per_jy: float = 0.8533
    """telescope gain: 8 dishes of 25 m, efficiency 0.6 [K/Jy]"""

    tsys_k: float = 85.0
    """system temperature [K]"""

    bits_per_sample: int = 8
    """bits per sample of the data [bits]"""

    redshift_per_dm: float = 0.001
    """redshift_inferred = DM x this (DARC: DM / 1000) [(pc cm^-3)^-1]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrbLofarSettings:
    """LOFAR TBB trigger packets: written (trigger-<n>.tbb) unless switched off at run time
    (skyspool control DIR lofar off)
    """

    send: bool = False
    """send the packets by UDP"""

    host: str = '127.0.0.1'
    """where the UDP packets go"""

    port: int = 31662
    """UDP port of host [port]"""

    email: bool = True
    """e-mail (settings: frb.email) when a LOFAR packet is sent, as DARC does"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrbEmailSettings:
    """the observation summary by e-mail (SMTP): null (none), or these settings"""

    host: str | None = None
    """SMTP server"""

    port: int | None = None
    """SMTP port (absent: 25) [port]"""

    sender: str | None = None
    """From address (absent: skyspool@localhost)"""

    to: tuple[str, ...] | None = None
    """recipients"""

    starttls: bool | None = None
    """STARTTLS before logging in (absent: false)"""

    username: str | None = None
    """SMTP user (null or absent: no login)"""

    password_env: str | None = None
    """name of the environment variable holding the password (never the password); absent: none"""

    timeout_s: float | None = None
    """SMTP connection timeout (absent: 30) [s]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrbFollowSettings:
    """the daemon follows an observation's candidate files until a stop file arrives or none grew
    for timeout_s; it looks at them at least every poll_s besides file events
    """

    timeout_s: float = 600.0
    """an observation with no file growing for this long is finished [s]"""

    poll_s: float = 1.0
    """longest time between two looks at the followed files [s]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrbSettings:
    """FRB observations (AMBER candidates); see skyspool.frb.products.DEFAULT_CONFIG"""

    clustering: FrbClusteringSettings = _section(FrbClusteringSettings)
    """candidates in one time window and DM box form a cluster, kept as its highest-S/N one
    (DARC's boxes by default; skyspool.frb.clustering)
    """

    thresholds: FrbThresholdsSettings = _section(FrbThresholdsSettings)
    """classification, with DARC's defaults"""

    voevent: FrbVoeventSettings = _section(FrbVoeventSettings)
    """outgoing FRB VOEvents: ivo://<authority>/<stream>#<trigger id>, and who sends them"""

    voevent_fields: FrbVoeventFieldsSettings = _section(FrbVoeventFieldsSettings)
    """What DARC's VOEvents state (Apertif's values); tsys_k / gain_k_per_jy is the default SEFD
    (99.6 Jy), used for the flux when the observation gives no sefd_jy
    """

    lofar: FrbLofarSettings = _section(FrbLofarSettings)
    """LOFAR TBB trigger packets: written (trigger-<n>.tbb) unless switched off at run time
    (skyspool control DIR lofar off)
    """

    email: FrbEmailSettings | None = None
    """the observation summary by e-mail (SMTP): null (none), or these settings"""

    plot: bool = True
    """candidates.png for every chunk and observation"""

    follow: FrbFollowSettings = _section(FrbFollowSettings)
    """the daemon follows an observation's candidate files until a stop file arrives or none grew
    for timeout_s; it looks at them at least every poll_s besides file events
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class GwcandBayestarSettings:
    """BAYESTAR localization of a candidate"""

    waveform: str = 'TaylorF2threePointFivePN'
    """waveform of BAYESTAR's templates"""

    f_low_hz: float = 30
    """low-frequency cutoff [Hz]"""

    threads: int = 2
    """OpenMP threads per BAYESTAR run [threads]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class GwcandSupereventSettings:
    """grouping candidates into superevents"""

    cbc_window_s: float = 1.0
    """a CBC candidate's segment is its time +- this; bursts use their duration [s]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class GwcandPAstroSettings:
    """used when the pipeline sends no p_astro.json: GWCelery's fallback (foreground 3 snr_star^3
    / SNR^4 over background FAR / far_star_hz, ligo.p_astro's mass cuts and counts), or, for a
    gstlal candidate bundled with its ranking_data.xml.gz, ligo.p_astro on it (as GWCelery
    did)
    """

    snr_star: float = 8.5
    """SNR of the foreground density f = 3 snr_star^3 / SNR^4 (GWCelery's fallback) [S/N]"""

    far_star_hz: float = 3.8580246913580245e-07
    """background b = FAR / far_star_hz, terrestrial count far_star_hz x livetime [Hz]"""

    ranking_livetime_s: float = 14394240
    """livetime the terrestrial count is scaled to (ligo.p_astro's own O3 value) [s]"""

    ranking_extinct_bins: int = 40
    """how many of the lowest ln L bins the zero-lag extinction fit leaves out [bins]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class GwcandEmBrightSettings:
    """HasNS, HasRemnant, HasMassGap (ligo.em-bright, or the analytic method with these settings)"""

    data_dir: str | None = None
    """folder holding ligo.em-bright's trained data files (they cannot be downloaded here: copy
    every file of ligo.em_bright.PACKAGE_DATA_LINKS into it); null or incomplete: the analytic
    method
    """

    max_ns_mass_msun: float = 3.0
    """heaviest neutron star [Msun]"""

    ns_radius_km: float = 12.0
    """neutron-star radius [km]"""

    mass_gap_msun: tuple[float, ...] = (3.0, 5.0)
    """the mass gap (lowest, highest) [Msun]"""

    samples: int = 4000
    """mass draws of the analytic method [count]"""

    mchirp_sigma_frac: float = 0.01
    """relative spread of the drawn chirp masses [1]"""

    mass_ratio_sigma: float = 0.2
    """spread of the drawn mass ratios [1]"""

    seed: int = 1
    """random seed of the draws [1]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class GwcandSettings:
    """GW pipeline candidates (LIGO-LW coinc.xml dropped in the inbox) -> BAYESTAR,
    classification, superevents (was `pipeline`); see src/skyspool/gw_classify.py for the
    p_astro fallback and ligo.em-bright
    """

    bayestar: GwcandBayestarSettings = _section(GwcandBayestarSettings)
    """BAYESTAR localization of a candidate"""

    superevent: GwcandSupereventSettings = _section(GwcandSupereventSettings)
    """grouping candidates into superevents"""

    p_astro: GwcandPAstroSettings = _section(GwcandPAstroSettings)
    """used when the pipeline sends no p_astro.json: GWCelery's fallback (foreground 3 snr_star^3
    / SNR^4 over background FAR / far_star_hz, ligo.p_astro's mass cuts and counts), or, for a
    gstlal candidate bundled with its ranking_data.xml.gz, ligo.p_astro on it (as GWCelery
    did)
    """

    em_bright: GwcandEmBrightSettings = _section(GwcandEmBrightSettings)
    """HasNS, HasRemnant, HasMassGap (ligo.em-bright, or the analytic method with these settings)"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrchestratorDqPaddingSSettings:
    """added before and after the superevent's interval for the DQ check (GWCelery's
    check_vector_prepost)
    """

    cbc: float = 2.0
    """CBC superevents [s]"""

    burst: float = 1.5
    """Burst superevents [s]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrchestratorThresholdsSettings:
    """per search (group_search): rank in the preferred-event choice (GWCelery's
    superevent_candidate_preference) and alert thresholds: significant when trials_factor x
    FAR <= significant_far_hz (1/30 days = 3.858e-7 Hz, 1/year = 3.171e-8 Hz), less-
    significant when less_significant_trials_factor x FAR <= less_significant_far_hz (8 x
    2/day = 1.852e-4 Hz; null: never). Defaults are GWCelery 3.0.0's; a search without an
    entry is never public.
    """

    cbc_allsky: ThresholdSettings = _section(ThresholdSettings, {'rank': 2, 'trials_factor': 7, 'significant_far_hz': 3.8580246913580245e-07, 'less_significant_trials_factor': 8, 'less_significant_far_hz': 0.00018518518518518518})
    """CBC all-sky searches"""

    cbc_early_warning: ThresholdSettings = _section(ThresholdSettings, {'rank': 1, 'trials_factor': 4, 'significant_far_hz': 3.8580246913580245e-07, 'less_significant_trials_factor': 4, 'less_significant_far_hz': None})
    """CBC early-warning search"""

    cbc_ssm: ThresholdSettings = _section(ThresholdSettings, {'rank': 1, 'trials_factor': 3, 'significant_far_hz': 3.1709791983764586e-08, 'less_significant_trials_factor': 2, 'less_significant_far_hz': None})
    """CBC sub-solar-mass search"""

    cbc_mdc: ThresholdSettings = _section(ThresholdSettings, {'rank': 1, 'trials_factor': 7, 'significant_far_hz': 3.8580246913580245e-07, 'less_significant_trials_factor': 4, 'less_significant_far_hz': None})
    """CBC mock data challenge"""

    burst_allsky: ThresholdSettings = _section(ThresholdSettings, {'rank': 0, 'trials_factor': 3, 'significant_far_hz': 3.1709791983764586e-08, 'less_significant_trials_factor': 8, 'less_significant_far_hz': 0.00018518518518518518})
    """Burst all-sky searches"""

    burst_bbh: ThresholdSettings = _section(ThresholdSettings, {'rank': 0, 'trials_factor': 7, 'significant_far_hz': 3.8580246913580245e-07, 'less_significant_trials_factor': 8, 'less_significant_far_hz': 0.00018518518518518518})
    """cWB's BBH search"""

    burst_mdc: ThresholdSettings = _section(ThresholdSettings, {'rank': 0, 'trials_factor': 1, 'significant_far_hz': None, 'less_significant_trials_factor': 1, 'less_significant_far_hz': None})
    """Burst mock data challenge"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class OrchestratorSettings:
    """when superevents become public alerts, with GWCelery 3.0.0's rules and defaults (README
    "GW orchestration")
    """

    orchestrator_timeout_s: float = 15
    """decide this long after a superevent is created (a timer; no job sleeps) [s]"""

    superevent_far_threshold_hz: float = 0.0002777777777777778
    """candidates with a higher FAR join no superevent (GWCelery's superevent_far_threshold,
    1/hour) [Hz]
    """

    second_preliminary_delay_s: float = 270
    """the second preliminary alert this long after the first (GWCelery's
    superevent_clean_up_timeout) [s]
    """

    second_preliminary: Literal['always', 'if_changed', 'never'] = 'always'
    """always (unless a person acted: ADVOK, ADVNO, retraction), if_changed (only with a new
    preferred event) or never
    """

    only_alert_for_mdc: bool = False
    """send automatic alerts for MDC candidates only (GWCelery's only_alert_for_mdc)"""

    require_dq: bool = False
    """no alert when no DQ segment list covers the candidate"""

    dq_padding_s: OrchestratorDqPaddingSSettings = _section(OrchestratorDqPaddingSSettings)
    """added before and after the superevent's interval for the DQ check (GWCelery's
    check_vector_prepost)
    """

    gracedb_url: str = 'https://gracedb.invalid/superevents/{superevent_id}/view/'
    """the superevent's page named in the alerts ({superevent_id} filled in)"""

    thresholds: OrchestratorThresholdsSettings = _section(OrchestratorThresholdsSettings)
    """per search (group_search): rank in the preferred-event choice (GWCelery's
    superevent_candidate_preference) and alert thresholds: significant when trials_factor x
    FAR <= significant_far_hz (1/30 days = 3.858e-7 Hz, 1/year = 3.171e-8 Hz), less-
    significant when less_significant_trials_factor x FAR <= less_significant_far_hz (8 x
    2/day = 1.852e-4 Hz; null: never). Defaults are GWCelery 3.0.0's; a search without an
    entry is never public.
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class ListenGcnSettings:
    """GCN Kafka"""

    enabled: bool = True
    """listen to GCN Kafka"""

    domain: str = 'gcn.nasa.gov'
    """GCN Kafka domain"""

    topics: tuple[str, ...] = ('igwn.gwalert', 'gcn.notices.icecube.lvk_nu_track_search', 'gcn.notices.icecube.gold_bronze_track_alerts', 'gcn.notices.fermi.gbm', 'gcn.notices.swift.bat.guano', 'gcn.notices.chime.frb', 'gcn.notices.einstein_probe.wxt.alert', 'gcn.classic.voevent.FERMI_GBM_ALERT', 'gcn.classic.voevent.FERMI_GBM_FLT_POS', 'gcn.classic.voevent.FERMI_GBM_GND_POS', 'gcn.classic.voevent.FERMI_GBM_FIN_POS', 'gcn.classic.voevent.FERMI_GBM_SUBTHRESH', 'gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK', 'gcn.classic.voevent.INTEGRAL_WAKEUP', 'gcn.classic.voevent.INTEGRAL_REFINED', 'gcn.classic.voevent.INTEGRAL_OFFLINE', 'gcn.classic.voevent.SNEWS', 'gcn.classic.voevent.AMON_ICECUBE_GOLD', 'gcn.classic.voevent.AMON_ICECUBE_BRONZE', 'gcn.classic.voevent.AMON_ICECUBE_CASCADE', 'gcn.notices.svom.voevent.eclairs')
    """topics to consume"""

    heartbeat_topic: str | None = 'gcn.heartbeat'
    """GCN's heartbeat topic (a message a second; noted, not stored); null: not watched"""

    heartbeat_silent_s: float = 30
    """skyspool status reports the broker silent after this long without a heartbeat [s]"""

    kafka: Mapping[str, Any] = _default({})
    """extra librdkafka settings (e.g. bootstrap.servers and security.protocol of a test broker)"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ListenScimmaSettings:
    """SCiMMA/hopskotch igwn.gwalert (Avro)"""

    enabled: bool = False
    """listen to SCiMMA"""

    bootstrap: str = 'kafka.scimma.org'
    """SCiMMA's Kafka bootstrap server"""

    topics: tuple[str, ...] = ('igwn.gwalert',)
    """topics to consume"""

    kafka: Mapping[str, Any] = _default({})
    """extra librdkafka settings"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ListenVtpSettings:
    """VOEvent Transport Protocol subscriptions (skyspool.listen.VtpListener); each VOEvent lands
    in the inbox once
    """

    enabled: bool = False
    """subscribe to the brokers"""

    brokers: tuple[str, ...] = ()
    """host:port of each broker (port 8099 when omitted), e.g. GCN Classic
    voevent.gsfc.nasa.gov:8099 or a DARC/Comet broker
    """

    local_ivo: str | None = None
    """IVORN this subscriber answers with; null = ivo://<gw_voevent.author_ivorn>"""

    reconnect_s: float = 1.0
    """first reconnection delay after a broker went away (doubling up to reconnect_max_s) [s]"""

    reconnect_max_s: float = 60.0
    """longest reconnection delay [s]"""

    timeout_s: float = 20.0
    """longest wait for a connection or the rest of a message [s]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ListenSettings:
    """`skyspool listen`: alerts from Kafka (GCN, SCiMMA) and VOEvent brokers into the inbox"""

    group_id: str | None = None
    """Kafka consumer group; null = skyspool-<host>-<hash of the spool path>, fixed per spool"""

    start: Literal['latest', 'earliest'] = 'latest'
    """where a new consumer group starts: latest or earliest (later runs resume where they were)"""

    credentials_file: str | None = None
    """YAML file with gcn: {client_id, client_secret} and scimma: {username, password}; the
    environment (GCN_KAFKA_CLIENT_ID/_SECRET, HOP_USERNAME/HOP_PASSWORD) takes precedence
    """

    gcn: ListenGcnSettings = _section(ListenGcnSettings)
    """GCN Kafka"""

    scimma: ListenScimmaSettings = _section(ListenScimmaSettings)
    """SCiMMA/hopskotch igwn.gwalert (Avro)"""

    vtp: ListenVtpSettings = _section(ListenVtpSettings)
    """VOEvent Transport Protocol subscriptions (skyspool.listen.VtpListener); each VOEvent lands
    in the inbox once
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublishRetrySettings:
    """a failed send is tried attempts times (skyspool publish/process) with a delay doubling
    from backoff_s up to max_backoff_s; the daemon keeps trying at max_backoff_s
    """

    attempts: int = 5
    """tries of one send [count]"""

    backoff_s: float = 2.0
    """first delay between tries [s]"""

    max_backoff_s: float = 300.0
    """longest delay between tries [s]"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PublishSettings:
    """publishers (skyspool.publish): after an entry's notice (stage notice) and all its products
    (stage done) are built, `skyspool watch` hands them to each sink, in a thread of its own
    (never delaying a notice), retrying failures with backoff; logs/published/ records what
    was sent. No sinks = nothing is published.
    """

    dry_run: bool = False
    """compute and log everything, send nothing (also: --dry-run, SKYSPOOL_DRY_RUN=1)"""

    catch_up_s: float = 604800
    """on start, entries stored this long ago at most are published if they were not yet [s]"""

    retry: PublishRetrySettings = _section(PublishRetrySettings)
    """a failed send is tried attempts times (skyspool publish/process) with a delay doubling
    from backoff_s up to max_backoff_s; the daemon keeps trying at max_backoff_s
    """

    sinks: Mapping[str, Mapping[str, Any]] = _default({})
    """sinks by name, e.g. archive: {kind: storage, url: "s3://bucket/skyspool", products:
    ["notice.*", "*.fits*"]}; treasuremap: {kind: http, url:
    "https://treasuremap.space/api/v1/skyspool", token_env: TREASUREMAP_TOKEN, kinds: [gw]};
    alerts: {kind: kafka, topic: skyspool.notices, kafka: {bootstrap.servers:
    "localhost:9092"}}; brokers: {kind: voevent, brokers: ["voevent.example.org:8099"]}. Keys
    of each kind and their defaults: README.md (Publishing) and src/skyspool/publish/
    """


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """every section of the configuration"""

    spool: str | None = None
    """the spool directory (inbox/, spool/, products/, quarantine/, logs/); given as `--config
    spool=DIR` (skyspool does this)
    """

    max_input_bytes: int = 67108864
    """files larger than this are refused at the inbox and quarantined [bytes]"""

    retries: int = 1
    """how many times a failed product job is retried before it is reported as failed [count]"""

    job_timeout_s: float | None = None
    """most seconds one product job may run (null: no limit). With a limit each job runs in its
    own process (forked from a clean, warm fork server): a job that hangs (a stalled catalog
    read) or crashes is stopped, retried (retries), then reported as failed; other products
    and alerts go on. Off by default: it costs 1.5x the CPU per alert and a fork server (~330
    MB) per process (README, "The watch daemon"). 600 is a fair value: ten times the slowest
    job. [s]
    """

    cluster_profile: str | None = None
    """`skyspool watch` builds each new entry's notice path (notice.json/.xml, circular.txt and
    what they need) itself, then the other products (flat map, contours, MOCs, plots, galaxy
    lists) with this Snakemake profile: a name under profiles/ (slurm, htcondor) or a path.
    null builds everything on this machine.
    """

    skymap: SkymapSettings = _section(SkymapSettings)
    """sky-map products of every kind (flat map, contours, plots)"""

    gw_voevent: GwVoeventSettings = _section(GwVoeventSettings)
    """who sends the outgoing GW VOEvents (notice.xml); was `notice`"""

    fermi: FermiSettings = _section(FermiSettings)
    """Fermi GBM occultation and LAT field of view of GW alerts (skyspool.fermi)"""

    galaxies: GalaxiesSettings = _section(GalaxiesSettings)
    """galaxies.ecsv, the galaxies in a GW alert's credible volume"""

    gcn_notices: GcnNoticesSettings = _section(GcnNoticesSettings)
    """products of received GCN notices (was `notices`); Fermi GBM maps use each notice type's
    systematic model as GWCelery 3.0.0 (skyspool.notices.maps.GBM_MODELS, README
    "Coincidences")
    """

    coincidence: CoincidenceSettings = _section(CoincidenceSettings)
    """RAVEN as GWCelery 3.0.0 runs it (gwcelery/conf/__init__.py); README "Coincidences"
    """

    frb: FrbSettings = _section(FrbSettings)
    """FRB observations (AMBER candidates); see skyspool.frb.products.DEFAULT_CONFIG"""

    gwcand: GwcandSettings = _section(GwcandSettings)
    """GW pipeline candidates (LIGO-LW coinc.xml dropped in the inbox) -> BAYESTAR,
    classification, superevents (was `pipeline`); see src/skyspool/gw_classify.py for the
    p_astro fallback and ligo.em-bright
    """

    orchestrator: OrchestratorSettings = _section(OrchestratorSettings)
    """when superevents become public alerts, with GWCelery 3.0.0's rules and defaults (README
    "GW orchestration")
    """

    listen: ListenSettings = _section(ListenSettings)
    """`skyspool listen`: alerts from Kafka (GCN, SCiMMA) and VOEvent brokers into the inbox"""

    publish: PublishSettings = _section(PublishSettings)
    """publishers (skyspool.publish): after an entry's notice (stage notice) and all its products
    (stage done) are built, `skyspool watch` hands them to each sink, in a thread of its own
    (never delaying a notice), retrying failures with backoff; logs/published/ records what
    was sent. No sinks = nothing is published.
    """
