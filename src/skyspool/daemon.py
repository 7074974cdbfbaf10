"""The watch daemon: take every file that lands in a spool's inbox and build its products.

One long-lived process with the product libraries imported once. Its loop wires the parts:
the inbox (:mod:`skyspool.inbox`: watchdog events, rescans, ingest) turns arrivals into
stored entries; the scheduler (:mod:`skyspool.scheduler`, pure policy) queues each entry's
products in two phases, first the notice products (``NOTICE_PRODUCTS`` and what they need),
then the rest, and says which runs to start; the runner (:mod:`skyspool.runner`) runs them,
notices in this process, the rest in worker processes; the records
(:mod:`skyspool.records`) log each step, keep failures and the checkpoint.

No two Snakemake runs ever share an entry: an entry is *busy* while any run holds it.
Crash safety comes from the parts: ingest leaves a file in the inbox until it is stored,
products are written atomically, Snakemake reruns incomplete outputs, and on start the
daemon re-examines every entry stored since the last moment it was idle (the checkpoint).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from skyspool import contract, control, publish, records, runner, targets, timers, times
from skyspool.frb.follow import Follower
from skyspool.inbox import ForwardingEventHandler, Inbox
from skyspool.paths import Entry, Spool
from skyspool.records import SNAKEMAKE_LOG, entry_name, note
from skyspool.records import configure_logging as configure_logging
from skyspool.runner import hold_spool as hold_spool
from skyspool.scheduler import NoticeBuilt, Run, Scheduler

# What an outside reader waits for first: built before any other product of a new entry.
NOTICE_PRODUCTS = contract.notice_names()  # notice.json, notice.xml, circular.txt; FRB: triggers.json


class Daemon:
    """Watch ``spool``'s inbox and build the products of every entry it brings.

    ``workers``: processes building the non-notice products (default: the CPU count);
    ``batch``: most entries per Snakemake run; ``settle_s``: how long (s) a file found by
    a rescan must keep its size before it is taken; ``rescan_s``: seconds between rescans;
    ``clock``: UNIX seconds (received times, timers, checkpoint, the scheduler's ticks).
    """

    def __init__(self, spool: Spool, config: dict, *, workers: int | None = None,
                 batch: int = 4, settle_s: float = 0.5, rescan_s: float = 5.0,
                 progress: bool | None = None, clock: Callable[[], float] = time.time):
        self.spool, self.config, self.clock, self.settle_s = spool, config, clock, settle_s
        self.workers = workers or os.cpu_count() or 1
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.inbox = Inbox(spool, settle_s=settle_s, rescan_s=rescan_s, clock=clock)
        self.scheduler = Scheduler(
            workers=self.workers, batch=batch, retries=int(config.get("retries", 1)),
            targets_of=lambda e: targets.entry_targets(self.spool, e, self.config),
            missing_of=lambda e: targets.missing_targets(self.spool, [e], self.config),
            notice_products=NOTICE_PRODUCTS)
        self.runner = runner.Runner(spool, self.workers, self.inbox.wake)
        self.checkpoint, self.catch_up_bar = records.Checkpoint(spool), records.Progress()
        # FRB observations: growing AMBER files cut into spool entries (skyspool.frb.follow).
        self.follower = Follower(spool, config, self.inbox.wake)

    def _schedule(self, entry: Entry, received: float) -> None:
        self.scheduler.entry_stored(entry, received)
        self.checkpoint.dirty = True

    def _catch_up(self) -> None:
        """Queue every entry stored since the last checkpoint that lacks products."""
        since, started = self.checkpoint.since(), self.clock()
        self.follower.resume()
        recent, pending = records.catch_up(self.spool, self.config, since)
        for entry in pending:
            self._schedule(entry, entry.path.stat().st_mtime)
        note("catch-up", examined=len(recent), pending=len(pending),
             seconds=round(self.clock() - started, 3))
        self.checkpoint.dirty = True  # the first idle moment writes a checkpoint
        self.inbox.wake()  # start on the queued work at once
        if self.progress and len(pending) >= 10:
            self.catch_up_bar.start(len(pending))

    def _after_run(self, run: Run, ok: bool) -> None:
        """Everything done after a run ends: publish notices, record and publish outcomes."""
        for outcome in self.scheduler.run_finished(run.id, ok):
            entry = outcome.entry
            if isinstance(outcome, NoticeBuilt):
                notice = self.spool.product(entry, "notice.json")
                if notice.exists():
                    note("notice", entry=entry_name(entry), built_by=outcome.built_by,
                         seconds=round(notice.stat().st_mtime - outcome.received, 3))
                    self.publisher.offer(entry, "notice")
                continue
            self.last_error = records.report(self.spool, entry, outcome.missing, self.config,
                                             self.scheduler.retries + 1, outcome.received) or self.last_error
            self.publisher.offer(entry, "done")
            self.catch_up_bar.update()
        if not ok and run.kind == "rest":
            note("run-failed", logging.WARNING, entries=len(run.piece))
        self.catch_up_bar.close_if(self.scheduler.idle)

    def _wait(self) -> None:
        """Sleep until a file arrives, a run ends, a signal comes or a rescan is due."""
        # Everything startable was started: only new files and ended runs (both come as
        # wake-ups), files left untaken by the last round, or a due rescan can change that.
        self.inbox.wait(0 if self.inbox.arrived else max(0.0, min(
            self.inbox.seconds_to_rescan(), self.follower.timeout(), self.heart.seconds_to_next(),
            timers.seconds_to_next(self.spool, clock=self.clock))))

    def _stop(self, signum, _frame) -> None:
        note("stopping", signal=signal.Signals(signum).name)
        self.scheduler.stop()
        self.inbox.wake()

    def run(self) -> int:
        """Catch up, then react to the inbox until SIGTERM/SIGINT; 0 on a clean stop."""
        os.chdir(self.spool.root)  # Snakemake's .snakemake/log goes to the spool, not here
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        started = self.clock()
        observer = self.inbox.observe()  # started first: nothing that lands during start-up is missed
        self._start_control(observer)
        observer.start()
        self.follower.attach(observer)
        self.runner.open()
        self.publisher = publish.Publisher(self.spool, self.config)  # its own threads
        try:
            with open(self.spool.logs / SNAKEMAKE_LOG, "a") as snakemake_output, \
                    contextlib.redirect_stdout(snakemake_output), \
                    contextlib.redirect_stderr(snakemake_output):
                runner.clear_stale_locks(self.spool)  # before any worker runs Snakemake
                runner.clear_stale_temporaries(self.spool)
                self.runner.warm_up(started)
                note("taking", dir=str(self.spool.root), seconds=round(self.clock() - started, 3))
                self.inbox.rescan()
                time.sleep(self.settle_s)
                self.inbox.rescan()
                self._catch_up()
                self._loop()
        finally:
            observer.stop()
            observer.join()
            self.runner.close()
            self.publisher.close()
            self._beat(force=True, state="stopped")
        note("stopped")
        return 0

    def _loop(self) -> None:
        while True:
            self._wait()
            self.controller.poll()
            self._beat()
            for run, ok in self.runner.finished():
                self._after_run(run, ok)
            if self.scheduler.stopping:
                if not self.scheduler.runs:
                    return
                continue  # finish what is running, start nothing new
            if self.inbox.seconds_to_rescan() <= 0:
                self.inbox.rescan()
            for entry in self.follower.poll():  # before take: lines written before a stop file
                self._schedule(entry, self.clock())
            for entry in timers.take_due(self.spool, clock=self.clock):  # e.g. second preliminary alerts
                self._schedule(entry, self.clock())
            for entry, received in self.inbox.take(self.config, self.follower):
                self._schedule(entry, received)
            if self.runner.warming(self.clock()):
                continue
            for run in self.scheduler.tick(self.clock()):
                self.runner.submit(run, self.config.get("cluster_profile"))
            if self.checkpoint.dirty and not self.inbox.arrived and self.scheduler.idle:
                self.checkpoint.write(self.clock())

    # --- run-time control and heartbeat (skyspool.control) ---

    def _start_control(self, observer) -> None:
        """Answer ``skyspool control`` requests (a request wakes the loop) and beat."""
        requests = control.requests_dir(self.spool.root)
        requests.mkdir(parents=True, exist_ok=True)
        self.heart, self.last_error = control.Heart(self.spool.root, "watch"), None
        self.controller = control.Controller(self.spool.root, self.spool.inbox, self._facts, self._reload,
                                             lambda: self._stop(signal.SIGTERM, None))
        observer.schedule(ForwardingEventHandler(lambda _event: self.inbox.wake()), str(requests), recursive=False)
        self._beat(force=True)

    def _facts(self) -> dict:
        return {"pid": os.getpid(), "up_since": times.iso_from_unix(self.heart.started),
                "following": sorted(self.follower.followed),
                "queues": {"inbox": len(self.inbox.arrived), **self.scheduler.queues()},
                "last_error": self.last_error}

    def _beat(self, force: bool = False, **facts) -> None:
        self.heart.beat(force, **{key: value for key, value in self._facts().items()
                                  if key not in ("pid", "up_since")} | facts)

    def _reload(self) -> None:
        from skyspool import config as skyspool_config

        # A dry run (--dry-run) stays one.
        dry_run = self.config.get("publish", {}).get("dry_run")
        self.config = skyspool_config.load(self.spool, {"publish": {"dry_run": True}} if dry_run else None)
        self.scheduler.retries = int(self.config.get("retries", 1))
        note("reloaded", dir=str(self.spool.root))


def watch(spool: Spool, config: dict, **options) -> int:
    """``skyspool watch DIR``: hold the spool and run the daemon until SIGTERM."""
    with hold_spool(spool):
        return Daemon(spool, config, **options).run()
