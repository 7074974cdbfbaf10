# Products of GCN notices: products/<kind>/<trigger_id>/<NNN>-<notice_type>/<product>
# (kinds grb, neutrino, snews, frb), and the GW-external coincidence products under a GW
# entry. Each rule calls one function of skyspool.notices.products or skyspool.coincidence.

from skyspool import coincidence
from skyspool.notices import products as notice_products
from skyspool.notices.targets import notice_products as notice_product_names

NOTICE = "products/{kind}/{event}/{entry}/"
NOTICE_LOG = "logs/{kind}/{event}/{entry}/"
GW_COINC = "products/gw/{event}/{entry}/"
GW_COINC_LOG = "logs/gw/{event}/{entry}/"


wildcard_constraints:
    kind=r"grb|neutrino|snews|frb",


def notice_entry(wildcards):
    """Input function: the spool file of the notice entry named by the wildcards."""
    entry = SPOOL.find_entry(wildcards.kind, wildcards.event, wildcards.entry)
    return str(entry.path.relative_to(SPOOL.root))


def coincidence_partners(wildcards):
    """Input function: spool files of the other side's coinciding entries (a new partner
    is a new input, so Snakemake remakes the coincidence products)."""
    entry = SPOOL.find_entry(getattr(wildcards, "kind", "gw"), wildcards.event, wildcards.entry)
    return coincidence.partner_paths(SPOOL, entry, config)


rule notice_json:
    input:
        notice_entry,
    output:
        NOTICE + "notice.json",
    log:
        NOTICE_LOG + "notice_json.log",
    priority: 50
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_notice_json, input[0], output[0])


rule notice_skymap:
    input:
        notice_entry,
    output:
        NOTICE + "skymap.multiorder.fits",
    log:
        NOTICE_LOG + "skymap_multiorder.log",
    priority: 40
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_skymap, input[0], output[0],
                   config["notices"])


def notice_skymap_if_any(wildcards):
    """skymap.multiorder.fits when the notice can have one."""
    entry = SPOOL.find_entry(wildcards.kind, wildcards.event, wildcards.entry)
    if "skymap.multiorder.fits" not in notice_product_names(entry, config):
        return []
    return [f"products/{wildcards.kind}/{wildcards.event}/{wildcards.entry}/skymap.multiorder.fits"]


rule notice_stats:
    input:
        notice=notice_entry,
        skymap=notice_skymap_if_any,
    output:
        NOTICE + "stats.json",
    log:
        NOTICE_LOG + "stats.log",
    priority: 40
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_stats, input.notice,
                   input.skymap[0] if input.skymap else None, output[0])


rule notice_moc90:
    input:
        NOTICE + "skymap.multiorder.fits",
    output:
        NOTICE + "moc90.fits",
    log:
        NOTICE_LOG + "moc90.log",
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_moc, input[0], output[0], 90)


rule notice_contours:
    input:
        NOTICE + "skymap.multiorder.fits",
    output:
        NOTICE + "contours.geojson",
    log:
        NOTICE_LOG + "contours.log",
    params:
        levels=config["skymap"]["credible_levels"],
        nside=config["skymap"]["contour_nside"],
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(log[0], rule, notice_products.write_contours, input[0], output[0],
                   params.levels, params.nside)


rule notice_skymap_png:
    input:
        skymap=NOTICE + "skymap.multiorder.fits",
        stats=NOTICE + "stats.json",
    output:
        NOTICE + "skymap.png",
    log:
        NOTICE_LOG + "skymap_png.log",
    params:
        nside=config["skymap"]["plot_nside"],
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(log[0], rule, notice_products.write_skymap_png, input.skymap, input.stats,
                   output[0], params.nside)


rule notice_earth_moc:
    input:
        notice_entry,
    output:
        NOTICE + "earth_moc.fits",
    log:
        NOTICE_LOG + "earth_moc.log",
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_earth_moc, input[0], output[0])


rule notice_lat_fov_moc:
    input:
        notice_entry,
    output:
        NOTICE + "lat_fov_moc.fits",
    log:
        NOTICE_LOG + "lat_fov_moc.log",
    params:
        radius=config["notices"]["lat_fov_radius_deg"],
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_lat_fov_moc, input[0], output[0],
                   params.radius)


rule notice_coincidences:
    input:
        notice=notice_entry,
        partners=coincidence_partners,
    output:
        NOTICE + "coincidences.json",
    log:
        NOTICE_LOG + "coincidences.log",
    priority: 45
    resources:
        mem_mb=1000,
        runtime=5,
    run:
        run_logged(log[0], rule, coincidence.write_coincidences, SPOOL.root, wildcards.kind,
                   wildcards.event, wildcards.entry, output[0], config)


rule gw_coincidences:
    input:
        alert=spool_entry("gw"),
        partners=coincidence_partners,
    output:
        GW_COINC + "coincidences.json",
    log:
        GW_COINC_LOG + "coincidences.log",
    priority: 45
    resources:
        mem_mb=1000,
        runtime=5,
    run:
        run_logged(log[0], rule, coincidence.write_coincidences, SPOOL.root, "gw",
                   wildcards.event, wildcards.entry, output[0], config)


rule gw_combined_skymap:
    input:
        alert=spool_entry("gw"),
        coincidences=GW_COINC + "coincidences.json",
    output:
        GW_COINC + "combined.multiorder.fits",
    log:
        GW_COINC_LOG + "combined_multiorder.log",
    priority: 40
    resources:
        mem_mb=1000,
        runtime=5,
    run:
        run_logged(log[0], rule, coincidence.write_combined, SPOOL.root, wildcards.event,
                   wildcards.entry, input.coincidences, output[0], config)


rule gw_combined_png:
    input:
        combined=GW_COINC + "combined.multiorder.fits",
        coincidences=GW_COINC + "coincidences.json",
    output:
        GW_COINC + "combined.png",
    log:
        GW_COINC_LOG + "combined_png.log",
    params:
        nside=config["skymap"]["plot_nside"],
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(log[0], rule, coincidence.write_combined_png, input.combined,
                   input.coincidences, output[0], params.nside)
