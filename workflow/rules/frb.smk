# Products of FRB observations: products/frb/<obs_id>/<NNN>-candidates/ per chunk of candidates
# cut from the followed AMBER files (with <MMM>-filterbank_cbNN/ per filterbank entry of its beam),
# products/frb/<obs_id>/<NNN>-stop/ for the whole observation.
# Each rule calls one function of skyspool.frb.products. frb_chunk (VOEvents, LOFAR triggers)
# runs where Snakemake runs (local in skyspool.contract's table), never in a batch queue. What goes
# out (LOFAR packets, e-mails) is written as effects.json; skyspool.publish.effects sends it after the run.

from skyspool import control as skyspool_control
from skyspool.frb import products as frb_products


rule frb_chunk:
    input:
        chunk=spool_entry("frb"),
        observation=frb_observation,
        sources=frb_source_list,
        previous=frb_previous_triggers,
    output:
        **frb_plot_output("products/frb/{event}/{entry}"),
        clusters="products/frb/{event}/{entry}/clusters.csv",
        triggers="products/frb/{event}/{entry}/triggers.json",
        trigger_files=directory("products/frb/{event}/{entry}/triggers"),
        effects="products/frb/{event}/{entry}/effects.json",
    log:
        "logs/frb/{event}/{entry}/chunk.log",
    wildcard_constraints:
        entry=r"\d\d\d+-candidates",
    params:
        sources=frb_first_input("sources"),
        previous=frb_first_input("previous"),
        out="products/frb/{event}/{entry}",
        # Read when each trigger is decided (skyspool control DIR lofar|voevent on|off), not an input.
        switches=str(skyspool_control.switches_path(SPOOL.root)),
    priority: contract.priority("frb_chunk")
    resources:
        mem_mb=500,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            frb_products.process_chunk,
            input.chunk,
            input.observation,
            params.sources,
            params.out,
            config["frb"],
            previous_triggers=params.previous,
            switches=params.switches,
        )


rule frb_summary:
    input:
        stop=spool_entry("frb"),
        observation=frb_observation,
        sources=frb_source_list,
        chunks=frb_chunks,
        triggers=frb_chunk_triggers,
    output:
        **frb_plot_output("products/frb/{event}/{entry}"),
        summary="products/frb/{event}/{entry}/summary.html",
        clusters="products/frb/{event}/{entry}/clusters.csv",
        triggers="products/frb/{event}/{entry}/triggers.json",
        effects="products/frb/{event}/{entry}/effects.json",
    log:
        "logs/frb/{event}/{entry}/summary.log",
    wildcard_constraints:
        entry=r"\d\d\d+-stop",
    params:
        sources=frb_first_input("sources"),
        out="products/frb/{event}/{entry}",
    priority: contract.priority("frb_summary")
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        run_logged(
            log[0],
            rule,
            frb_products.summarize_observation,
            input.chunks,
            input.triggers,
            input.observation,
            params.sources,
            params.out,
            config["frb"],
        )


rule frb_filterbank_views:
    input:
        triggers="products/frb/{event}/{entry}/triggers.json",
        filterbank=frb_filterbank_entry,
        observation=frb_observation,
    output:
        directory("products/frb/{event}/{entry}/{filterbank}"),
    log:
        "logs/frb/{event}/{entry}/{filterbank}.log",
    wildcard_constraints:
        entry=r"\d\d\d+-candidates",
        filterbank=r"\d\d\d+-filterbank_cb\d\d\d?",
    priority: contract.priority("frb_filterbank_views")
    resources:
        mem_mb=2000,
        runtime=10,
    run:
        run_logged(
            log[0],
            rule,
            frb_products.filterbank_views,
            input.triggers,
            input.filterbank,
            input.observation,
            output[0],
        )
