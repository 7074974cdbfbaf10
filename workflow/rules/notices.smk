# Products of GCN notices: products/<kind>/<trigger_id>/<NNN>-<notice_type>/<product>
# (kinds grb, neutrino, snews, frb), and the GW-external coincidence products under a GW
# entry. Each rule calls one function of skyspool.notices.products or skyspool.coincidence
# (contours: the same function as GW maps).

from skyspool.gw import products as gw
from skyspool.notices import products as notice_products


rule notice_json:
    input:
        notice_entry,
        notice_mission_map,
    output:
        "products/{kind}/{event}/{entry}/notice.json",
    log:
        "logs/{kind}/{event}/{entry}/notice_json.log",
    priority: contract.priority("notice_json")
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_notice_json, input[0], output[0])


rule notice_skymap:
    input:
        notice_entry,
        notice_mission_map,
    output:
        "products/{kind}/{event}/{entry}/skymap.multiorder.fits",
    log:
        "logs/{kind}/{event}/{entry}/skymap_multiorder.log",
    priority: contract.priority("notice_skymap")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_skymap, input[0], output[0], config["gcn_notices"])


rule notice_stats:
    input:
        notice=notice_entry,
        skymap=notice_skymap_if_any,
    output:
        "products/{kind}/{event}/{entry}/stats.json",
    log:
        "logs/{kind}/{event}/{entry}/stats.log",
    priority: contract.priority("notice_stats")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            notice_products.write_stats,
            input.notice,
            input.skymap[0] if input.skymap else None,
            output[0],
        )


rule notice_moc90:
    input:
        "products/{kind}/{event}/{entry}/skymap.multiorder.fits",
    output:
        "products/{kind}/{event}/{entry}/moc90.fits",
    log:
        "logs/{kind}/{event}/{entry}/moc90.log",
    priority: contract.priority("notice_moc90")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_moc, input[0], output[0], 90)


rule notice_contours:
    input:
        "products/{kind}/{event}/{entry}/skymap.multiorder.fits",
    output:
        "products/{kind}/{event}/{entry}/contours.geojson",
    log:
        "logs/{kind}/{event}/{entry}/contours.log",
    params:
        levels=config["skymap"]["credible_levels"],
        max_nside=config["skymap"]["contour_nside"],
        min_pixels=config["skymap"]["contour_min_pixels"],
    priority: contract.priority("notice_contours")
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(
            log[0], rule, gw.write_contours, input[0], output[0], params.levels, params.max_nside, params.min_pixels
        )


rule notice_skymap_png:
    input:
        skymap="products/{kind}/{event}/{entry}/skymap.multiorder.fits",
        stats="products/{kind}/{event}/{entry}/stats.json",
    output:
        report(
            "products/{kind}/{event}/{entry}/skymap.png",
            caption="../report/skymap.rst",
            category="{event}",
            subcategory="{entry}",
            labels={"product": "sky map"},
        ),
    log:
        "logs/{kind}/{event}/{entry}/skymap_png.log",
    params:
        nside=config["skymap"]["plot_nside"],
    priority: contract.priority("notice_skymap_png")
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(
            log[0], rule, notice_products.write_skymap_png, input.skymap, input.stats, output[0], params.nside
        )


rule notice_earth_moc:
    input:
        notice_entry,
    output:
        "products/{kind}/{event}/{entry}/earth_moc.fits",
    log:
        "logs/{kind}/{event}/{entry}/earth_moc.log",
    priority: contract.priority("notice_earth_moc")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_earth_moc, input[0], output[0])


rule notice_lat_fov_moc:
    input:
        notice_entry,
    output:
        "products/{kind}/{event}/{entry}/lat_fov_moc.fits",
    log:
        "logs/{kind}/{event}/{entry}/lat_fov_moc.log",
    params:
        radius=config["gcn_notices"]["lat_fov_radius_deg"],
    priority: contract.priority("notice_lat_fov_moc")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, notice_products.write_lat_fov_moc, input[0], output[0], params.radius)


rule notice_coincidences:
    input:
        notice=notice_entry,
        partners=coincidence_partners,
    output:
        "products/{kind}/{event}/{entry}/coincidences.json",
    log:
        "logs/{kind}/{event}/{entry}/coincidences.log",
    priority: contract.priority("notice_coincidences")
    resources:
        mem_mb=1000,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            coincidence.write_coincidences,
            SPOOL.root,
            wildcards.kind,
            wildcards.event,
            wildcards.entry,
            output[0],
            config,
        )


rule gw_coincidences:
    input:
        alert=spool_entry("gw"),
        partners=coincidence_partners,
    output:
        "products/gw/{event}/{entry}/coincidences.json",
    log:
        "logs/gw/{event}/{entry}/coincidences.log",
    priority: contract.priority("gw_coincidences")
    resources:
        mem_mb=1000,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            coincidence.write_coincidences,
            SPOOL.root,
            "gw",
            wildcards.event,
            wildcards.entry,
            output[0],
            config,
        )


rule gw_combined_skymap:
    input:
        alert=spool_entry("gw"),
        coincidences="products/gw/{event}/{entry}/coincidences.json",
    output:
        "products/gw/{event}/{entry}/combined.multiorder.fits",
    log:
        "logs/gw/{event}/{entry}/combined_multiorder.log",
    priority: contract.priority("gw_combined_skymap")
    resources:
        mem_mb=1000,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            coincidence.write_combined,
            SPOOL.root,
            wildcards.event,
            wildcards.entry,
            input.coincidences,
            output[0],
            config,
        )


rule gw_combined_png:
    input:
        combined="products/gw/{event}/{entry}/combined.multiorder.fits",
        coincidences="products/gw/{event}/{entry}/coincidences.json",
    output:
        report(
            "products/gw/{event}/{entry}/combined.png",
            caption="../report/combined.rst",
            category="{event}",
            subcategory="{entry}",
            labels={"product": "combined sky map"},
        ),
    log:
        "logs/gw/{event}/{entry}/combined_png.log",
    params:
        nside=config["skymap"]["plot_nside"],
    priority: contract.priority("gw_combined_png")
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(
            log[0],
            rule,
            coincidence.write_combined_png,
            input.combined,
            input.coincidences,
            output[0],
            params.nside,
        )
