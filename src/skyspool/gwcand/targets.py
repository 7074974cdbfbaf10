"""What the product table (skyspool.contract) asks about a GW pipeline candidate entry: the
decision and the second preliminary are products once due (skyspool.timers wakes the entry up)."""

from __future__ import annotations

from skyspool import contract, orchestrator
from skyspool.paths import Entry, Spool


def facts(entry: Entry, config: dict) -> contract.Facts:
    """The candidate's facts; the due times (UNIX s, or None) are compared with the caller's clock."""
    spool = Spool(entry.path.parents[3])  # <root>/spool/gwcand/<candidate>/<entry>
    return contract.Facts(
        entry,
        burst=lambda: entry.alert_type == "burst",
        settle_due_at=lambda: orchestrator._settle_due_at(spool, entry, config),
        second_preliminary_due_at=lambda: orchestrator._second_preliminary_due_at(spool, entry, config))
