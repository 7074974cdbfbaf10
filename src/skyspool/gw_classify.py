"""Source classification of a pipeline candidate: p_astro and HasNS / HasRemnant / HasMassGap.

p_astro (BNS / NSBH / BBH / Terrestrial), the first of these that applies:

1. the pipeline's own ``p_astro.json``;
2. gstlal's ranking data (``ranking_data.xml.gz`` bundled with the coinc), as GWCelery's
   gstlal handler computed it in O3 with ``ligo.p_astro`` (Kapadia et al. 2020, CQG 37,
   045007: the FGMC multi-component counting posterior): the candidate's ln L
   (``coinc_event.likelihood``) in the signal and noise ln L PDFs gives the astrophysical
   Bayes factor f/b; the noise model, with the zero-lag extinction fit, gives the
   terrestrial count above the threshold (the 10,000th loudest zero-lag event) scaled to
   ``ranking_livetime_s``; f/b goes to BNS/NSBH/BBH by ligo.p_astro's component-mass
   cuts (GWCelery's gstlal handler used per-template weights of gstlal's bank, a file
   ligo.p_astro does not ship) and is weighed against its mean astrophysical counts;
3. otherwise GWCelery 3.0's fallback (``tasks/p_astro.py``, used for pipelines that send no
   p_astro): with the SNR limited as ligo.p_astro's ``choose_snr`` does for the pipeline and
   detectors (its FAR/SNR thresholds file; pipelines it has no limits for keep their SNR), the foreground density f = 3 rho*^3 / rho^4
   (rho* = ``snr_star``), the background b = FAR / ``far_star_hz``, the terrestrial count
   ``far_star_hz`` x ligo.p_astro's livetime, and f/b spread over BNS/NSBH/BBH by
   ligo.p_astro's component-mass cuts against its mean astrophysical counts.

Source properties: ``ligo.em-bright`` (GWCelery's method: its classifiers trained per EOS,
weighted by the EOS Bayes factors; its SSM classifier for SSM searches) when
``gwcand.em_bright.data_dir`` holds its trained data files. It downloads them on first use,
which cannot work here: an operator copies every file of ``ligo.em_bright.PACKAGE_DATA_LINKS``
(from its repository, tag v1.2.0, ``ligo/em_bright/data/``) into that folder; skyspool puts
them in an astropy cache inside it and never lets it download. Otherwise an analytic method from the template's masses and
spins: the masses are drawn around the template (chirp mass to ``mchirp_sigma_frac``,
mass ratio to ``mass_ratio_sigma``), and over the draws HasNS = P(m2 <= max NS mass),
HasMassGap = P(either mass in the gap), HasRemnant = P(remnant mass > 0) from the fit of
Foucart, Hinderer & Nissanke 2018 (PRD 98, 081501) with the NS compactness of a fixed
radius (the EOS: ``ns_radius_km``). ``classification.json`` names the method used.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import importlib.util
import json
import types
from pathlib import Path

import numpy as np

from skyspool.formats.coinc import Candidate

# G Msun / c^2 in km
MSUN_KM = 1.4766250614
# Foucart et al. 2018, eq. (4)
FOUCART = {"alpha": 0.406, "beta": 0.139, "gamma": 0.255, "delta": 1.761}


def _p_astro_data(name: str) -> dict:
    from ligo.p_astro import data

    return json.loads((importlib.resources.files(data) / name).read_text())


def p_astro_fallback(candidate: Candidate, settings: dict) -> dict:
    """p_astro of the four classes by GWCelery's fallback method (see the module doc)."""
    from ligo.p_astro import computation

    limits = _p_astro_data(FAR_SNR_THRESHOLDS)
    pipeline, detectors = candidate.pipeline.lower(), ",".join(sorted(candidate.instruments))
    # ligo.p_astro limits the SNR of pycbc, MBTA and SPIIR; others' (gstlal's) is used as is.
    snr = (computation.choose_snr(candidate.far_hz, candidate.snr, pipeline, set(candidate.instruments), limits)
           if detectors in limits.get(pipeline, {}) else candidate.snr)
    foreground = 3 * settings["snr_star"] ** 3 / snr ** 4
    background = candidate.far_hz / settings["far_star_hz"]
    counts = _p_astro_data(MEAN_COUNTS)
    counts["counts_Terrestrial"] = settings["far_star_hz"] * _p_astro_data(LIVETIME)["p_astro_livetime"]
    values = computation.evaluate_p_astro_from_bayesfac(foreground / background, counts,
                                                        candidate.mass1, candidate.mass2)
    return {name: float(value) for name, value in values.items()}


