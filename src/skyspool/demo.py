"""``make demo``: sample alerts through a fresh spool, then where the products are."""

from __future__ import annotations

import sys
from pathlib import Path

from skyspool import cli, samples


def main(argv: list[str] | None = None) -> int:
    demo_dir = Path(argv[0] if argv else "demo").resolve()
    spool_dir = demo_dir / "spool"
    print("making sample alerts (a real BAYESTAR localization of ligo.skymap's bundled "
          "candidate G197392; ~1 minute the first time)")
    alerts = samples.write_sample_alerts(demo_dir / "alerts")
    cli.main(["init", str(spool_dir)])
    cli.main(["ingest", str(spool_dir), *map(str, alerts)])
    status = cli.main(["process", str(spool_dir)])
    cli.main(["status", str(spool_dir)])
    print(f"\nproducts: {spool_dir / 'products'}")
    for png in sorted((spool_dir / "products").rglob("skymap.png")):
        print(f"  sky map picture: {png}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
