# Products of a GW alert: products/gw/<superevent_id>/<NNN>-<alert_type>/<product>.
# Each rule calls one function of skyspool.gw.products; the notice path has the highest
# priority so that it is written first.

from skyspool.gw import products as gw
from skyspool.gw.targets import alert_has_skymap

GW = "products/gw/{event}/{entry}/"
GW_LOG = "logs/gw/{event}/{entry}/"


def gw_stats_if_map(wildcards):
    """stats.json when the alert has a sky map (not for retractions)."""
    alert_path = SPOOL.root / spool_entry("gw")(wildcards)
    return [GW + "stats.json"] if alert_has_skymap(alert_path) else []


def gw_coincidences_unless_retraction(wildcards):
    """coincidences.json, which every alert but a retraction has."""
    return [] if wildcards.entry.endswith("-retraction") else [GW + "coincidences.json"]


def gw_role(wildcards):
    """VOEvent role: mock (MS...) and test (TS...) superevents are tests."""
    return "test" if wildcards.event[:1] in ("M", "T") else "observation"


rule gw_skymap_multiorder:
    input:
        spool_entry("gw"),
    output:
        GW + "skymap.multiorder.fits",
    log:
        GW_LOG + "skymap_multiorder.log",
    priority: 40
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_multiorder, input[0], output[0])


rule gw_stats:
    input:
        alert=spool_entry("gw"),
        skymap=GW + "skymap.multiorder.fits",
    output:
        GW + "stats.json",
    log:
        GW_LOG + "stats.log",
    priority: 40
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_stats, input.alert, input.skymap, output[0])


rule gw_notice_json:
    input:
        alert=spool_entry("gw"),
        stats=gw_stats_if_map,
        coincidences=gw_coincidences_unless_retraction,
    output:
        GW + "notice.json",
    log:
        GW_LOG + "notice_json.log",
    params:
        sequence=sequence,
    priority: 50
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_notice_json, input.alert,
                   input.stats[0] if input.stats else None,
                   input.coincidences[0] if input.coincidences else None, output[0],
                   params.sequence)


rule gw_notice_xml:
    input:
        alert=spool_entry("gw"),
        stats=gw_stats_if_map,
    output:
        GW + "notice.xml",
    log:
        GW_LOG + "notice_xml.log",
    params:
        sequence=sequence,
        role=gw_role,
    priority: 45
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_notice_xml, input.alert,
                   input.stats[0] if input.stats else None, output[0], params.sequence,
                   config["notice"], params.role)


rule gw_circular:
    input:
        alert=spool_entry("gw"),
        stats=gw_stats_if_map,
        coincidences=gw_coincidences_unless_retraction,
    output:
        GW + "circular.txt",
    log:
        GW_LOG + "circular.log",
    priority: 45
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_circular, input.alert,
                   input.stats[0] if input.stats else None,
                   input.coincidences[0] if input.coincidences else None, output[0])


rule gw_classification:
    input:
        spool_entry("gw"),
    output:
        GW + "classification.json",
    log:
        GW_LOG + "classification.log",
    priority: 30
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_classification, input[0], output[0])


rule gw_skymap_flat:
    input:
        GW + "skymap.multiorder.fits",
    output:
        GW + "skymap.flat.fits.gz",
    log:
        GW_LOG + "skymap_flat.log",
    params:
        nside=config["skymap"]["flat_nside"],
    resources:
        mem_mb=lambda wildcards: 2000 + (config["skymap"]["flat_nside"] // 512) ** 2 * 1000,
        runtime=10,
    run:
        run_logged(log[0], rule, gw.write_flat, input[0], output[0], params.nside)


rule gw_contours:
    input:
        GW + "skymap.multiorder.fits",
    output:
        GW + "contours.geojson",
    log:
        GW_LOG + "contours.log",
    params:
        levels=config["skymap"]["credible_levels"],
        nside=config["skymap"]["contour_nside"],
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(log[0], rule, gw.write_contours, input[0], output[0], params.levels,
                   params.nside)


rule gw_moc:
    input:
        GW + "skymap.multiorder.fits",
    output:
        GW + "moc{level}.fits",
    log:
        GW_LOG + "moc{level}.log",
    wildcard_constraints:
        level=r"50|90",
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_moc, input[0], output[0], float(wildcards.level))


rule gw_skymap_png:
    input:
        skymap=GW + "skymap.multiorder.fits",
        stats=GW + "stats.json",
    output:
        GW + "skymap.png",
    log:
        GW_LOG + "skymap_png.log",
    params:
        nside=config["skymap"]["plot_nside"],
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(log[0], rule, gw.write_skymap_png, input.skymap, input.stats, output[0],
                   params.nside)


rule gw_volume_png:
    input:
        skymap=GW + "skymap.multiorder.fits",
        stats=GW + "stats.json",
    output:
        GW + "volume.png",
    log:
        GW_LOG + "volume_png.log",
    priority: 10
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(log[0], rule, gw.write_volume_png, input.skymap, input.stats, output[0])