# ligo.p_astro's mean astrophysical and terrestrial counts (O1-O2).
MEAN_COUNTS = "H1L1V1-mean_counts-1126051217-61603201.json"
FAR_SNR_THRESHOLDS = "H1L1V1-pipeline-far_snr-thresholds.json"
LIVETIME = "p_astro_livetime.json"


def _p_astro_gstlal():
    from ligo.p_astro import gstlal_utils

    # ligo.p_astro 1.0.2 (the latest) calls numpy.trapz, removed in numpy 2.4: its module
    # alone sees a numpy namespace that still has it under that name.
    if not hasattr(gstlal_utils.np, "trapz"):
        names = {name: getattr(np, name) for name in dir(np) if not name.startswith("__")}
        gstlal_utils.np = types.SimpleNamespace(**names, trapz=np.trapezoid)
    return gstlal_utils


def p_astro_from_ranking_data(candidate: Candidate, ranking_data: bytes, settings: dict) -> dict:
    """p_astro of the four classes from gstlal's ranking data (see the module doc); raises
    ValueError (or ligo.p_astro's AssertionError) when the PDFs give no finite Bayes factor
    at the candidate's ln L or too few zero-lag events for the extinction fit."""
    from ligo.p_astro import computation

    gstlal_utils = _p_astro_gstlal()
    ln_f_over_b, terrestrial_count = gstlal_utils._get_ln_f_over_b(
        ranking_data, [candidate.ln_likelihood_ratio], settings["ranking_livetime_s"],
        settings["ranking_extinct_bins"])
    counts = _p_astro_data(MEAN_COUNTS)
    counts["counts_Terrestrial"] = terrestrial_count
    # No template weights: ligo.p_astro falls back on its component-mass cuts.
    values = computation.evaluate_p_astro_from_bayesfac(
        float(np.exp(ln_f_over_b[0])), counts, max(candidate.mass1, candidate.mass2),
        min(candidate.mass1, candidate.mass2))
    return {name: float(value) for name, value in values.items()}


def _kerr_isco(chi):
    """ISCO radius in units of the BH mass, for aligned spin ``chi`` (Bardeen et al. 1972)."""
    z1 = 1 + np.cbrt(1 - chi ** 2) * (np.cbrt(1 + chi) + np.cbrt(1 - chi))
    z2 = np.sqrt(3 * chi ** 2 + z1 ** 2)
    return 3 + z2 - np.sign(chi) * np.sqrt((3 - z1) * (3 + z1 + 2 * z2))


def remnant_mass(m_bh, m_ns, chi_bh, ns_radius_km):
    """Baryon mass (Msun) outside the BH after an NSBH merger (Foucart et al. 2018)."""
    compactness = MSUN_KM * m_ns / ns_radius_km
    baryon_mass = m_ns * (1 + 0.6 * compactness / (1 - 0.5 * compactness))  # Lattimer & Prakash 2001
    eta = m_bh * m_ns / (m_bh + m_ns) ** 2
    f = FOUCART
    core = (f["alpha"] * (1 - 2 * compactness) / np.cbrt(eta)
            - f["beta"] * _kerr_isco(chi_bh) * compactness / eta + f["gamma"])
    return baryon_mass * np.maximum(core, 0) ** f["delta"]


