"""``make demo``: sample alerts through a fresh spool, one progress line per alert, then the status
table and where the products are. Snakemake's own output goes to a log file in the spool, named on
the last line."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from skyspool import cli, samples
from skyspool.paths import Spool

LOG_NAME = "demo.log"


@contextlib.contextmanager
def _output_to(log_path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so Snakemake's jobs and any
    child process too) to ``log_path`` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _entry_products(spool: Spool) -> dict[Path, int]:
    """Product files per entry folder (products/<kind>/<event>/<entry>/)."""
    counts: dict[Path, int] = {}
    for path in spool.products.rglob("*"):
        parts = path.relative_to(spool.products).parts
        if len(parts) > 3 and path.is_file():
            entry = spool.products.joinpath(*parts[:3])
            counts[entry] = counts.get(entry, 0) + 1
    return counts


def _init(spool: Spool) -> Path:
    """``skyspool init`` (quietly; nothing when the spool exists), and the demo's log file in it."""
    if not spool.exists():
        with _output_to(Path(os.devnull)):
            cli.main(["init", str(spool.root)])
    return spool.logs / LOG_NAME


def run(spool_dir: Path, alerts: list[Path]) -> int:
    """Make a spool at ``spool_dir``, take ``alerts`` through it one at a time (a line each), then
    print the status table; 0 when every product was built."""
    spool = Spool(spool_dir)
    log_path = _init(spool)
    failed = 0
    for number, alert in enumerate(alerts, 1):
        before, started = _entry_products(spool), time.monotonic()
        with _output_to(log_path):
            print(f"===== {alert.name}", flush=True)
            status = cli.main(["ingest", str(spool_dir), str(alert)]) or cli.main(["process", str(spool_dir)])
        after = _entry_products(spool)
        made = {entry: count - before.get(entry, 0) for entry, count in after.items() if count > before.get(entry, 0)}
        where = ", ".join(f"{entry.relative_to(spool.root)}/ ({count} files)" for entry, count in sorted(made.items()))
        outcome = "ok" if status == 0 else "FAILED"
        failed += status != 0
        print(f"[{number}/{len(alerts)}] {alert.name}: {outcome} in {time.monotonic() - started:.0f} s"
              f" -> {where or 'no new products'}", flush=True)
    print()
    cli.main(["status", str(spool_dir)])
    print(f"\nproducts: {spool.products}")
    for png in sorted(spool.products.rglob("skymap.png")):
        print(f"  sky map picture: {png}")
    print(f"Snakemake's output: {log_path}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m skyspool.demo [DIR [ALERT ...]]``: the sample alerts (or the ALERT files given)
    through a fresh spool in DIR/spool (DIR: ./demo)."""
    argv = argv or []
    demo_dir = Path(argv[0] if argv else "demo").resolve()
    if len(argv) > 1:
        alerts = [Path(name).resolve() for name in argv[1:]]
    else:
        print("making sample alerts (a real BAYESTAR localization of ligo.skymap's bundled "
              "candidate G197392; ~1 minute the first time)", flush=True)
        with _output_to(_init(Spool(demo_dir / "spool"))):  # BAYESTAR's own log lines
            alerts = samples.write_sample_alerts(demo_dir / "alerts")
    return run(demo_dir / "spool", alerts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
