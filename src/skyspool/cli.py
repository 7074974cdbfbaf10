"""The ``skyspool`` command line: init, ingest, process, watch, status."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from skyspool import atomic
from skyspool.paths import SUBDIRS, Spool

log = logging.getLogger("skyspool")


def _existing_spool(path: str) -> Spool:
    spool = Spool(path)
    if not spool.exists():
        raise SystemExit(f"skyspool: {path} is not a spool (make one with: skyspool init {path})")
    return spool


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


def cmd_process(args) -> int:
    from skyspool import config, ingest, targets, workflow

    spool = _existing_spool(args.dir)
    settings = config.load(spool)
    for outcome in ingest.take_inbox(spool, max_bytes=settings["max_input_bytes"]):
        print(outcome)
    missing = targets.missing_targets(spool, spool.entries(), settings)
    print(f"building {len(missing)} missing products")
    ok = workflow.run_snakemake(spool, missing, cores=args.cores, extra=args.snakemake_args)
    print(f"products in {spool.products}" if ok else "some products failed: see skyspool status")
    return 0 if ok else 1


def cmd_watch(args) -> int:
    from skyspool import config, daemon

    spool = _existing_spool(args.dir)
    daemon.configure_logging(args.log_format)
    return daemon.watch(spool, config.load(spool), workers=args.workers, batch=args.batch)


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
    process.set_defaults(func=cmd_process)

    watch = commands.add_parser("watch", help="the daemon: catch up, then build the products "
                                "of every file that lands in the inbox, until SIGTERM")
    watch.add_argument("dir")
    watch.add_argument("--log-format", choices=("human", "json"), default="human",
                       help="log lines for people (default) or JSON lines")
    watch.add_argument("--workers", type=int, default=None,
                       help="processes building products (default: one per CPU)")
    watch.add_argument("--batch", type=int, default=4,
                       help="most entries per Snakemake run of a worker (default 4)")
    watch.set_defaults(func=cmd_watch)

    listen = commands.add_parser("listen", help="write Kafka alerts (GCN, SCiMMA) into the "
                                 "inbox, until SIGTERM")
    listen.add_argument("dir")
    listen.add_argument("--source", action="append", choices=("gcn", "scimma"),
                        help="only this source (repeatable; default: the enabled ones)")
    listen.add_argument("--from", dest="replay", metavar="earliest|TIME",
                        help="replay what the broker holds, from the start or an ISO 8601 time")
    listen.set_defaults(func=cmd_listen)

    commands.add_parser("catalog", help="build or synthesize a galaxy catalog "
                        "(skyspool catalog --help)", add_help=False)

    status = commands.add_parser("status", help="events, products and failures")
    status.add_argument("dir")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["catalog"]:
        from skyspool import catalog

        return catalog.main(argv[1:])
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "process":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.snakemake_args = unknown
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("snakemake").propagate = False  # it prints its own log
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
