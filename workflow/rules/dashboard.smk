# The dashboard (skyspool.dashboard): products/index.html, a page per event, thumbnails.
# A page is made from the files there are when it is asked for (dashboard_event_inputs),
# a superevent's decisions.jsonl and labels among them (the pages of the superevent and of
# its candidates): the daemon and `skyspool process` ask for the pages after building products.

from skyspool import dashboard


rule dashboard_thumbnail:
    input:
        "products/{kind}/{event}/{entry}/skymap.png",
    output:
        "products/{kind}/{event}/{entry}/skymap.thumb.png",
    log:
        "logs/{kind}/{event}/{entry}/skymap_thumb.log",
    wildcard_constraints:
        kind=ANY_KIND,
    priority: contract.priority("dashboard_thumbnail")
    resources:
        mem_mb=300,
        runtime=2,
    run:
        run_logged(log[0], rule, dashboard.write_thumbnail, input[0], output[0])


rule dashboard_event:
    input:
        dashboard_event_inputs,
    output:
        page="products/{kind}/{event}/index.html",
        summary="products/{kind}/{event}/event.json",
    log:
        "logs/{kind}/{event}/dashboard.log",
    wildcard_constraints:
        kind=ANY_KIND,
    priority: contract.priority("dashboard_event")
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(
            log[0],
            rule,
            dashboard.write_event,
            SPOOL.root,
            wildcards.kind,
            wildcards.event,
            config,
            output.page,
            output.summary,
        )


rule dashboard_index:
    input:
        dashboard_summaries,
    output:
        "products/index.html",
    log:
        "logs/dashboard.log",
    priority: contract.priority("dashboard_index")
    resources:
        mem_mb=300,
        runtime=5,
    run:
        run_logged(log[0], rule, dashboard.write_index, input, output[0])
