"""Publishers: hand each entry's products to the places people read them.

Sinks are configured in the ``publish:`` section (``publish.sinks``: name -> settings) and
implemented by classes registered by kind with :func:`sink` (``storage``: any fsspec URL,
``http``: JSON posts to an API, ``kafka``: outgoing Kafka topics, ``voevent``: VOEvent
brokers over VTP, ``treasuremap``: the Treasure Map API).

Publishing starts from products that exist: the daemon offers an entry at two *stages*,
``notice`` (its notice products are built) and ``done`` (every product is built or failed for
good), and each sink acts at the stages it is configured for. Each sink works in a thread of
its own (:class:`Publisher`), so a slow or unreachable backend never delays a notice or
another sink; a failed send is retried with exponential backoff, for as long as the daemon
runs, and on the next start (catch-up).

After a successful send the sink writes a receipt (``Spool.publish_receipt``: what was sent,
where, when) atomically; a receipt keeps a restart or a rebuild from sending again. In a dry
run (``publish.dry_run``, ``--dry-run`` or ``SKYSPOOL_DRY_RUN=1``) everything is computed and
each would-be send is logged and recorded in a ``.dry-run.json`` receipt, which does not keep
a later real send from happening.

The effect handlers (:mod:`skyspool.publish.effects`: what the rules decided to send, as intent
products) are sinks too, always there, with the same receipts (the one receipt system).
Implementations register in :mod:`skyspool.publish.registry` (a leaf) from
:mod:`skyspool.publish.sinks` (the aggregator that imports every built-in one).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import heapq
import json
import logging
import os
import threading
import time

from skyspool import atomic, targets
from skyspool.paths import Entry, Spool
from skyspool.publish import effects, sinks  # noqa: F401 (sinks: registers the built-in ones)
from skyspool.publish.registry import SINKS, Sink, product_files, sink  # noqa: F401

log = logging.getLogger("skyspool.publish")

STAGES = ("notice", "done")
DRY_RUN_VARIABLE = "SKYSPOOL_DRY_RUN"


def env_dry_run() -> bool:
    """``SKYSPOOL_DRY_RUN`` is set (and not 0): nothing may be sent, by any part (publishers,
    FRB trigger packets and e-mails)."""
    return os.environ.get(DRY_RUN_VARIABLE, "0") not in ("", "0")


def dry_run(config: dict) -> bool:
    """Whether the publishers may send nothing: ``publish.dry_run`` or :func:`env_dry_run`."""
    return bool(config["publish"]["dry_run"]) or env_dry_run()


@contextlib.contextmanager
def dry_run_env(enabled: bool):
    """Set ``SKYSPOOL_DRY_RUN`` while the block runs, when ``enabled`` (``--dry-run``): the
    jobs that this process and its workers run see it."""
    before = os.environ.get(DRY_RUN_VARIABLE)
    if enabled:
        os.environ[DRY_RUN_VARIABLE] = "1"
    try:
        yield
    finally:
        if enabled and before is None:
            del os.environ[DRY_RUN_VARIABLE]
        elif enabled:
            os.environ[DRY_RUN_VARIABLE] = before


def _entry_name(entry: Entry) -> str:
    return f"{entry.kind}/{entry.event_id}/{entry.name}"


def _error(exc: Exception) -> str:
    """The first line of an error, for one log line."""
    return str(exc).splitlines()[0][:300] if str(exc) else repr(exc)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def make_sinks(spool: Spool, config: dict) -> list[Sink]:
    """The enabled sinks of the configuration."""
    made = []
    for name, settings in config["publish"]["sinks"].items():
        if settings.get("enabled", True):
            made.append(SINKS[settings["kind"]](name, settings, spool, config))
    return made


def all_sinks(spool: Spool, config: dict) -> list[Sink]:
    """The configured sinks and the effect handlers (always there)."""
    return make_sinks(spool, config) + effects.effect_sinks(spool, config)


def read_receipt(spool: Spool, entry: Entry, sink_name: str, dry: bool = False) -> dict | None:
    path = spool.publish_receipt(entry, sink_name, dry)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


@contextlib.contextmanager
def _held(spool: Spool, entry: Entry, sink_name: str):
    """Hold the (entry, sink) pair: a daemon and `skyspool publish` never both send it."""
    lock = spool.publish_receipt(entry, sink_name).with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def publish_entry(the_sink: Sink, entry: Entry, stage: str, dry: bool, force: bool = False) -> int:
    """Send what ``the_sink`` has to send for ``entry`` at ``stage``; write the receipt.

    Returns how many items were sent (or, in a dry run, would have been); raises when a
    send fails (nothing is recorded then: the next attempt sends again).
    """
    with _held(the_sink.spool, entry, the_sink.name):
        return _publish_entry(the_sink, entry, stage, dry, force)


def _publish_entry(the_sink: Sink, entry: Entry, stage: str, dry: bool, force: bool) -> int:
    spool = the_sink.spool
    receipt = None if force else read_receipt(spool, entry, the_sink.name)
    if receipt is not None and the_sink.once:
        return 0
    items = the_sink.plan(entry, receipt)
    if not items:
        if receipt is not None and not dry and receipt["stage"] != stage == "done":
            atomic.write_json(spool.publish_receipt(entry, the_sink.name), {**receipt, "stage": stage})
        return 0
    started = time.monotonic()
    dry = dry and not the_sink.internal
    if dry:
        for item in items:
            log.info("would-send sink=%s entry=%s %s", the_sink.name, _entry_name(entry),
                     json.dumps(item, default=str)[:300])
        sent = items
    else:
        try:
            sent = [{**item, "time": _now()} for item in the_sink.deliver(entry, items)]
        except effects.PartialDelivery as partial:  # what went out stays sent
            _write_receipt(the_sink, entry, stage, dry, receipt,
                           [{**item, "time": _now()} for item in partial.sent])
            raise partial.cause from None
    _write_receipt(the_sink, entry, stage, dry, receipt, sent)
    log.info("%s sink=%s entry=%s items=%d seconds=%.3f", "dry-run" if dry else "published",
             the_sink.name, _entry_name(entry), len(sent), time.monotonic() - started)
    return len(sent)


def _write_receipt(the_sink: Sink, entry: Entry, stage: str, dry: bool, receipt: dict | None,
                   sent: list[dict]) -> None:
    previous = [] if receipt is None or the_sink.once else receipt["sent"]
    atomic.write_json(the_sink.spool.publish_receipt(entry, the_sink.name, dry), {
        "sink": the_sink.name, "kind": the_sink.kind, "entry": _entry_name(entry),
        "stage": stage, "time": _now(), "dry_run": dry, "sent": previous + sent})


def ready_stage(spool: Spool, entry: Entry, config: dict) -> str | None:
    """The furthest stage ``entry`` has reached from its products: ``done`` when every
    product is built or recorded as failed, ``notice`` when notice.json exists."""
    missing = targets.missing_targets(spool, [entry], config)
    if all(spool.failure_record(entry, path.name).exists() for path in missing):
        return "done"
    return "notice" if spool.product(entry, "notice.json").exists() else None


def pending(spool: Spool, config: dict, the_sink: Sink, entries: list[Entry], dry: bool
            ) -> list[tuple[Entry, str]]:
    """``(entry, stage)`` of the ``entries`` that ``the_sink`` has still to publish."""
    found = []
    for entry in entries:
        if not the_sink.wants(entry):
            continue
        if the_sink.effect:  # whenever an intent is not done yet, whatever the stage
            if the_sink.plan(entry, read_receipt(spool, entry, the_sink.name)):
                found.append((entry, "done"))
            continue
        receipt = read_receipt(spool, entry, the_sink.name, dry) or (
            read_receipt(spool, entry, the_sink.name) if dry else None)
        if receipt is not None and (the_sink.once or receipt["stage"] == the_sink.stages[-1]):
            continue
        stage = ready_stage(spool, entry, config)
        if stage is not None and (stage in the_sink.stages or stage == "done"):
            found.append((entry, stage))
    return found


def recent_entries(spool: Spool, config: dict) -> list[Entry]:
    """Entries stored within ``publish.catch_up_s`` (older ones: ``skyspool publish``)."""
    since = time.time() - config["publish"]["catch_up_s"]
    return [e for e in spool.entries() if e.path.stat().st_mtime >= since]


class _Worker(threading.Thread):
    """One sink's thread: takes offered entries in order, retries failures with backoff."""

    def __init__(self, the_sink: Sink, retry: dict, dry: bool):
        super().__init__(name=f"publish-{the_sink.name}", daemon=True)
        self.sink = the_sink
        self.retry = retry
        self.dry = dry
        self.condition = threading.Condition()
        self.queue: list[tuple[float, int, Entry, str, int]] = []  # (due, seq, entry, stage, tries)
        self.seq = 0
        self.stopping = False

    def put(self, entry: Entry, stage: str, tries: int = 0, delay: float = 0.0) -> None:
        with self.condition:
            self.seq += 1
            heapq.heappush(self.queue, (time.monotonic() + delay, self.seq, entry, stage, tries))
            self.condition.notify()

    def run(self) -> None:
        while True:
            with self.condition:
                # On stop, what is due now is still sent; later retries wait for the next start.
                while not (self.queue and self.queue[0][0] <= time.monotonic()):
                    if self.stopping:
                        return
                    self.condition.wait(self.queue[0][0] - time.monotonic() if self.queue else None)
                _, _, entry, stage, tries = heapq.heappop(self.queue)
            try:
                publish_entry(self.sink, entry, stage, self.dry)
            except Exception as exc:  # any backend error: try again later
                delay = min(self.retry["backoff_s"] * 2 ** tries, self.retry["max_backoff_s"])
                log.warning("publish-failed sink=%s entry=%s attempt=%d retry_in_s=%.1f error=%s",
                            self.sink.name, _entry_name(entry), tries + 1, delay, _error(exc))
                self.put(entry, stage, tries + 1, delay)

    def stop(self) -> None:
        with self.condition:
            self.stopping = True
            self.condition.notify()


