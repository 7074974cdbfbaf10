"""Sky maps of GCN notices: their own, or built from a position and an error radius.

A built map is a mixture of Fisher (von Mises-Fisher) distributions on the sphere, the
spherical form of a circular Gaussian, evaluated on an adaptive multi-order HEALPix grid.
The models are those GWCelery 3.0.0 builds for RAVEN (``tasks/external_skymaps.py``):

- Fermi GBM: the core-plus-tail systematic model of Connaughton et al. 2015 (ApJS 216, 32)
  with the parameters of the notice type (:data:`GBM_MODELS`: flight, ground, final), each
  component a Fisher distribution of kappa = 1 / (0.4356 (stat^2 + sys^2)) rad^-2 around the
  notice's error radius as given;
- Swift and IceCube: a cone whose 90% radius is converted to a 1-sigma width by dividing by
  sqrt(-2 ln 0.1) = 2.146; other missions: the radius taken as the 1-sigma width; every width
  at least :data:`MIN_SIGMA_DEG`.

A mission's own HEALPix map carried in the notice (GCN JSON ``healpix_file``), or dropped
into the inbox for a notice's ``healpix_url`` (:mod:`skyspool.notices.mission_maps`), is used instead.

Also here: the Earth-occultation and Fermi-LAT field-of-view MOCs at the trigger time,
from the spacecraft position a Fermi GBM notice carries. Angles in degrees.
"""

from __future__ import annotations

import dataclasses
import math

import healpy as hp
import numpy as np
from astropy.table import Table
from ligo.skymap import moc
from scipy.optimize import brentq

from skyspool.notices import Notice

EARTH_RADIUS_KM = 6378.137
# Fermi's orbit altitude, for notices that give its latitude and longitude but no height.
FERMI_ALTITUDE_KM = 535.0
TOP_ORDER = 3          # coarsest pixels of a built map (7.3 deg)
MAX_ORDER = 22         # finest (0.05 arcsec): enough for an XRT arc-second error circle
EXTENT_SIGMAS = 6.0    # refine out to this many widths of a component
PIXELS_PER_SIGMA = 4.0


@dataclasses.dataclass(frozen=True)
class Fisher:
    """One Fisher distribution: weight, centre (deg) and concentration kappa (1/rad^2)."""

    weight: float
    ra_deg: float
    dec_deg: float
    kappa: float

    @property
    def sigma_rad(self) -> float:
        return 1 / math.sqrt(self.kappa)

    def unit_vector(self) -> np.ndarray:
        return np.asarray(hp.ang2vec(self.ra_deg, self.dec_deg, lonlat=True))

    def density(self, xyz: np.ndarray) -> np.ndarray:
        """Probability per steradian at unit vectors ``xyz`` (shape (n, 3))."""
        # 1 - cos(angle) = |x - x0|^2 / 2 keeps arc-second distances exact.
        one_minus_cos = 0.5 * np.sum((xyz - self.unit_vector()) ** 2, axis=1)
        norm = self.kappa / (2 * np.pi * -np.expm1(-2 * self.kappa))
        return self.weight * norm * np.exp(-self.kappa * one_minus_cos)


def kappa_for_radius(radius_deg: float, containment: float) -> float:
    """Fisher concentration whose circle of ``radius_deg`` holds ``containment`` (0-1)."""
    if radius_deg <= 0:
        raise ValueError("error radius must be positive")
    one_minus_cos = 2 * math.sin(math.radians(radius_deg) / 2) ** 2

    def excess(log_kappa: float) -> float:
        kappa = math.exp(log_kappa)
        inside = -math.expm1(-kappa * one_minus_cos) / -math.expm1(-2 * kappa)
        return inside - containment

    # Small-angle (Rayleigh) value; the root lies within a few e-folds of it.
    guess = math.log(-math.log1p(-containment) / one_minus_cos)
    return math.exp(brentq(excess, guess - 10, guess + 10, xtol=1e-10))


def kappa_for_sigma(sigma_deg: float) -> float:
    """Fisher concentration of a circular Gaussian of standard deviation ``sigma_deg`` per axis."""
    return 1 / math.radians(sigma_deg) ** 2