def _mass_draws(candidate: Candidate, settings: dict, rng) -> tuple[np.ndarray, np.ndarray]:
    """(m1, m2) drawn around the template: chirp mass well measured, mass ratio poorly."""
    n = settings["samples"]
    mchirp = candidate.mchirp * (1 + settings["mchirp_sigma_frac"] * rng.standard_normal(n))
    q0 = min(candidate.mass1, candidate.mass2) / max(candidate.mass1, candidate.mass2)
    q = np.clip(q0 + settings["mass_ratio_sigma"] * rng.standard_normal(n), 0.05, 1.0)
    # m1 from the chirp mass and q = m2/m1: Mc = m1 q^(3/5) / (1 + q)^(1/5)
    m1 = mchirp * (1 + q) ** 0.2 / q ** 0.6
    return m1, q * m1


def properties_analytic(candidate: Candidate, settings: dict) -> dict:
    """HasNS, HasRemnant, HasMassGap from the masses and spins (see the module doc)."""
    rng = np.random.default_rng(settings["seed"])
    m1, m2 = _mass_draws(candidate, settings, rng)
    max_ns = settings["max_ns_mass_msun"]
    gap_low, gap_high = settings["mass_gap_msun"]
    chi1 = candidate.spin1z if candidate.mass1 >= candidate.mass2 else candidate.spin2z
    has_ns = m2 <= max_ns
    remnant = np.where(m1 <= max_ns, 1.0, remnant_mass(m1, m2, chi1, settings["ns_radius_km"]))
    in_gap = ((m1 >= gap_low) & (m1 <= gap_high)) | ((m2 >= gap_low) & (m2 <= gap_high))
    return {"HasNS": float(has_ns.mean()), "HasRemnant": float((has_ns & (remnant > 0)).mean()),
            "HasMassGap": float(in_gap.mean())}


def _em_bright_module(data_dir: str | None):
    """ligo.em-bright's ``em_bright`` module with its trained data files from ``data_dir``
    (every file of its ``PACKAGE_DATA_LINKS``), or None (the reason as second value) when
    it cannot run. The files go into an astropy cache inside ``data_dir``, so that its
    import finds them there and never downloads."""
    if data_dir is None:
        return None, "gwcand.em_bright.data_dir not set"
    if importlib.util.find_spec("ligo.em_bright") is None:
        return None, "ligo.em-bright not installed"
    folder = Path(data_dir)
    import ligo.em_bright
    from astropy.config.paths import set_temp_cache
    from astropy.utils.data import conf, import_file_to_cache, is_url_in_cache

    links = ligo.em_bright.PACKAGE_DATA_LINKS
    missing = sorted(name for name in links if not (folder / name).is_file())
    if missing:
        return None, f"{len(missing)} ligo.em-bright data files missing in {folder} (e.g. {missing[0]})"
    cache = folder / "astropy-cache"
    cache.mkdir(exist_ok=True)
    with set_temp_cache(cache), conf.set_temp("allow_internet", False):
        for name, url in links.items():
            if not is_url_in_cache(url, pkgname="ligo.em_bright"):
                import_file_to_cache(url, str(folder / name), remove_original=False, pkgname="ligo.em_bright")
        from ligo.em_bright import em_bright
    return em_bright, f"ligo.em-bright {ligo.em_bright.__version__} with the data files of {folder}"


def properties(candidate: Candidate, settings: dict) -> tuple[dict, str]:
    """(HasNS/HasRemnant/HasMassGap, or HasSSM/HasNS/HasMassGap for SSM searches; the method
    that made them): ligo.em-bright when its data files are in ``data_dir``, else analytic."""
    em_bright, why = _em_bright_module(settings.get("data_dir"))
    if em_bright is not None and candidate.search == "SSM" and candidate.pipeline.lower() in ("gstlal", "mbta"):
        values = em_bright.source_classification_ssm(candidate.mass1, candidate.mass2, candidate.spin1z,
                                                     candidate.spin2z, candidate.mchirp, candidate.snr,
                                                     candidate.pipeline.lower())
        return dict(zip(("HasSSM", "HasNS", "HasMassGap"), map(float, values))), why
    if em_bright is not None and candidate.search != "SSM":
        values = em_bright.source_classification(candidate.mass1, candidate.mass2, candidate.spin1z,
                                                 candidate.spin2z, candidate.snr)
        return dict(zip(("HasNS", "HasRemnant", "HasMassGap"), map(float, values))), why
    if candidate.search == "SSM":
        return _ssm_properties(candidate, settings), (
            f"analytic ({why}): HasSSM = P(lighter mass < 1 Msun) over masses around the template")
    return (properties_analytic(candidate, settings),
            f"analytic ({why}): masses around the template, max NS mass {settings['max_ns_mass_msun']} Msun, "
            f"Foucart et al. 2018 remnant fit with NS radius {settings['ns_radius_km']} km")


