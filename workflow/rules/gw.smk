# Products of a GW alert: products/gw/<superevent_id>/<NNN>-<alert_type>/<product>.
# Each rule calls one function of skyspool.gw.products. Priorities and where each rule runs
# come from the product table (skyspool.contract): the notice path has the highest priority so
# that it is written first, and runs where Snakemake runs (never in a batch queue); the rest may
# go to a cluster (profiles/slurm, profiles/htcondor). Images and
# tables are annotated for `snakemake --report` (captions in workflow/report/).

from skyspool import fermi
from skyspool.gw import products as gw


rule gw_skymap_multiorder:
    input:
        spool_entry("gw"),
    output:
        "products/gw/{event}/{entry}/skymap.multiorder.fits",
    log:
        "logs/gw/{event}/{entry}/skymap_multiorder.log",
    priority: contract.priority("gw_skymap_multiorder")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_multiorder, input[0], output[0])


rule gw_stats:
    input:
        alert=spool_entry("gw"),
        skymap="products/gw/{event}/{entry}/skymap.multiorder.fits",
    output:
        report(
            "products/gw/{event}/{entry}/stats.json",
            caption="../report/stats.rst",
            category="{event}",
            subcategory="{entry}",
            labels={"product": "statistics"},
        ),
    log:
        "logs/gw/{event}/{entry}/stats.log",
    priority: contract.priority("gw_stats")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        # with the Fermi GBM / LAT visibility fields when fermi.enabled
        run_logged(log[0], rule, fermi.write_stats, SPOOL, config, input.alert, input.skymap, output[0])


rule gw_fermi_mocs:
    input:
        alert=spool_entry("gw"),
        skymap="products/gw/{event}/{entry}/skymap.multiorder.fits",
    output:
        occultation="products/gw/{event}/{entry}/fermi_occultation.moc.fits",
        lat="products/gw/{event}/{entry}/lat_fov.moc.fits",
    log:
        "logs/gw/{event}/{entry}/fermi_mocs.log",
    priority: contract.priority("gw_fermi_mocs")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(
            log[0], rule, fermi.write_mocs, SPOOL, config, input.alert, input.skymap, output.occultation, output.lat
        )


rule gw_notice_json:
    input:
        alert=spool_entry("gw"),
        stats=gw_stats_if_map,
        coincidences=gw_coincidences_unless_retraction,
        galaxies=gw_galaxies_for_notice,
    output:
        "products/gw/{event}/{entry}/notice.json",
    log:
        "logs/gw/{event}/{entry}/notice_json.log",
    params:
        sequence=sequence,
    priority: contract.priority("gw_notice_json")
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(
            log[0], rule, gw.write_notice_json, input, output[0], params.sequence, config["galaxies"]["top_n"]
        )


rule gw_notice_xml:
    input:
        alert=spool_entry("gw"),
        stats=gw_stats_if_map,
    output:
        "products/gw/{event}/{entry}/notice.xml",
    log:
        "logs/gw/{event}/{entry}/notice_xml.log",
    params:
        sequence=sequence,
        role=gw_role,
    priority: contract.priority("gw_notice_xml")
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(
            log[0], rule, gw.write_notice_xml, input, output[0], params.sequence, config["gw_voevent"], params.role
        )


rule gw_circular:
    input:
        alert=spool_entry("gw"),
        stats=gw_stats_if_map,
        coincidences=gw_coincidences_unless_retraction,
    output:
        report(
            "products/gw/{event}/{entry}/circular.txt",
            caption="../report/circular.rst",
            category="{event}",
            subcategory="{entry}",
            labels={"product": "GCN Circular draft"},
        ),
    log:
        "logs/gw/{event}/{entry}/circular.log",
    priority: contract.priority("gw_circular")
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_circular, input, output[0])


rule gw_classification:
    input:
        spool_entry("gw"),
    output:
        report(
            "products/gw/{event}/{entry}/classification.json",
            caption="../report/classification.rst",
            category="{event}",
            subcategory="{entry}",
            labels={"product": "classification"},
        ),
    log:
        "logs/gw/{event}/{entry}/classification.log",
    priority: contract.priority("gw_classification")
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_classification, input[0], output[0])