# Connaughton et al. 2015 parameters per Fermi GBM notice type, as GWCelery 3.0.0 uses them:
# flight (Table 7, first row), ground (Table 3, first row), final (Table 3, second row).
# Initial alerts and sub-threshold triggers, for which GWCelery builds no model (it waits for
# a position or the mission's map), get the flight and the ground parameters.
GBM_MODELS = {
    "gbm_alert": {"core_weight": 0.897, "core_deg": 7.52, "tail_deg": 55.6},
    "gbm_flt_pos": {"core_weight": 0.897, "core_deg": 7.52, "tail_deg": 55.6},
    "gbm_gnd_pos": {"core_weight": 0.804, "core_deg": 3.72, "tail_deg": 13.7},
    "gbm_fin_pos": {"core_weight": 0.900, "core_deg": 3.71, "tail_deg": 14.3},
    "gbm_subthresh": {"core_weight": 0.804, "core_deg": 3.72, "tail_deg": 13.7},
}
GBM_KAPPA_FACTOR = 0.4356   # kappa = 1 / (0.4356 sigma^2): Connaughton et al. 2015, eq. 2
CONE_90_TO_SIGMA = math.sqrt(-2 * math.log1p(-0.9))   # 2.146: 90% radius / 1-sigma width
CONE_MISSIONS_90 = ("Swift", "IceCube")   # whose radius GWCelery takes as a 90% radius
MIN_SIGMA_DEG = 0.08        # GWCelery's floor on the width of a cone


def gbm_components(notice: Notice, model: dict) -> list[Fisher]:
    """The GBM systematic model of ``model`` (an entry of :data:`GBM_MODELS`) around the notice."""
    stat = math.radians(notice.error_radius_deg)

    def kappa(systematic_deg: float) -> float:
        return 1 / (GBM_KAPPA_FACTOR * (stat ** 2 + math.radians(systematic_deg) ** 2))

    return [Fisher(model["core_weight"], notice.ra_deg, notice.dec_deg, kappa(model["core_deg"])),
            Fisher(1 - model["core_weight"], notice.ra_deg, notice.dec_deg, kappa(model["tail_deg"]))]


def cone_sigma_deg(mission: str, radius_deg: float) -> float:
    """The 1-sigma width (deg) GWCelery gives a cone of this mission's error radius."""
    sigma = radius_deg / CONE_90_TO_SIGMA if mission in CONE_MISSIONS_90 else radius_deg
    return max(sigma, MIN_SIGMA_DEG)


def circle_components(ra_deg: float, dec_deg: float, radius_deg: float, containment: float,
                      weight: float = 1.0) -> list[Fisher]:
    return [Fisher(weight, ra_deg, dec_deg, kappa_for_radius(radius_deg, containment))]


def _target_order(component: Fisher) -> int:
    pixel_rad = component.sigma_rad / PIXELS_PER_SIGMA
    # Pixel side at order o is about sqrt(4 pi / 12) / 2^o = 1.023 / 2^o rad.
    return min(MAX_ORDER, max(TOP_ORDER, math.ceil(math.log2(1.0233 / pixel_rad))))


def mixture_map(components: list[Fisher]) -> Table:
    """Multi-order map (UNIQ, PROBDENSITY per sr) of a mixture of Fisher distributions.

    Pixels are split where a component's own width needs it, out to EXTENT_SIGMAS widths;
    ``ligo.skymap.moc.bayestar_adaptive_grid`` cannot be used because it refines by the
    density at pixel centres, which is zero everywhere at the top order for an arc-second
    error circle. The densities are renormalised to hold exactly 1 over the grid.
    """
    targets = [(c.unit_vector(), c.sigma_rad, _target_order(c)) for c in components]
    orders, pixels = [], []
    order, ipix = TOP_ORDER, np.arange(hp.order2npix(TOP_ORDER), dtype=np.int64)
    while ipix.size:
        nside = hp.order2nside(order)
        split = np.zeros(ipix.size, dtype=bool)
        if order < MAX_ORDER:
            xyz = np.column_stack(hp.pix2vec(nside, ipix, nest=True))
            reach = hp.max_pixrad(nside)
            for centre, sigma, target in targets:
                if target > order:
                    angle = np.arccos(np.clip(xyz @ centre, -1, 1))
                    split |= angle < EXTENT_SIGMAS * sigma + reach
        orders.append(np.full(np.count_nonzero(~split), order))
        pixels.append(ipix[~split])
        ipix = (ipix[split][:, None] * 4 + np.arange(4)).ravel()
        order += 1
    uniq = moc.nest2uniq(np.concatenate(orders).astype(np.int8), np.concatenate(pixels))
    order_of, ipix_of = moc.uniq2nest(uniq)
    xyz = np.empty((uniq.size, 3))
    for level in np.unique(order_of):
        here = order_of == level
        xyz[here] = np.column_stack(hp.pix2vec(hp.order2nside(int(level)), ipix_of[here], nest=True))
    density = sum(c.density(xyz) for c in components)
    density /= np.sum(density * moc.uniq2pixarea(uniq))
    table = Table({"UNIQ": uniq, "PROBDENSITY": density})
    table.sort("UNIQ")
    return table


