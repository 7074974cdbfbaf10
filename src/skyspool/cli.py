"""The ``skyspool`` command line: init, ingest, process, reprocess, report, watch, publish, status,
send, serve, migrate, control."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from skyspool import atomic, control, migrate, times
from skyspool.paths import SUBDIRS, Spool
from skyspool.paths import existing_spool as _existing_spool

log = logging.getLogger("skyspool")


def cmd_init(args) -> int:
    from skyspool import config

    spool = Spool(args.dir)
    for name in SUBDIRS:
        (spool.root / name).mkdir(parents=True, exist_ok=True)
    if not spool.config_file.exists():
        atomic.write_text(spool.config_file, config.commented_template())
    print(f"spool ready at {spool.root}: drop files into {spool.inbox}")
    return 0


def cmd_ingest(args) -> int:
    from skyspool.ingest import put_in_inbox

    spool = _existing_spool(args.dir)
    for name in args.files:
        source = Path(name)
        if not source.is_file():
            print(f"skyspool: {name}: no such file", file=sys.stderr)
            return 1
        print(f"{name} -> {put_in_inbox(spool, source)}")
    return 0


def _settings(spool: Spool, args) -> dict:
    """The spool's configuration; ``--dry-run`` sets publish.dry_run (nothing is sent)."""
    from skyspool import config

    logging.getLogger("skyspool.publish").setLevel(logging.INFO)  # what is (or would be) sent
    return config.load(spool, {"publish": {"dry_run": True}} if args.dry_run else None)


def _dry_run_env(args):
    """``--dry-run`` for the product jobs too (FRB trigger packets and e-mails)."""
    from skyspool import publish

    return publish.dry_run_env(args.dry_run)


def cmd_process(args) -> int:
    from skyspool import daemon

    spool = _existing_spool(args.dir)
    with daemon.hold_spool(spool, "skyspool process"), _dry_run_env(args):
        return _process(spool, _settings(spool, args), args)


def _process(spool: Spool, settings: dict, args) -> int:
    from skyspool import coincidence, dashboard, ingest, publish, targets, timers, workflow

    ok, built, live = True, set(), set()
    while True:
        updated = []
        for outcome in ingest.take_inbox(spool, max_bytes=settings["max_input_bytes"]):
            print(outcome)
            if outcome.entry is not None:  # GW entries whose coincidences it changes (or retracts)
                live.add(outcome.entry)
                updated += coincidence.affected_entries(spool, outcome.entry, settings)
        live.update(updated)
        missing = targets.missing_targets(spool, spool.entries(), settings)
        missing += [target for entry in dict.fromkeys(updated)
                    for target in targets.entry_targets(spool, entry, settings) if target not in missing]
        print(f"building {len(missing)} missing products")
        ok = workflow.run_snakemake(spool, missing, cores=args.cores, extra=args.snakemake_args) and ok
        _record_failures(spool, settings, missing)
        built |= dashboard.events_of(spool, missing)
        _perform_effects(spool, settings, live, args.send_old)
        # Else the build put alerts the orchestrator sent in the inbox: take them too; and
        # steps due later (skyspool.timers: second preliminary alerts) are waited for.
        if not ingest.inbox_files(spool) and not timers.wait_for_next(spool, print):
            break
    # After the products, so that the pages show them.
    ok = dashboard.refresh(spool.root, built | dashboard.events_without_page(spool)) and ok
    _publish(spool, settings, publish.recent_entries(spool, settings))
    print(f"products in {spool.products}" if ok else "some products failed: see skyspool status")
    return 0 if ok else 1


def _perform_effects(spool: Spool, settings: dict, live: set, send_old: bool) -> None:
    """Send what the run decided (skyspool.publish.effects) for the entries this pass stored
    or whose products their arrival changed (``live``); the effects of older entries are
    recorded as suppressed (a reprocessing sends nothing that was not sent at the time),
    unless ``send_old``."""
    from skyspool import publish

    entries = spool.entries()
    if not send_old:
        publish.suppress_effects(spool, settings, [e for e in entries if e not in live],
                                 "entry stored before this run (skyspool process --send-old sends it)")
    for line in publish.perform_effects(spool, settings, entries if send_old else [e for e in entries if e in live]):
        print(f"not sent (retried by skyspool watch or publish): {line}", file=sys.stderr)


def _record_failures(spool: Spool, settings: dict, asked: list[Path]) -> None:
    """Record the products of this run that are still missing as the daemon records them
    (``skyspool status`` then says FAILED, with the reason)."""
    from skyspool import status, targets

    still = set(targets.missing_targets(spool, spool.entries(), settings))
    for entry in spool.entries():
        products = spool.products_dir(entry)
        if any(path.parent == products for path in asked):
            status.record_failures(spool, entry, [p for p in asked if p in still and p.parent == products],
                                   settings, 1, ".snakemake/log/")


