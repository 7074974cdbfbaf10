"""Error regions other than a circle, as components of ``notices.maps.mixture_map``.

- an ellipse (GCN ``ra_dec_error`` [a, b, position angle]): a bivariate Gaussian in the plane
  tangent at the position whose ellipse of semi-axes (a, b) holds ``error_containment``;
- a rectangle (MAXI ``rectangular_error_corners``): uniform probability inside the spherical
  quadrilateral of the four corners (great-circle sides).

Each component has what ``mixture_map`` uses of a Fisher component: ``unit_vector()``,
``sigma_rad`` (sets the pixel size and, times ``EXTENT_SIGMAS``, how far pixels are refined)
and ``density(xyz)`` per steradian. Angles in degrees unless named ``_rad``.
"""

from __future__ import annotations

import dataclasses
import math

import healpy as hp
import numpy as np

from skyspool.notices import Notice


@dataclasses.dataclass(frozen=True)
class Ellipse:
    """A bivariate Gaussian of standard deviations ``sigma_a_rad`` along the position angle
    (east of north) and ``sigma_b_rad`` across it, in the tangent plane at (ra, dec)."""

    weight: float
    ra_deg: float
    dec_deg: float
    sigma_a_rad: float
    sigma_b_rad: float
    angle_deg: float

    @property
    def sigma_rad(self) -> float:
        return max(self.sigma_a_rad, self.sigma_b_rad)

    def unit_vector(self) -> np.ndarray:
        return np.asarray(hp.ang2vec(self.ra_deg, self.dec_deg, lonlat=True))

    def density(self, xyz: np.ndarray) -> np.ndarray:
        ra, dec = math.radians(self.ra_deg), math.radians(self.dec_deg)
        east = np.array([-math.sin(ra), math.cos(ra), 0.0])
        north = np.array([-math.sin(dec) * math.cos(ra), -math.sin(dec) * math.sin(ra), math.cos(dec)])
        centre = self.unit_vector()
        # Gnomonic coordinates; points on the far side (x.centre <= 0) get no probability.
        depth = xyz @ centre
        ahead = depth > 0
        safe = np.where(ahead, depth, 1.0)
        x_east, y_north = (xyz @ east) / safe, (xyz @ north) / safe
        theta = math.radians(self.angle_deg)
        along = y_north * math.cos(theta) + x_east * math.sin(theta)
        across = -y_north * math.sin(theta) + x_east * math.cos(theta)
        exponent = (along / self.sigma_a_rad) ** 2 + (across / self.sigma_b_rad) ** 2
        norm = 1 / (2 * math.pi * self.sigma_a_rad * self.sigma_b_rad)
        return np.where(ahead, self.weight * norm * np.exp(-0.5 * exponent) / safe ** 3, 0.0)


def ellipse_component(notice: Notice) -> Ellipse:
    """The notice's error ellipse, holding ``error_containment`` within its semi-axes."""
    a_deg, b_deg, angle_deg = notice.error_ellipse
    # A 2-D Gaussian holds p within the ellipse of k sigmas, k = sqrt(-2 ln(1 - p)).
    sigmas = math.sqrt(-2 * math.log1p(-(notice.error_containment or 0.9)))
    return Ellipse(1.0, notice.ra_deg, notice.dec_deg, math.radians(a_deg) / sigmas,
                   math.radians(b_deg) / sigmas, angle_deg)


@dataclasses.dataclass(frozen=True)
class Rectangle:
    """Uniform probability inside a convex spherical quadrilateral of ``corners`` (ra, dec)."""

    weight: float
    corners: tuple[tuple[float, float], ...]

    def _corner_vectors(self) -> np.ndarray:
        return np.array([hp.ang2vec(ra, dec, lonlat=True) for ra, dec in self.corners])

    def unit_vector(self) -> np.ndarray:
        centre = self._corner_vectors().sum(axis=0)
        return centre / np.linalg.norm(centre)

    @property
    def sigma_rad(self) -> float:
        # Refined out to the farthest corner (EXTENT_SIGMAS = 6 sigmas), pixels of a 24th of it.
        reach = max(math.acos(min(1.0, float(v @ self.unit_vector()))) for v in self._corner_vectors())
        return reach / 6

    def inside(self, xyz: np.ndarray) -> np.ndarray:
        corners = self._corner_vectors()
        normals = [np.cross(corners[i], corners[(i + 1) % len(corners)]) for i in range(len(corners))]
        if normals[0] @ self.unit_vector() < 0:  # corners given clockwise
            normals = [-n for n in normals]
        return np.all([xyz @ n >= 0 for n in normals], axis=0)

    def density(self, xyz: np.ndarray) -> np.ndarray:
        inside = self.inside(xyz)
        return np.where(inside, self.weight, 0.0)  # normalised over the grid by mixture_map


def region_components(notice: Notice) -> list:
    """The components of a notice's ellipse or rectangle; empty for any other region."""
    if notice.ra_deg is None:
        return []
    if notice.error_rectangle is not None:
        return [Rectangle(1.0, tuple(notice.error_rectangle))]
    if notice.error_ellipse is not None:
        return [ellipse_component(notice)]
    return []