def notice_components(notice: Notice, regions: bool = True) -> list[Fisher]:
    """The Fisher mixture of a notice's localisation; empty when it has no position.

    An IceCube LVK search gives one equal-weight component per coincident neutrino. With
    ``regions`` an ellipse or rectangle gives the shape; without, the notice's error radius
    gives GWCelery's cone (what RAVEN pairs with, so the joint FARs agree with it).
    """
    from skyspool.notices import shapes

    if regions and notice.has_region:  # an ellipse or a rectangle (notices.shapes)
        return shapes.region_components(notice)
    if notice.coincident_neutrinos:
        weight = 1 / len(notice.coincident_neutrinos)
        return [component for nu in notice.coincident_neutrinos
                for component in circle_components(nu.ra_deg, nu.dec_deg, nu.error_radius_deg,
                                                   nu.error_containment, weight)]
    if not notice.has_position or notice.error_radius_deg <= 0:
        return []
    if notice.mission == "Fermi" and notice.instrument == "GBM":
        return gbm_components(notice, GBM_MODELS.get(notice.notice_type, GBM_MODELS["gbm_flt_pos"]))
    sigma = cone_sigma_deg(notice.mission, notice.error_radius_deg)
    return [Fisher(1.0, notice.ra_deg, notice.dec_deg, kappa_for_sigma(sigma))]


def has_map(notice: Notice) -> bool:
    """True when the notice has its own map or a position and error to build one from."""
    return (notice.skymap is not None or bool(notice.coincident_neutrinos) or notice.has_region
            or (notice.has_position and notice.error_radius_deg > 0))


def notice_skymap(notice: Notice, regions: bool = True) -> Table | None:
    """The notice's own sky map as a multi-order table, else one built from its position
    (``regions``: see :func:`notice_components`)."""
    if notice.skymap is not None:
        from skyspool.skymap import read_multiorder

        return read_multiorder(notice.skymap)
    components = notice_components(notice, regions)
    return mixture_map(components) if components else None


def skymap_source(notice: Notice) -> str | None:
    """Where :func:`notice_skymap` takes the map from: the notice's own map, the model built
    from its position (``model``; ``model, healpix_url not fetched`` when the notice names a
    mission map that cannot be fetched offline), or None."""
    if notice.skymap_file is not None:
        return f"mission map file {notice.skymap_file} (healpix_url)"
    if notice.skymap is not None:
        return "notice healpix_file"
    if not notice_components(notice):
        return None
    return "model, healpix_url not fetched" if notice.skymap_url else "model"


def spacecraft_direction(notice: Notice) -> tuple[np.ndarray, float] | None:
    """(unit vector from the Earth's centre to the spacecraft (ICRS), distance in km)."""
    craft = notice.spacecraft
    if not craft:
        return None
    if "gcrs_km" in craft:
        position = np.asarray(craft["gcrs_km"], dtype=float)
    else:
        from astropy import units as u
        from astropy.coordinates import EarthLocation
        from astropy.time import Time

        site = EarthLocation.from_geodetic(craft["lon_deg"] * u.deg, craft["lat_deg"] * u.deg,
                                           FERMI_ALTITUDE_KM * u.km)
        position = site.get_gcrs(Time(notice.trigger_time)).cartesian.xyz.to_value(u.km)
    distance = float(np.linalg.norm(position))
    if not EARTH_RADIUS_KM < distance < 10 * EARTH_RADIUS_KM:
        return None  # not a low-Earth orbit: the position is not what we think it is
    return position / distance, distance


def _cone_moc(unit_vector: np.ndarray, radius_deg: float, max_depth: int):
    from astropy import units as u
    from astropy.coordinates import Latitude, Longitude
    from mocpy import MOC

    ra_deg, dec_deg = hp.vec2ang(unit_vector, lonlat=True)
    return MOC.from_cone(Longitude(ra_deg[0] * u.deg), Latitude(dec_deg[0] * u.deg),
                         radius=radius_deg * u.deg, max_depth=max_depth)


def earth_occultation_moc(notice: Notice, max_depth: int = 9):
    """MOC of the sky hidden by the Earth from the spacecraft at trigger time, or None."""
    found = spacecraft_direction(notice)
    if found is None:
        return None
    zenith, distance_km = found
    return _cone_moc(-zenith, math.degrees(math.asin(EARTH_RADIUS_KM / distance_km)), max_depth)


def lat_fov_moc(notice: Notice, radius_deg: float, max_depth: int = 9):
    """MOC of the Fermi-LAT field of view at trigger time, or None.

    Approximation: the notice carries no attitude, so the LAT boresight is taken at the
    spacecraft zenith (survey mode rocks it by up to 50 deg from there).
    """
    found = spacecraft_direction(notice)
    return None if found is None else _cone_moc(found[0], radius_deg, max_depth)
