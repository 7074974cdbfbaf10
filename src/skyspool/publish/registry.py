"""The sink registry (a leaf: it imports nothing of :mod:`skyspool.publish`): the :class:`Sink`
base class, :func:`sink` that registers an implementation by kind, and :func:`product_files`.
Sinks register from :mod:`skyspool.publish.sinks`, which imports every built-in one."""

from __future__ import annotations

import fnmatch

from skyspool.paths import Entry, Spool

SINKS: dict[str, type[Sink]] = {}


def sink(kind: str):
    """Register a :class:`Sink` subclass as the implementation of ``kind``."""

    def register(cls: type[Sink]) -> type[Sink]:
        cls.kind = kind
        SINKS[kind] = cls
        return cls

    return register


class Sink:
    """One configured destination. Subclasses plan what to send and deliver it.

    ``once``: a sink that sends one message per entry (a receipt means done); otherwise the
    sink sends, at every stage, what its receipt does not list yet (storage). ``stages``:
    when it acts (settings ``stages``, else ``default_stages``); ``kinds``: which kinds of
    entry it takes (empty: all).
    """

    kind = ""
    once = True
    effect = False  # an effect handler (skyspool.publish.effects): acts on the rules' intents
    internal = False  # acts inside the spool only: performed in a dry run too
    default_stages: tuple[str, ...] = ("done",)
    defaults: dict = {}  # of the kind's own settings

    def __init__(self, name: str, settings: dict, spool: Spool, config: dict):
        self.name = name
        self.settings = {**self.defaults, **settings}
        self.spool = spool
        self.config = config
        self.stages = tuple(settings.get("stages") or self.default_stages)

    def wants(self, entry: Entry) -> bool:
        kinds = self.settings.get("kinds")
        return not kinds or entry.kind in kinds

    def plan(self, entry: Entry, receipt: dict | None) -> list[dict]:
        """What to send for ``entry`` now: JSON-ready descriptions, one per message or file."""
        raise NotImplementedError

    def deliver(self, entry: Entry, items: list[dict]) -> list[dict]:
        """Send ``items``; return what was sent (for the receipt). Raises on failure."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (producers, sessions)."""


def product_files(folder, patterns: list[str]) -> list[str]:
    """Products of ``folder`` matching any of ``patterns``, as sorted relative POSIX names;
    files in sub-folders included (the FRB ``triggers/trigger-<n>.xml`` and ``.tbb``), hidden
    files and partial writes not."""
    if not folder.is_dir():
        return []
    names = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return sorted(name for name in names
                  if not any(part.startswith(".") for part in name.split("/"))
                  and not name.endswith(".part")
                  and any(fnmatch.fnmatch(name, pattern) for pattern in patterns))