class Publisher:
    """The sinks of a running daemon, each in its own thread (see the module's doc), the
    effect handlers among them (:mod:`skyspool.publish.effects`)."""

    def __init__(self, spool: Spool, config: dict):
        self.spool = spool
        self.config = config
        self.dry = dry_run(config)
        self.workers = [_Worker(s, config["publish"]["retry"], self.dry)
                        for s in all_sinks(spool, config)]
        if self.workers:
            threading.Thread(target=self._start, name="publish-catch-up", daemon=True).start()

    def _start(self) -> None:
        """Queue what the last run left unpublished (a backend that was down), then go."""
        entries = recent_entries(self.spool, self.config)
        for worker in self.workers:
            found = pending(self.spool, self.config, worker.sink, entries, self.dry)
            for entry, stage in found:
                worker.put(entry, stage)
            log.info("publish-catch-up sink=%s pending=%d", worker.sink.name, len(found))
            worker.start()

    def offer(self, entry: Entry, stage: str) -> None:
        """``entry`` reached ``stage`` (notice or done): the sinks acting then publish it."""
        for worker in self.workers:
            if stage in worker.sink.stages and worker.sink.wants(entry):
                worker.put(entry, stage)

    def close(self, timeout_s: float = 30.0) -> None:
        """Send what is due now (waiting up to ``timeout_s`` in all), then stop the sinks;
        what is left is published on the next start."""
        deadline = time.monotonic() + timeout_s
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            if worker.is_alive():
                worker.join(max(0.0, deadline - time.monotonic()))
            worker.sink.close()