def p_astro(candidate: Candidate, ranking_data: bytes | None, settings: dict) -> tuple[dict, str]:
    """(p_astro of the four classes, the method that made it): see the module doc."""
    if candidate.p_astro is not None:
        return candidate.p_astro, f"{candidate.pipeline} p_astro.json"
    fallback = "GWCelery fallback: ligo.p_astro from FAR, SNR and component masses (gwcand.p_astro)"
    if ranking_data is not None:
        try:
            return (p_astro_from_ranking_data(candidate, ranking_data, settings),
                    f"ranking data: ligo.p_astro FGMC from {candidate.pipeline} ranking_data.xml.gz "
                    f"at ln L {candidate.ln_likelihood_ratio:.2f}")
        except (ValueError, AssertionError) as exc:  # as GWCelery: the approximate method instead
            fallback += f"; ranking data gave no p_astro ({exc})"
    return p_astro_fallback(candidate, settings), fallback


def _ssm_properties(candidate: Candidate, settings: dict) -> dict:
    """SSM searches (sub-solar-mass): HasSSM = P(lighter mass < 1 Msun) over the same mass
    draws, with HasNS and HasMassGap, as GWCelery's SSM em-bright fields (no HasRemnant)."""
    m1, m2 = _mass_draws(candidate, settings, np.random.default_rng(settings["seed"]))
    props = properties_analytic(candidate, settings)
    return {"HasSSM": float((np.minimum(m1, m2) < 1.0).mean()), "HasNS": props["HasNS"],
            "HasMassGap": props["HasMassGap"]}


def classification_dict(candidate: Candidate, settings: dict, ranking_data: bytes | None = None) -> dict:
    """The content of a candidate's ``classification.json``, per search as GWCelery 3.0:
    bursts get no p_astro or source properties; cWB's BBH search gets source properties for
    equal masses 2^(1/5) x its chirp mass (30 Msun when it gives none) and its own p_astro;
    SSM searches get HasSSM/HasNS/HasMassGap and no p_astro."""
    bbh = candidate.group == "Burst" and candidate.pipeline.lower() == "cwb" and candidate.search == "BBH"
    record = {"candidate_id": candidate.candidate_id, "group": candidate.group, "search": candidate.search}
    if candidate.group != "CBC" and not bbh:
        return record | {"p_astro": {}, "p_astro_method": "none: burst candidate",
                         "properties": {}, "properties_method": "none: burst candidate"}
    if bbh:
        mass = 2 ** 0.2 * candidate.mchirp if candidate.mchirp > 0 else 30.0
        candidate = dataclasses.replace(candidate, mass1=mass, mass2=mass, spin1z=0.0, spin2z=0.0,
                                        mchirp=mass * 2 ** -0.2)
    props, method = properties(candidate, settings["em_bright"])
    if candidate.search == "SSM":
        p_astro_values, p_astro_method = {}, "none: SSM search (GWCelery sends no p_astro)"
    elif bbh:
        p_astro_values, p_astro_method = ((candidate.p_astro, "CWB p_astro.json") if candidate.p_astro
                                          else ({}, "none: cWB BBH candidate sent no p_astro.json"))
    else:
        p_astro_values, p_astro_method = p_astro(candidate, ranking_data, settings["p_astro"])
    return record | {"p_astro": p_astro_values, "p_astro_method": p_astro_method,
                     "properties": props, "properties_method": method,
                     "template": {"mass1_msun": candidate.mass1, "mass2_msun": candidate.mass2,
                                  "spin1z": candidate.spin1z, "spin2z": candidate.spin2z,
                                  "mchirp_msun": candidate.mchirp}}
