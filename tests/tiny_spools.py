"""Tiny spools, one per kind of entry, for dry runs of the workflow (the Snakemake catalog's ``.test/``
convention): ``.test/<kind>/config/config.yaml`` becomes the spool's config.yaml and a few sample
entries are stored, made here at test time (nothing is copied from the corpus).

    python tests/tiny_spools.py gw /tmp/spool   # then: snakemake -n --config spool=/tmp/spool
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import gwcand_samples
from frb_synthetic import Burst, amber_text, sample_observation, synthetic_candidates, write_observation
from skyspool import cli, ingest, samples
from skyspool.frb.amber import make_chunk
from skyspool.paths import Spool

DOT_TEST = Path(__file__).resolve().parents[1] / ".test"
KINDS = ("gw", "notices", "frb", "gwcand")
GW_GPS = 1128678900.4  # G197392's merger time


def _store(spool: Spool, data: bytes, name: str) -> None:
    outcome = ingest.store_bytes(spool, data, name)
    assert outcome.entry is not None, f"{name}: {outcome}"


def _gw(spool: Spool, tmp: Path) -> None:
    """A significant preliminary alert with a small Gaussian map, and its retraction."""
    skymap = samples.gaussian_skymap(120.0, -30.0, 5.0, nside=32)
    facts = {"gps_time": GW_GPS, "instruments": ["H1", "L1"], "far_hz": 1e-9}
    _store(spool, json.dumps(samples.igwn_alert("S151012a", "PRELIMINARY", skymap=skymap, **facts)).encode(),
           "S151012a-preliminary.json")
    _store(spool, json.dumps(samples.igwn_alert("S151012a", "RETRACTION", skymap=None, **facts)).encode(),
           "S151012a-retraction.json")


def _notices(spool: Spool, tmp: Path) -> None:
    """An Einstein Probe WXT alert (a GCN JSON notice of gcn-schema: an X-ray transient with a position)."""
    notice = {"$schema": "https://gcn.nasa.gov/schema/main/gcn/notices/einstein_probe/wxt/alert.schema.json",
              "instrument": "WXT", "trigger_time": "2015-10-12T09:54:43.40Z", "id": ["01444644900"],
              "ra": 121.0, "dec": -29.0, "ra_dec_error": 0.05}
    _store(spool, json.dumps(notice).encode(), "ep-wxt-alert.json")


def _frb(spool: Spool, tmp: Path) -> None:
    """An observation, one chunk of AMBER candidates holding one burst, and the stop file."""
    observation = sample_observation()
    write_observation(tmp / "observation.yaml", observation)
    _store(spool, (tmp / "observation.yaml").read_bytes(), "observation.yaml")
    amber = tmp / "CB00_step1.trigger"
    amber.write_bytes(amber_text(synthetic_candidates([Burst(30.0, 700.0, 30.0)], duration_s=60.0,
                                                      n_noise=50, n_rfi=0)))
    chunk, _ = make_chunk(amber, 0, observation=observation["id"])
    _store(spool, chunk, amber.name)
    _store(spool, f"stop: {observation['id']}\n".encode(), f"{observation['id']}-stop.yaml")


def _gwcand(spool: Spool, tmp: Path) -> None:
    """One pipeline candidate: ligo.skymap's bundled G197392 coinc with a model PSD, as an upload bundle."""
    coinc, _ = gwcand_samples.candidate_files()
    bundle = gwcand_samples.candidate_bundle(coinc.read_bytes(), gwcand_samples.model_psd(), far_hz=1e-9)
    _store(spool, bundle, "G197392.tar")


MAKERS = {"gw": _gw, "notices": _notices, "frb": _frb, "gwcand": _gwcand}


def tiny_spool(kind: str, root: Path) -> Spool:
    """A fresh spool at ``root`` with ``.test/<kind>``'s config and that kind's sample entries."""
    assert cli.main(["init", str(root)]) == 0
    spool = Spool(root)
    shutil.copy(DOT_TEST / kind / "config" / "config.yaml", spool.config_file)
    with tempfile.TemporaryDirectory() as scratch:
        MAKERS[kind](spool, Path(scratch))
    return spool


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: python tests/tiny_spools.py {{{'|'.join(KINDS)}}} DIR")
    print(tiny_spool(sys.argv[1], Path(sys.argv[2])).root)
