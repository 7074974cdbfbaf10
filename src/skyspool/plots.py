"""Sky-map figures: an all-sky map with credible contours, and a 3D volume rendering.

Figures are made with matplotlib's object API (no pyplot state), so that plots made in
parallel threads of one process do not interfere.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from skyspool import skymap as sm


def allsky_figure(skymap: Table, *, title: str, annotation: str, nside: int = 256,
                  levels_percent=(50, 90), position_deg: tuple[float, float] | None = None) -> Figure:
    """Mollweide map of probability per deg2 with the credible contours and a text box."""
    import ligo.skymap.plot  # noqa: F401  (registers the 'astro hours mollweide' projection)

    prob = sm.flat_probabilities(skymap, nside)
    figure = Figure(figsize=(8, 5.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(projection="astro hours mollweide")
    axes.grid()
    pixel_area_deg2 = 4 * np.pi * sm.DEG2_PER_SR / prob.size
    # Nearest pixel: at nside >= 128 sky pixels are smaller than the image's, and bilinear
    # weights cost a third of the figure. Contours keep bilinear: smoother lines.
    image = axes.imshow_hpx((prob / pixel_area_deg2, "ICRS"), nested=True, cmap="cylon",
                            order="nearest-neighbor")
    axes.contour_hpx((100 * sm.credible_levels(prob), "ICRS"), nested=True,
                     levels=list(levels_percent), colors="k", linewidths=0.6)
    if position_deg is not None:
        axes.plot(*position_deg, transform=axes.get_transform("world"),
                  marker="+", color="white", markersize=10)
    colorbar = figure.colorbar(image, ax=axes, orientation="horizontal", shrink=0.5, pad=0.06)
    colorbar.set_label("probability per deg$^2$")
    colorbar.ax.ticklabel_format(style="sci", scilimits=(-2, 2))
    axes.set_title(title, fontsize=11)
    figure.text(0.01, 0.01, annotation, fontsize=8, family="monospace", va="bottom")
    return figure


def volume_figure(skymap: Table, *, title: str, samples: int = 50_000, bins: int = 120,
                  seed: int = 0) -> Figure:
    """Three orthogonal projections of the 3D probability density and the distance posterior.

    The projections are histograms of ``samples`` positions drawn from the 3D posterior
    (pixel by probability, then distance by inverse transform of ligo.skymap's conditional
    distance distribution), seen along the principal axes as ``ligo-skymap-plot-volume``
    does. Its ray-traced ``volume_render`` takes tens of seconds here; sampling takes <1 s.
    """
    import healpy as hp
    import ligo.skymap.plot  # noqa: F401  (registers the 'cylon' colour map)
    from ligo.skymap import moc
    from ligo.skymap.distance import conditional_ppf, marginal_pdf, principal_axes_moc

    rng = np.random.default_rng(seed)
    prob = sm.pixel_probabilities(skymap)
    picked = rng.choice(len(prob), size=samples, p=prob / prob.sum())
    distance_mpc = conditional_ppf(rng.uniform(size=samples), skymap["DISTMU"][picked],
                                   skymap["DISTSIGMA"][picked], skymap["DISTNORM"][picked])
    order, ipix = moc.uniq2nest(np.asarray(skymap["UNIQ"])[picked])
    unit_vectors = np.column_stack(hp.pix2vec(np.left_shift(1, order.astype(np.int64)), ipix,
                                              nest=True))
    finite = np.isfinite(distance_mpc)
    xyz = (unit_vectors[finite] * distance_mpc[finite, None]) @ principal_axes_moc(skymap)
    distmean_mpc, diststd_mpc = sm.distance_moments_mpc(skymap)
    max_distance = distmean_mpc + 2.5 * diststd_mpc
    extent = [-max_distance, max_distance]
    figure = Figure(figsize=(7, 7), dpi=100)
    FigureCanvasAgg(figure)
    for axis0, axis1, panel in ((1, 0, 1), (0, 2, 4), (1, 2, 3)):
        density, _, _ = np.histogram2d(xyz[:, axis0], xyz[:, axis1], bins=bins, range=[extent, extent])
        axes = figure.add_subplot(2, 2, panel, aspect=1)
        axes.imshow(density.T, origin="lower", cmap="cylon", extent=extent + extent)
        axes.plot([0], [0], marker="o", markersize=4, markerfacecolor="none", markeredgecolor="k")
        axes.set_xticks([])
        axes.set_yticks([])
    distances_mpc = np.linspace(0, max_distance, 300)
    pdf = marginal_pdf(distances_mpc, prob, np.asarray(skymap["DISTMU"]),
                       np.asarray(skymap["DISTSIGMA"]), np.asarray(skymap["DISTNORM"]))
    axes = figure.add_subplot(2, 2, 2)
    axes.fill_between(distances_mpc, pdf, alpha=0.5)
    axes.set_xlabel("luminosity distance (Mpc)")
    axes.set_yticks([])
    axes.set_xlim(0, max_distance)
    figure.suptitle(f"{title}\nprojections {2 * max_distance:.0f} Mpc across, Earth at the centre",
                    fontsize=10)
    return figure


def regions_figure(events: list[tuple[str, dict]], *, level_percent: int = 90):
    """All-sky map of several events' credible regions: the ``level_percent`` contours of
    each ``(event_id, contours GeoJSON)``, one colour per event, named in the legend."""
    import ligo.skymap.plot  # noqa: F401  (registers the 'astro hours mollweide' projection)
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(10, 5.6))
    axes = figure.add_subplot(projection="astro hours mollweide")
    axes.grid()
    colours = plt.get_cmap("tab10")
    for number, (event_id, geojson) in enumerate(events):
        colour = colours(number % 10)
        for feature in geojson.get("features", []):
            if feature.get("properties", {}).get("credible_level") != level_percent:
                continue
            for line in feature["geometry"]["coordinates"]:
                ra, dec = np.asarray(line, dtype=float).T
                # A line crossing RA 0h/24h is cut there, not drawn across the whole map.
                for piece in np.split(np.arange(len(ra)), np.flatnonzero(np.abs(np.diff(ra)) > 180) + 1):
                    axes.plot(ra[piece], dec[piece], transform=axes.get_transform("world"),
                              color=colour, lw=1.2)
        axes.plot([], [], color=colour, lw=2, label=event_id)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)
    axes.set_title(f"{level_percent}% regions of the {len(events)} most recent GW events")
    figure.tight_layout()
    return figure
