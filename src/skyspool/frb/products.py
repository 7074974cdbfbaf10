"""FRB products, the functions the workflow calls: per candidate chunk, per observation, per filterbank.

Per chunk (``products/frb/<obs_id>/<NNN>-candidates/``), :func:`process_chunk` writes:

- ``clusters.csv``: every cluster with its label and reason;
- ``triggers.json``: the triggers of this chunk and the trigger state after it (data-dump times,
  LOFAR triggers sent), which the next chunk reads so the once-per-60-s and once-per-observation
  limits hold over the whole observation;
- ``triggers/``: per trigger ``n``, ``trigger-<n>.xml``, its FRB VOEvent (new sources and known
  FRBs), and ``trigger-<n>.tbb``, its LOFAR TBB packet (if it qualifies; sent by UDP when
  ``lofar.send`` is set, see ``effects.json``); ``triggers.json`` names
  them (``voevent_file``, ``tbb_file``);
- ``effects.json``: what goes out (the effect handlers of :mod:`skyspool.publish.effects` send it
  after the run): each LOFAR packet when ``lofar.send`` is set (``udp``), and DARC's e-mail about
  it when ``lofar.email`` and ``email`` are (``email``, sent once the packet went);
- ``candidates.png``: DM-time and S/N of the chunk's candidates.

Per observation, :func:`summarize_observation` writes ``clusters.csv``, ``triggers.json``,
``candidates.png``, ``summary.html`` and ``effects.json`` (the summary e-mail when ``email`` is
configured).
Per chunk and filterbank entry ``MMM-filterbank_cbNN`` of the chunk's compound beam,
:func:`filterbank_views` writes the folder ``MMM-filterbank_cbNN/``: ``trigger-<n>.png``
(dedispersed frequency-time and DM-time views of each trigger the data cover) and ``views.json``.
All files are written atomically.

Nothing is sent here: a job writes its intents, and the effect handlers send each one once (a
receipt is written after the send; a rebuild does not send again, a dry run sends nothing).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pandas as pd
from astropy.time import TimeDelta

from skyspool.atomic import write_bytes, write_json, write_text
from skyspool.control import read_switches
from skyspool.effects import write_intents
from skyspool.formats.filterbank import read_header_of as read_filterbank_header
from skyspool.frb import lofar
from skyspool.frb.amber import read_candidates
from skyspool.frb.clustering import ClusterWindows, cluster
from skyspool.frb.filterbank import trigger_views
from skyspool.frb.observation import Observation, load_observation, load_source_list
from skyspool.frb.plots import plot_candidates, plot_trigger_views
from skyspool.frb.summary import SmtpSettings, lofar_trigger_html, summary_html
from skyspool.frb.targets import TRIGGER_FILES
from skyspool.frb.triage import Thresholds, TriggerState, classify, milky_way_dm, select_triggers
from skyspool.frb.voevent_writer import VOEventAuthor, VOEventFields, dumps, frb_voevent
from skyspool.paths import ENTRY_NAME, filterbank_beam

#: Every setting with its default; ``config`` arguments are merged over it (unknown keys refused).
DEFAULT_CONFIG = {
    "clustering": {"time_s": 1.0, "boxes": "darc", "dm_range_frac": 0.2, "dm_frac": 0.5, "dm_scale": 20.0,
                   "sb_dm_halfwidth": 20.0, "n_sb": 71},
    "thresholds": {"snr_min": 10.0, "dm_min": 5.0, "dm_gal_factor": 1.2, "width_max": 100,
                   "known_dm_range": 10.0, "members_max": None, "dump_interval_s": 60.0,
                   "galactic_model": "ymw16", "snr_before_clustering": True, "sb_filter": True,
                   "sb_period_min": 10, "sb_period_max": 15, "voevent_only_with_lofar": True,
                   "lofar": {"snr_min": 20.0, "width_max": 80, "dm_gal_factor": 2.0, "members_max": 100,
                             "max_per_observation": 1, "batch_s": 1.0}},
    "voevent": {"authority": "skyspool.local", "stream": "frb", "title": "skyspool FRB trigger system",
                "short_name": "skyspool", "contact_name": "skyspool operator",
                "contact_email": "skyspool@localhost"},
    "voevent_fields": {"importance": 0.1, "gain_k_per_jy": 0.8533, "tsys_k": 85.0, "bits_per_sample": 8,
                       "redshift_per_dm": 0.001},
    "lofar": {"send": False, "host": "127.0.0.1", "port": 31662, "email": True},
    "email": None,
    "plot": True,
    # Read by the daemon (skyspool.frb.follow), not by the products.
    "follow": {"timeout_s": 600.0, "poll_s": 1.0},
}


class ConfigError(ValueError):
    """An invalid FRB configuration; the message is a one-line reason."""


def merged_config(config: dict | None) -> dict:
    """``config`` merged over :data:`DEFAULT_CONFIG`; unknown keys raise :class:`ConfigError`."""
    def merge(base, over, where):
        for key, value in (over or {}).items():
            if key not in base:
                raise ConfigError(f"unknown FRB setting {where}{key}")
            if isinstance(base[key], dict) and isinstance(value, dict):
                merge(base[key], value, f"{where}{key}.")
            else:
                base[key] = value
        return base
    return merge(copy.deepcopy(DEFAULT_CONFIG), config, "")


def _trigger_record(row, n: int, obs: Observation, local_id: str, fields: VOEventFields) -> dict:
    width = int(row["width"])
    flux = obs.flux_jy(float(row["snr"]), width, default_sefd_jy=fields.sefd_jy)
    return {
        "n": n, "id": local_id, "cb": int(row["cb"]), "beam": int(row["beam"]),
        "time": float(row["time"]),
        "utc": (obs.start + TimeDelta(float(row["time"]), format="sec")).isot,
        "dm": float(row["dm"]), "dm_error": round(obs.dm_error(width), 4), "snr": float(row["snr"]),
        "width": width, "width_ms": round(obs.width_s(width) * 1e3, 5),
        "flux_jy": None if flux is None else round(float(flux), 4),
        "members": int(row["members"]), "mw_dm": round(float(row["mw_dm"]), 2),
        "label": row["label"], "reason": row["reason"],
        "dump": bool(row["dump"]), "lofar": bool(row["lofar"]), "voevent": bool(row["voevent"]),
    }


def _classified(candidates: pd.DataFrame, obs: Observation, known, cfg: dict) -> tuple[pd.DataFrame, Thresholds]:
    thresholds = Thresholds.from_config(cfg["thresholds"])
    try:
        windows = ClusterWindows(**cfg["clustering"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"clustering settings: {exc}") from None
    clusters = cluster(candidates, windows, thresholds.snr_min if thresholds.snr_before_clustering else None)
    mw = {int(cb): milky_way_dm(obs, int(cb), thresholds.galactic_model) for cb in clusters["cb"].unique()}
    return classify(clusters, thresholds, mw, known), thresholds


def _email(key: str, what: str, subject: str, page: str, settings: dict, **extra) -> dict:
    """An ``email`` intent (see :mod:`skyspool.publish.effects`); checks the settings now."""
    to = SmtpSettings.from_config(settings).to
    return {"key": key, "type": "email", "what": f"{what} to {', '.join(to)}", "subject": subject,
            "page": page, "smtp": settings, **extra}


def process_chunk(chunk_path: str | os.PathLike, observation_path: str | os.PathLike,
                  source_list_path: str | os.PathLike | None, out_dir: str | os.PathLike, config: dict | None = None,
                  *, previous_triggers: str | os.PathLike | None = None,
                  switches: str | os.PathLike | None = None) -> dict:
    """Make the products of one candidate chunk (see the module docstring) in ``out_dir``.

    ``previous_triggers`` is the ``triggers.json`` of the observation's previous chunk (None for the
    first), whose trigger state this chunk continues. ``effects.json`` lists the LOFAR packets to
    send (``lofar.send`` set) and an e-mail about each one (``lofar.email`` and ``email`` set;
    DARC's warning e-mail).
    ``switches`` is the run-time switch file (:func:`skyspool.control.read_switches`), read as each
    trigger is decided: with ``lofar`` off no packet is written or sent, with ``voevent`` off no
    VOEvent. Returns the ``triggers.json`` content. Raises a ValueError subclass with a one-line
    reason for invalid inputs.
    """
    cfg = merged_config(config)
    out = Path(out_dir)
    obs = load_observation(observation_path)
    known = load_source_list(source_list_path).lookup(obs.source)
    candidates = read_candidates(chunk_path)
    classified, thresholds = _classified(candidates, obs, known, cfg)
    state = TriggerState.from_dict(json.loads(Path(previous_triggers).read_text())["state"]
                                   if previous_triggers else None)
    triggers, state = select_triggers(classified, thresholds, state, known)

    chunk = Path(chunk_path).name.split(".")[0]
    publisher = VOEventAuthor.from_config(cfg["voevent"])
    fields = VOEventFields.from_config(cfg["voevent_fields"])
    (out / TRIGGER_FILES).mkdir(parents=True, exist_ok=True)  # a declared output, even when empty
    records, effects = [], []
    for n, row in enumerate(triggers.to_dict("records"), start=1):
        record = _trigger_record(row, n, obs, f"{obs.id}_{chunk}_{n}", fields)
        switched = read_switches(switches)
        for name in ("voevent", "lofar"):
            if record[name] and not switched[name]:
                record[name] = False
                record[f"{name}_switched_off"] = True
                if name == "lofar":
                    state.lofar_sent -= 1  # not sent: it does not count towards max_per_observation
        if record["voevent"]:
            event = frb_voevent(row, obs, publisher, record["id"], importance=fields.importance,
                                galactic_model=thresholds.galactic_model, fields=fields)
            record["voevent_file"] = f"{TRIGGER_FILES}/trigger-{n}.xml"
            write_bytes(out / record["voevent_file"], dumps(event))
            record["ivorn"] = publisher.ivorn(record["id"])
        if record["lofar"]:
            stop = lofar.stop_time(obs.start + TimeDelta(record["time"], format="sec"), record["dm"],
                                   obs.top_frequency_mhz)
            packet = lofar.pack(stop, record["dm"], obs.test)
            record["tbb_file"] = f"{TRIGGER_FILES}/trigger-{n}.tbb"
            write_bytes(out / record["tbb_file"], packet)
            record["lofar_stop_utc"] = stop.isot
            if cfg["lofar"]["send"]:
                host, port = cfg["lofar"]["host"], cfg["lofar"]["port"]
                effects.append({"key": f"trigger-{n}.tbb", "type": "udp", "file": record["tbb_file"],
                                "host": host, "port": port,
                                "what": f"trigger {n}: LOFAR TBB packet to {host}:{port}"})
                if cfg["lofar"]["email"] and cfg["email"]:
                    effects.append(_email(
                        f"trigger-{n}.email", f"trigger {n}: LOFAR trigger e-mail",
                        f"LOFAR trigger: FRB observation {obs.id}, DM {record['dm']:.1f}, S/N {record['snr']:.1f}",
                        lofar_trigger_html(obs, record), cfg["email"], after=f"trigger-{n}.tbb"))
        records.append(record)

    with_labels = classified.drop(columns=["row"])
    write_text(out / "clusters.csv", with_labels.to_csv(index=False, float_format="%.6g"))
    if cfg["plot"]:
        plot_candidates(candidates, classified, out / "candidates.png", title=f"{obs.id} {chunk}",
                        snr_min=thresholds.snr_min)
    doc = {"observation": obs.id, "chunk": chunk, "candidates": len(candidates), "clusters": len(classified),
           "labels": {k: int(v) for k, v in classified["label"].value_counts().items()},
           "triggers": records, "state": state.to_dict()}
    write_json(out / "triggers.json", doc)
    write_intents(out / "effects.json", effects)
    return doc


def summarize_observation(chunk_paths: list[str | os.PathLike], trigger_paths: list[str | os.PathLike],
                          observation_path: str | os.PathLike, source_list_path: str | os.PathLike | None,
                          out_dir: str | os.PathLike, config: dict | None = None) -> dict:
    """Observation products in ``out_dir``: all chunks' candidates clustered and classified together
    (``clusters.csv``, ``candidates.png``), the triggers issued per chunk (``triggers.json``, from the
    chunks' ``triggers.json``), ``summary.html`` and ``effects.json`` (the summary e-mail, if
    ``email`` is configured). Returns the ``triggers.json`` content."""
    cfg = merged_config(config)
    out = Path(out_dir)
    obs = load_observation(observation_path)
    known = load_source_list(source_list_path).lookup(obs.source)
    frames = [read_candidates(p) for p in chunk_paths]
    candidates = pd.concat(frames, ignore_index=True) if frames else read_candidates(b"")
    classified, thresholds = _classified(candidates, obs, known, cfg)
    triggers = [t | {"chunk": doc["chunk"]} for p in trigger_paths
                for doc in [json.loads(Path(p).read_text())] for t in doc["triggers"]]
    triggers.sort(key=lambda t: t["time"])
    write_text(out / "clusters.csv", classified.drop(columns=["row"]).to_csv(index=False, float_format="%.6g"))
    plot = "candidates.png" if cfg["plot"] else None
    if plot:
        plot_candidates(candidates, classified, out / plot, title=obs.id, snr_min=thresholds.snr_min)
    page = summary_html(obs, classified, pd.DataFrame(triggers), n_candidates=len(candidates), plot_name=plot)
    write_text(out / "summary.html", page)
    doc = {"observation": obs.id, "candidates": len(candidates), "clusters": len(classified),
           "labels": {k: int(v) for k, v in classified["label"].value_counts().items()}, "triggers": triggers}
    write_json(out / "triggers.json", doc)
    write_intents(out / "effects.json", [_email(
        "summary.email", "summary e-mail", f"FRB observation {obs.id}: {len(triggers)} trigger(s)", page,
        cfg["email"], attachments=[plot] if plot else [])] if cfg["email"] else [])
    return doc


def filterbank_views(triggers_path: str | os.PathLike, filterbank_path: str | os.PathLike,
                     observation_path: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Views of the triggers of one chunk (its ``triggers.json``) in one filterbank file (the spool
    entry ``<NNN>-filterbank_cbNN.fil``), in ``out_dir``: ``trigger-<n>.png`` (frequency-time
    dedispersed at the trigger's DM, DM-time) for each trigger of the file's compound beam within its
    time span, and ``views.json`` listing them with the DM (pc cm^-3) and time (s since the
    observation start) of the DM-time maximum. Returns the ``views.json`` content."""
    obs = load_observation(observation_path)
    path, out = Path(filterbank_path), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)  # a declared output, even without views
    header = read_filterbank_header(path)
    cb = filterbank_beam(ENTRY_NAME.fullmatch(path.name)["alert_type"])
    start = (header.tstart_mjd - obs.start.mjd) * 86400.0
    end = start + header.duration_s(path.stat().st_size)
    doc = json.loads(Path(triggers_path).read_text())
    views = []
    for t in doc["triggers"]:
        if t["cb"] != cb or not start <= t["time"] < end:
            continue
        width = max(1, round(obs.width_s(t["width"]) / header.tsamp_s))  # AMBER's samples -> the file's
        v = trigger_views(path, dm=t["dm"], time_s=t["time"] - start, width_samples=width, snr=t["snr"])
        record = {"n": t["n"], "time": t["time"], "dm": t["dm"], "plot": f"trigger-{t['n']}.png",
                  "best_dm": round(v.best_dm, 3), "best_time": round(v.best_time_s + start, 6)}
        plot_trigger_views(v, out / record["plot"], title=f"{obs.id} {doc['chunk']} trigger {t['n']}: "
                                                           f"CB{cb:02d} DM {t['dm']:.1f} S/N {t['snr']:.1f}")
        views.append(record)
    result = {"observation": obs.id, "chunk": doc["chunk"], "filterbank": path.name, "cb": cb,
              "start": round(start, 6), "end": round(end, 6), "triggers": views}
    write_json(out / "views.json", result)
    return result