def _publish(spool: Spool, settings: dict, entries: list, force: bool = False) -> bool:
    """Publish ``entries`` to the configured sinks now; False when some send failed."""
    from skyspool import publish

    failures = publish.publish_now(spool, settings, entries, force=force)
    for line in failures:
        print(f"not published (retried by skyspool watch or publish): {line}", file=sys.stderr)
    return not failures


def cmd_publish(args) -> int:
    spool = _existing_spool(args.dir)
    return 0 if _publish(spool, _settings(spool, args), _selected_entries(spool, args), args.force) else 1


def _selected_entries(spool: Spool, args) -> list:
    from skyspool import reprocess

    return reprocess.select_entries(
        spool, kind=args.kind, event=args.event,
        since=args.since and times.unix_from_iso(args.since),
        until=args.until and times.unix_from_iso(args.until))


def cmd_reprocess(args) -> int:
    from skyspool import config, daemon, reprocess

    spool = _existing_spool(args.dir)
    entries = _selected_entries(spool, args)
    print(f"reprocessing {len(entries)} entries" + (f" (rule {args.rule})" if args.rule else ""))
    with daemon.hold_spool(spool, "skyspool reprocess"):
        settings = config.load(spool)
        ok = reprocess.reprocess(spool, entries, settings, rule=args.rule,
                                 cores=args.cores, extra=args.snakemake_args)
        _reprocessed_effects(spool, settings, entries, args.send_old)
    print("done" if ok else "some products failed: see skyspool status")
    return 0 if ok else 1


def _reprocessed_effects(spool: Spool, settings: dict, entries: list, send_old: bool) -> None:
    """What the rebuilt products decided to send: sent only with ``--send-old``, else
    recorded as suppressed (it was not sent at the time)."""
    from skyspool import publish

    if send_old:
        for line in publish.perform_effects(spool, settings, entries):
            print(f"not sent (retried by skyspool watch or publish): {line}", file=sys.stderr)
    elif count := publish.suppress_effects(spool, settings, entries, "reprocessing (skyspool reprocess "
                                           "--send-old sends it)"):
        print(f"{count} effect(s) of the rebuilt products not sent (reprocessing; --send-old sends them)")


def cmd_report(args) -> int:
    from skyspool import config, reprocess

    spool = _existing_spool(args.dir)
    ok = reprocess.report(spool, _selected_entries(spool, args), config.load(spool), args.file)
    print(f"report in {args.file}" if ok else "snakemake could not write the report")
    return 0 if ok else 1


def cmd_watch(args) -> int:
    from skyspool import daemon

    spool = _existing_spool(args.dir)
    daemon.configure_logging(args.log_format)
    with _dry_run_env(args):
        return daemon.watch(spool, _settings(spool, args), workers=args.workers, batch=args.batch)


def cmd_listen(args) -> int:
    from skyspool import config, listen

    spool = _existing_spool(args.dir)
    logging.getLogger("skyspool.listen").setLevel(logging.INFO)
    return listen.listen(spool, config.load(spool), sources=args.source,
                         replay=listen.parse_replay(args.replay))


def cmd_status(args) -> int:
    from skyspool import config, status

    spool = _existing_spool(args.dir)
    events = status.spool_status(spool, config.load(spool))
    print(json.dumps(events, indent=2) if args.json else status.format_table(events))
    if not args.json:  # each service's heartbeat (skyspool.control)
        print(control.format_health(control.service_health(spool.root)))
    return 0


def _add_selection(parser: argparse.ArgumentParser) -> None:
    """Options choosing spool entries (see skyspool.reprocess.select_entries)."""
    parser.add_argument("--kind", help="only entries of this kind (gw, grb, ...)")
    parser.add_argument("--event", help="only entries of this event id")
    parser.add_argument("--since", help="only entries stored at or after this ISO time (UTC)")
    parser.add_argument("--until", help="only entries stored before this ISO time (UTC)")


def _add_send_old(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--send-old", action="store_true", help="also send what the products of "
                        "entries stored before this run decide to send (alerts, LOFAR triggers, "
                        "e-mails); by default only the entries this run receives send")


def _add_dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="publish nothing: log what "
                        "would be sent (as SKYSPOOL_DRY_RUN=1)")