def publish_now(spool: Spool, config: dict, entries: list[Entry], *, dry: bool | None = None,
                force: bool = False, only: list[Sink] | None = None) -> list[str]:
    """Publish ``entries`` to every sink (or to ``only``) in this thread (``skyspool
    publish`` and ``process``), with the configured retries; returns one line per failure."""
    dry = dry_run(config) if dry is None else dry
    retry = config["publish"]["retry"]
    failures = []
    for the_sink in all_sinks(spool, config) if only is None else only:
        # (an effect goes out once: never again by force)
        again = force and not the_sink.effect
        todo = ([(e, ready_stage(spool, e, config)) for e in entries if the_sink.wants(e)] if again
                else pending(spool, config, the_sink, entries, dry))
        for entry, stage in todo:
            if stage is None:
                continue
            for attempt in range(retry["attempts"]):
                try:
                    publish_entry(the_sink, entry, stage, dry, again)
                    break
                except Exception as exc:
                    if attempt + 1 == retry["attempts"]:
                        failures.append(f"{the_sink.name} {_entry_name(entry)}: {_error(exc)}")
                    else:
                        time.sleep(min(retry["backoff_s"] * 2 ** attempt, retry["max_backoff_s"]))
        the_sink.close()
    return failures


def perform_effects(spool: Spool, config: dict, entries: list[Entry]) -> list[str]:
    """Perform the effects the last run decided for ``entries`` now (``skyspool process``
    between its runs: an outgoing alert it takes from the inbox next); one line per failure."""
    return publish_now(spool, config, entries, only=effects.effect_sinks(spool, config))


def suppress_effects(spool: Spool, config: dict, entries: list[Entry], reason: str) -> int:
    """Record every effect of ``entries`` not done yet as ``suppressed`` (``reason``): it is
    never performed later (reprocessing sends nothing that was not sent at the time).
    Returns how many were suppressed."""
    count = 0
    for the_sink in effects.effect_sinks(spool, config):
        for entry in entries:
            if not the_sink.undone(entry, read_receipt(spool, entry, the_sink.name)):
                continue  # (no lock file for the entries that never send anything)
            with _held(spool, entry, the_sink.name):
                receipt = read_receipt(spool, entry, the_sink.name)
                items = the_sink.undone(entry, receipt)
                if items:
                    _write_receipt(the_sink, entry, "done", False, receipt, [
                        {"key": item["key"], "type": item["type"], "what": item.get("what", ""),
                         "suppressed": reason, "time": _now()} for item in items])
                    log.info("suppressed sink=%s entry=%s items=%d reason=%s", the_sink.name,
                             _entry_name(entry), len(items), reason)
                    count += len(items)
    return count
