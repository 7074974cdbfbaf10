# GW pipeline candidates (spool/gwcand/): BAYESTAR (CBC) or the burst's own sky map,
# classification, then the orchestrator's steps (skyspool.orchestrator); the decision (once
# the superevent has settled) and the second preliminary are targets only once due
# (skyspool.timers wakes the entry up; no job sleeps). The steps that change a superevent hold the `superevent`
# resource (one at a time, as GWCelery's single superevent worker; the default profile
# sets its limit to 1) and the decision lock. raven.json is remade whenever the external
# triggers coinciding with the candidate change (a new one is a new input): a publishable
# coincidence after a "no alert" re-opens the decision. The decision and the second preliminary
# also read the partners (and the second preliminary the DQ segment lists) at their due time but
# do not declare them: GWCelery decides each once, and a new input would re-run the decision.
# The alerts they decide on are written as <step>.effects.json; after the run the outgoing effect
# handler (skyspool.publish.effects) puts them in the inbox, where they become gw spool entries,
# whose products the gw rules make. Every step runs where Snakemake runs (local in
# skyspool.contract's table): the decision path never waits in a batch queue.

from skyspool import orchestrator
from skyspool.gwcand import products as gwcand


rule gwcand_bayestar:
    input:
        spool_entry("gwcand"),
    output:
        "products/gwcand/{event}/{entry}/bayestar.multiorder.fits",
    log:
        "logs/gwcand/{event}/{entry}/bayestar.log",
    threads: config["gwcand"]["bayestar"]["threads"]
    priority: contract.priority("gwcand_bayestar")
    resources:
        mem_mb=1000,
        runtime=30,
    run:
        run_logged(log[0], rule, gwcand.write_bayestar, input[0], output[0], config["gwcand"]["bayestar"], threads)


rule gwcand_burst_skymap:
    input:
        spool_entry("gwcand"),
    output:
        "products/gwcand/{event}/{entry}/skymap.multiorder.fits",
    log:
        "logs/gwcand/{event}/{entry}/skymap.log",
    priority: contract.priority("gwcand_burst_skymap")
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, gwcand.write_burst_skymap, input[0], output[0])


rule gwcand_classification:
    input:
        spool_entry("gwcand"),
    output:
        "products/gwcand/{event}/{entry}/classification.json",
    log:
        "logs/gwcand/{event}/{entry}/classification.log",
    priority: contract.priority("gwcand_classification")
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, gwcand.write_classification, input[0], output[0], config["gwcand"])


rule gwcand_superevent:
    input:
        spool_entry("gwcand"),
    output:
        "products/gwcand/{event}/{entry}/superevent.json",
    log:
        "logs/gwcand/{event}/{entry}/superevent.log",
    priority: contract.priority("gwcand_superevent")
    resources:
        superevent=1,
        mem_mb=300,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            orchestrator.write_step,
            orchestrator.assign,
            SPOOL,
            candidate_entry(wildcards),
            output[0],
            config,
        )


rule gwcand_settle:
    input:
        "products/gwcand/{event}/{entry}/superevent.json",
    output:
        "products/gwcand/{event}/{entry}/settled.json",
    log:
        "logs/gwcand/{event}/{entry}/settled.log",
    priority: contract.priority("gwcand_settle")
    resources:
        mem_mb=100,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            orchestrator.write_step,
            orchestrator.settle,
            SPOOL,
            candidate_entry(wildcards),
            output[0],
            config,
        )


rule gwcand_orchestrate:
    input:
        assignment="products/gwcand/{event}/{entry}/superevent.json",
        settled="products/gwcand/{event}/{entry}/settled.json",
        skymap=candidate_skymap,
        classification="products/gwcand/{event}/{entry}/classification.json",
        segments=dq_segment_lists,
    output:
        record="products/gwcand/{event}/{entry}/orchestrator.json",
        effects="products/gwcand/{event}/{entry}/orchestrator.effects.json",
    log:
        "logs/gwcand/{event}/{entry}/orchestrator.log",
    priority: contract.priority("gwcand_orchestrate")
    resources:
        superevent=1,
        mem_mb=300,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            orchestrator.write_step,
            orchestrator.decide,
            SPOOL,
            candidate_entry(wildcards),
            output.record,
            config,
            output.effects,
        )


rule gwcand_raven:
    input:
        decision="products/gwcand/{event}/{entry}/orchestrator.json",
        partners=candidate_coincidence_partners,
        # read again to re-check data quality (skyspool.orchestrator._refresh)
        segments=dq_segment_lists,
    output:
        record="products/gwcand/{event}/{entry}/raven.json",
        effects="products/gwcand/{event}/{entry}/raven.effects.json",
    log:
        "logs/gwcand/{event}/{entry}/raven.log",
    priority: contract.priority("gwcand_raven")
    resources:
        superevent=1,
        mem_mb=300,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            orchestrator.write_step,
            orchestrator.raven,
            SPOOL,
            candidate_entry(wildcards),
            output.record,
            config,
            output.effects,
        )


rule gwcand_second_preliminary:
    input:
        "products/gwcand/{event}/{entry}/orchestrator.json",
    output:
        record="products/gwcand/{event}/{entry}/second_preliminary.json",
        effects="products/gwcand/{event}/{entry}/second_preliminary.effects.json",
    log:
        "logs/gwcand/{event}/{entry}/second_preliminary.log",
    priority: contract.priority("gwcand_second_preliminary")
    resources:
        mem_mb=100,
        runtime=30,
    run:
        run_logged(
            log[0],
            rule,
            orchestrator.write_step,
            orchestrator.second_preliminary,
            SPOOL,
            candidate_entry(wildcards),
            output.record,
            config,
            output.effects,
        )