def cmd_send(args) -> int:
    from skyspool import config, orchestrator

    spool = _existing_spool(args.dir)
    try:
        sent = orchestrator.send_by_hand(spool, args.superevent, args.alert_type, config.load(spool))
    except (ValueError, FileNotFoundError) as exc:
        print(f"skyspool: {exc}", file=sys.stderr)
        return 1
    print(f"{args.superevent} {args.alert_type} sent: {sent['json']} (in the inbox as {sent['inbox']})")
    return 0


def cmd_serve(args) -> int:
    from skyspool import dashboard

    dashboard.serve(_existing_spool(args.dir), port=args.port, bind=args.bind)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skyspool", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step")
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="create a spool directory")
    init.add_argument("dir")
    init.set_defaults(func=cmd_init)

    ingest = commands.add_parser("ingest", help="put files into a spool's inbox safely")
    ingest.add_argument("dir")
    ingest.add_argument("files", nargs="+")
    ingest.set_defaults(func=cmd_ingest)

    process = commands.add_parser(
        "process", help="take the inbox, build every missing product, exit",
        description="Arguments after DIR that skyspool does not know go to snakemake.")
    process.add_argument("dir")
    process.add_argument("--cores", type=int, default=2, help="cores for snakemake (default 2)")
    _add_dry_run(process)
    _add_send_old(process)
    process.set_defaults(func=cmd_process)

    reprocess = commands.add_parser(
        "reprocess", help="rebuild chosen products of chosen entries (after a config or "
        "code change)", description="Arguments after DIR that skyspool does not know go to "
        "snakemake (e.g. --profile profiles/slurm).")
    reprocess.add_argument("dir")
    _add_selection(reprocess)
    reprocess.add_argument("--rule", help="rebuild only this rule's products and those "
                           "depending on them (default: every product)")
    reprocess.add_argument("--cores", type=int, default=2, help="cores for snakemake (default 2)")
    _add_send_old(reprocess)
    reprocess.set_defaults(func=cmd_reprocess)

    report = commands.add_parser("report", help="Snakemake's HTML report of the built products")
    report.add_argument("dir")
    report.add_argument("file", help="the report to write: .html, or .zip for large ones")
    _add_selection(report)
    report.set_defaults(func=cmd_report)

    watch = commands.add_parser("watch", help="the daemon: catch up, then build the products "
                                "of every file that lands in the inbox, until SIGTERM")
    watch.add_argument("dir")
    watch.add_argument("--log-format", choices=("human", "json"), default="human",
                       help="log lines for people (default) or JSON lines")
    watch.add_argument("--workers", type=int, default=None,
                       help="processes building products (default: one per CPU)")
    watch.add_argument("--batch", type=int, default=4,
                       help="most entries per Snakemake run of a worker (default 4)")
    _add_dry_run(watch)
    watch.set_defaults(func=cmd_watch)

    publish = commands.add_parser("publish", help="send chosen entries to the configured "
                                  "publishers (those not sent yet, or all with --force)")
    publish.add_argument("dir")
    _add_selection(publish)
    publish.add_argument("--force", action="store_true",
                         help="send again what the receipts say was sent")
    _add_dry_run(publish)
    publish.set_defaults(func=cmd_publish)

    listen = commands.add_parser("listen", help="write Kafka alerts (GCN, SCiMMA) and VOEvents "
                                 "from VTP brokers into the inbox, until SIGTERM")
    listen.add_argument("dir")
    listen.add_argument("--source", action="append", choices=("gcn", "scimma", "vtp"),
                        help="only this source (repeatable; default: the enabled ones)")
    listen.add_argument("--from", dest="replay", metavar="earliest|TIME",
                        help="replay what the broker holds, from the start or an ISO 8601 time")
    listen.set_defaults(func=cmd_listen)

    commands.add_parser("catalog", help="build or synthesize a galaxy catalog "
                        "(skyspool catalog --help)", add_help=False)

    send = commands.add_parser("send", help="send an initial, update or retraction alert for a "
                               "superevent the pipeline formed (a person's decision)")
    send.add_argument("dir")
    send.add_argument("superevent")
    send.add_argument("alert_type", choices=("initial", "update", "retraction"))
    send.set_defaults(func=cmd_send)

    status = commands.add_parser("status", help="events, products and failures")
    status.add_argument("dir")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    serve = commands.add_parser("serve", help="serve the spool's dashboard (products/index.html) "
                                "over HTTP on this machine")
    serve.add_argument("dir")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0: any free)")
    serve.add_argument("--bind", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.set_defaults(func=cmd_serve)

    migrate.add_parser(commands)
    control.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["catalog"]:
        from skyspool import catalog

        return catalog.main(argv[1:])
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command not in ("process", "reprocess"):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.snakemake_args = unknown
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("snakemake").propagate = False  # it prints its own log
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