rule gw_skymap_flat:
    input:
        "products/gw/{event}/{entry}/skymap.multiorder.fits",
    output:
        "products/gw/{event}/{entry}/skymap.flat.fits.gz",
    log:
        "logs/gw/{event}/{entry}/skymap_flat.log",
    params:
        nside=config["skymap"]["flat_nside"],
    # ligo.skymap's rasterize has no OpenMP loop (measured: CPU time never above wall time).
    threads: 1
    priority: contract.priority("gw_skymap_flat")
    resources:
        mem_mb=lambda wildcards: 2000 + (config["skymap"]["flat_nside"] // 512) ** 2 * 1000,
        runtime=10,
    run:
        run_logged(log[0], rule, gw.write_flat, input[0], output[0], params.nside)


rule gw_contours:
    input:
        "products/gw/{event}/{entry}/skymap.multiorder.fits",
    output:
        "products/gw/{event}/{entry}/contours.geojson",
    log:
        "logs/gw/{event}/{entry}/contours.log",
    params:
        levels=config["skymap"]["credible_levels"],
        max_nside=config["skymap"]["contour_nside"],
        min_pixels=config["skymap"]["contour_min_pixels"],
    priority: contract.priority("gw_contours")
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(
            log[0], rule, gw.write_contours, input[0], output[0], params.levels, params.max_nside, params.min_pixels
        )


rule gw_moc:
    input:
        "products/gw/{event}/{entry}/skymap.multiorder.fits",
    output:
        "products/gw/{event}/{entry}/moc{level}.fits",
    log:
        "logs/gw/{event}/{entry}/moc{level}.log",
    wildcard_constraints:
        level=r"50|90",
    priority: contract.priority("gw_moc")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(log[0], rule, gw.write_moc, input[0], output[0], float(wildcards.level))


rule gw_skymap_png:
    input:
        skymap="products/gw/{event}/{entry}/skymap.multiorder.fits",
        stats="products/gw/{event}/{entry}/stats.json",
    output:
        report(
            "products/gw/{event}/{entry}/skymap.png",
            caption="../report/skymap.rst",
            category="{event}",
            subcategory="{entry}",
            labels={"product": "sky map"},
        ),
    log:
        "logs/gw/{event}/{entry}/skymap_png.log",
    params:
        nside=config["skymap"]["plot_nside"],
    priority: contract.priority("gw_skymap_png")
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(log[0], rule, gw.write_skymap_png, input.skymap, input.stats, output[0], params.nside)


rule gw_volume_png:
    input:
        skymap="products/gw/{event}/{entry}/skymap.multiorder.fits",
        stats="products/gw/{event}/{entry}/stats.json",
    output:
        report(
            "products/gw/{event}/{entry}/volume.png",
            caption="../report/volume.rst",
            category="{event}",
            subcategory="{entry}",
            labels={"product": "volume rendering"},
        ),
    log:
        "logs/gw/{event}/{entry}/volume_png.log",
    priority: contract.priority("gw_volume_png")
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(log[0], rule, gw.write_volume_png, input.skymap, input.stats, output[0])


rule gw_galaxies:
    input:
        skymap="products/gw/{event}/{entry}/skymap.multiorder.fits",
        catalog=config["galaxies"]["catalog"] or [],
    output:
        report(
            "products/gw/{event}/{entry}/galaxies.ecsv",
            caption="../report/galaxies.rst",
            category="{event}",
            subcategory="{entry}",
            labels={"product": "galaxy list"},
        ),
    log:
        "logs/gw/{event}/{entry}/galaxies.log",
    priority: contract.priority("gw_galaxies")
    threads: 2  # a half-sky map's millions of galaxies are read and scored by chunks in threads
    resources:
        mem_mb=2000,
        runtime=10,
    run:
        run_logged(log[0], rule, gw.write_galaxies, input.skymap, output[0], config["galaxies"], threads)
