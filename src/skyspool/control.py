"""Run-time control of a running spool, DARC's master commands in skyspool's terms, and service health.

Everything goes through the spool folder (no network port)::

    DIR/control/requests/<id>.json     a command (``skyspool control``); the daemon takes it
    DIR/control/answers/<id>.json      the daemon's answer: ``ok``, ``message``, ``status``
    DIR/control/switches.json          the run-time switches ``lofar`` and ``voevent`` (true/false),
                                       read by each FRB chunk job when it decides its triggers,
                                       so a switch applies to the next trigger
    DIR/control/heartbeat/<service>.json
                                       what each running service (``watch``, ``listen``) last said:
                                       pid, up since, last beat, what it follows, queue lengths,
                                       last error; rewritten every few seconds
    DIR/products/services.html         the dashboard's service page, rewritten with each heartbeat
                                       and when a service stops: it says plainly when the daemon
                                       is not running (and, in the browser, when its heartbeat is
                                       older than a few beats: a daemon that was killed)

Commands (``command`` in the request): ``status``; ``lofar`` / ``voevent`` with ``on`` true or
false; ``observation_start`` with ``observation`` (the description's YAML text, put in the
inbox); ``observation_stop`` with ``id`` and ``abort`` (a stop file in the inbox; an abort leaves
out the observation's summary and e-mail); ``reload`` (re-read the configuration); ``stop``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import yaml

from skyspool import atomic, times
from skyspool.ids import check_event_id
from skyspool.paths import existing_spool

COMMANDS = ("status", "lofar", "voevent", "observation_start", "observation_stop", "reload", "stop")
SWITCHES = ("lofar", "voevent")
#: A service whose last heartbeat is older than this many beat intervals is reported silent.
SILENT_AFTER_BEATS = 3
#: Seconds between heartbeats.
BEAT_INTERVAL_S = 5.0


class ControlError(ValueError):
    """An invalid control command, or no answer; the message is a one-line reason."""


def control_dir(root: str | os.PathLike) -> Path:
    return Path(root) / "control"


def requests_dir(root) -> Path:
    return control_dir(root) / "requests"


def answers_dir(root) -> Path:
    return control_dir(root) / "answers"


def switches_path(root) -> Path:
    return control_dir(root) / "switches.json"


def heartbeat_path(root, service: str) -> Path:
    return control_dir(root) / "heartbeat" / f"{check_event_id(service)}.json"


# ----- switches -----

def read_switches(path: str | os.PathLike | None) -> dict[str, bool]:
    """The switches in force (both on when the file is absent or ``path`` is None)."""
    state = {name: True for name in SWITCHES}
    if path is not None:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return state
        state.update({name: bool(doc[name]) for name in SWITCHES if name in doc})
    return state


def set_switch(root, name: str, on: bool) -> str:
    """Set switch ``name`` and say what changed (DARC's replies)."""
    if name not in SWITCHES:
        raise ControlError(f"no switch {name!r}: {', '.join(SWITCHES)}")
    state = read_switches(switches_path(root))
    label = {"lofar": "LOFAR triggering", "voevent": "VOEvent sending"}[name]
    if state[name] == on:
        return f"{label} already {'enabled' if on else 'disabled'}"
    state[name] = on
    atomic.write_json(switches_path(root), state | {"changed_utc": times.iso_from_unix(time.time())})
    return f"{label} {'enabled' if on else 'disabled'}"


# ----- heartbeats -----

def write_heartbeat(root, service: str, started: float, **facts) -> None:
    """Write the heartbeat of ``service`` (this process), with ``facts`` (following, queues,
    last_error, state)."""
    doc = {"service": service, "pid": os.getpid(), "up_since": times.iso_from_unix(started), "beat_unix": time.time(),
           "beat_utc": times.iso_from_unix(time.time()), "state": "running"} | facts
    atomic.write_json(heartbeat_path(root, service), doc)


class Heart:
    """A service's heartbeat: :meth:`beat` writes it at most every ``interval_s`` seconds
    (``force`` now); :meth:`seconds_to_next` says when the next is due."""

    def __init__(self, root, service: str, interval_s: float = BEAT_INTERVAL_S):
        self.root, self.service, self.interval_s = root, service, interval_s
        self.started = time.time()
        self.last = float("-inf")

    def seconds_to_next(self) -> float:
        return max(0.0, self.last + self.interval_s - time.monotonic())

    def beat(self, force: bool = False, **facts) -> None:
        if force or time.monotonic() - self.last >= self.interval_s:
            write_heartbeat(self.root, self.service, self.started, **facts)
            write_services_page(self.root)
            self.last = time.monotonic()


def service_health(root, now: float | None = None) -> list[dict]:
    """Every service's last heartbeat with ``health``: ``running``, ``silent for N s`` (no beat
    for ``SILENT_AFTER_BEATS`` intervals, or its process is gone) or ``stopped`` (it said so)."""
    now = time.time() if now is None else now
    folder = control_dir(root) / "heartbeat"
    out = []
    for path in sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        age = now - float(doc.get("beat_unix", 0))
        if doc.get("state") == "stopped":
            health = "stopped"
        elif age > SILENT_AFTER_BEATS * BEAT_INTERVAL_S or not _alive(doc.get("pid")):
            health = f"silent for {age:.0f} s"
        else:
            health = "running"
        out.append(doc | {"health": health, "age_s": round(age, 1)})
    return out


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def format_health(services: list[dict]) -> str:
    """One line per service, for ``skyspool status`` and ``skyspool control DIR status``."""
    if not services:
        return "services: none has run here (no heartbeat)"
    lines = []
    for s in services:
        following = ", ".join(s.get("following") or []) or "-"
        queues = " ".join(f"{k}={v}" for k, v in (s.get("queues") or {}).items()) or "-"
        brokers = "".join(f"; broker {k}: {v}" for k, v in (s.get("brokers") or {}).items())
        lines.append(f"{s['service']}: {s['health']} (pid {s.get('pid')}, up since {s.get('up_since')}, "
                     f"last heartbeat {s.get('beat_utc')}); following: {following}; queues: {queues}{brokers}; "
                     f"last error: {s.get('last_error') or '-'}")
    return "\n".join(lines)


def services_page(services: list[dict], now: float | None = None) -> str:
    """The dashboard's page of service health (``products/services.html``)."""
    import html

    now = time.time() if now is None else now
    watch = next((s for s in services if s["service"] == "watch"), None)
    if watch is None:
        headline = "The daemon (skyspool watch) has never run here."
    elif watch["health"] == "running":
        headline = f"The daemon (skyspool watch) is running (pid {watch['pid']}, up since {watch['up_since']})."
    else:
        headline = f"The daemon (skyspool watch) is NOT running: {watch['health']} (last heartbeat {watch['beat_utc']})."
    rows = "".join(
        f"<tr><td>{html.escape(s['service'])}</td><td class=\"health\" data-beat=\"{s.get('beat_unix', 0)}\" "
        f"data-state=\"{html.escape(s.get('state', ''))}\">{html.escape(s['health'])}</td>"
        f"<td>{html.escape(str(s.get('pid')))}</td><td>{html.escape(str(s.get('up_since')))}</td>"
        f"<td>{html.escape(str(s.get('beat_utc')))}</td>"
        f"<td>{html.escape(', '.join(s.get('following') or []) or '-')}</td>"
        f"<td>{html.escape(' '.join(f'{k}={v}' for k, v in (s.get('queues') or {}).items()) or '-')}</td>"
        f"<td>{html.escape('; '.join(f'{k}: {v}' for k, v in (s.get('brokers') or {}).items()) or '-')}</td>"
        f"<td>{html.escape(str(s.get('last_error') or '-'))}</td></tr>" for s in services)
    stale_s = SILENT_AFTER_BEATS * BEAT_INTERVAL_S
    # A page written by a service cannot say the service died since: the browser compares the
    # last heartbeat with its own clock.
    script = ("<script>for(const c of document.querySelectorAll('td.health')){"
              "const age=Date.now()/1000-parseFloat(c.dataset.beat);"
              f"if(c.dataset.state==='running'&&age>{stale_s:g}){{c.textContent='silent for '+Math.round(age)+' s';"
              "if(c.parentElement.firstChild.textContent==='watch'){document.getElementById('headline').textContent="
              "'The daemon (skyspool watch) is NOT running: no heartbeat for '+Math.round(age)+' s.';}}}</script>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">"
            "<title>skyspool services</title><style>body{font-family:sans-serif} table{border-collapse:collapse} "
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style></head><body>"
            f"<h1>skyspool services</h1><p id=\"headline\"><strong>{html.escape(headline)}</strong></p>"
            "<table><tr><th>service</th><th>state</th><th>pid</th><th>up since (UTC)</th><th>last heartbeat (UTC)</th>"
            f"<th>following</th><th>queues</th><th>brokers</th><th>last error</th></tr>{rows}</table>"
            f"<p>Written {times.iso_from_unix(now)}; <a href=\"index.html\">events</a></p>{script}</body></html>\n")


def write_services_page(root) -> None:
    """Write ``products/services.html`` from every service's heartbeat."""
    atomic.write_text(Path(root) / "products" / "services.html", services_page(service_health(root)))


# ----- requests and answers -----

def request(root, command: str, *, timeout_s: float = 30.0, **args) -> dict:
    """Put a command in the control folder and wait for the daemon's answer (a dict with ``ok``
    and ``message``). Raises :class:`ControlError` if no daemon answers within ``timeout_s``."""
    if command not in COMMANDS:
        raise ControlError(f"unknown control command {command!r}: {', '.join(COMMANDS)}")
    ident = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    answers_dir(root).mkdir(parents=True, exist_ok=True)
    atomic.write_json(requests_dir(root) / f"{ident}.json", {"command": command, **args})
    answer = answers_dir(root) / f"{ident}.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if answer.exists():
            doc = json.loads(answer.read_text())
            answer.unlink()
            return doc
        time.sleep(0.1)
    (requests_dir(root) / f"{ident}.json").unlink(missing_ok=True)
    raise ControlError(f"no answer within {timeout_s:g} s: is `skyspool watch {root}` running?")


def pending_requests(root) -> list[Path]:
    """Requests waiting for the daemon, oldest first."""
    folder = requests_dir(root)
    # Dot-files are atomic writes in progress.
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []


class Controller:
    """The daemon's side: :meth:`poll` answers every waiting request. ``status`` gives the
    daemon's facts (a callable), ``reload`` re-reads the configuration, ``stop`` asks the
    daemon to stop (after the answer is written)."""

    def __init__(self, root, inbox: Path, status: Callable[[], dict], reload: Callable[[], None],
                 stop: Callable[[], None]):
        self.root, self.inbox = Path(root), Path(inbox)
        self.status, self.reload, self.stop = status, reload, stop

    def poll(self) -> int:
        """Answer the waiting requests; returns how many."""
        done = 0
        for path in pending_requests(self.root):
            try:
                doc = json.loads(path.read_text())
                answer = {"ok": True} | self.handle(doc)
            except (ValueError, OSError, KeyError, TypeError) as exc:
                answer = {"ok": False, "message": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
            atomic.write_json(answers_dir(self.root) / path.name, answer)
            path.unlink(missing_ok=True)
            done += 1
            if answer.get("stopping"):
                self.stop()
        return done

    def handle(self, doc: dict) -> dict:
        command = doc.get("command")
        if command == "status":
            return {"message": "running", "status": self.status(),
                    "switches": read_switches(switches_path(self.root)),
                    "services": service_health(self.root)}
        if command in SWITCHES:
            if "on" not in doc:
                return {"message": self._switch_status(command)}
            return {"message": set_switch(self.root, command, bool(doc["on"]))}
        if command == "observation_start":
            text = str(doc["observation"])
            from skyspool.frb.observation import observation_from_doc, parse_yaml

            obs = observation_from_doc(parse_yaml(text.encode(), "observation"))
            self._drop(f"observation-{obs.id}.yaml", text)
            return {"message": f"observation {obs.id} started: its description is in the inbox"}
        if command == "observation_stop":
            obs_id = check_event_id(str(doc["id"]))
            abort = bool(doc.get("abort"))
            stop = {"stop": obs_id, "reason": "aborted by skyspool control" if abort else "stopped by skyspool control"}
            if abort:
                stop["abort"] = True
            self._drop(f"stop-{obs_id}-{uuid.uuid4().hex[:6]}.yaml", yaml.safe_dump(stop))
            return {"message": f"observation {obs_id} {'aborted (no summary, no e-mail)' if abort else 'stopped'}"}
        if command == "reload":
            self.reload()
            return {"message": "configuration reloaded"}
        if command == "stop":
            return {"message": "stopping", "stopping": True}
        raise ControlError(f"unknown control command {command!r}: {', '.join(COMMANDS)}")

    def _switch_status(self, name: str) -> str:
        label = {"lofar": "LOFAR triggering", "voevent": "VOEvent sending"}[name]
        return f"{label} is {'enabled' if read_switches(switches_path(self.root))[name] else 'disabled'}"

    def _drop(self, name: str, text: str) -> None:
        # Written beside the inbox and renamed in: the daemon never sees half a file.
        atomic.write_text(self.inbox / name, text)


# ----- the command line: skyspool control DIR ... -----

USAGE = ("status | lofar on|off|status | voevent on|off|status | observation start FILE | "
         "observation stop ID [--abort] | reload | stop")


def parse_action(words: list[str], abort: bool = False) -> tuple[str, dict]:
    """The request of ``skyspool control DIR`` words (see :data:`USAGE`); ControlError if none."""
    match words:
        case ["status"] | ["reload"] | ["stop"]:
            return words[0], {}
        case [("lofar" | "voevent") as name, ("on" | "off") as state]:
            return name, {"on": state == "on"}
        case [("lofar" | "voevent") as name, "status"]:
            return name, {}
        case ["observation", "start", path]:
            try:
                return "observation_start", {"observation": Path(path).read_text()}
            except OSError as exc:
                raise ControlError(f"cannot read {path}: {exc.strerror}") from None
        case ["observation", "stop", obs_id]:
            return "observation_stop", {"id": obs_id, "abort": abort}
    raise ControlError(f"not a control command: {' '.join(words) or '(none)'}; use {USAGE}")


def cmd_control(args) -> int:
    spool = existing_spool(args.dir)
    try:
        command, fields = parse_action(args.action, args.abort)
        answer = request(spool.root, command, timeout_s=args.timeout, **fields)
    except ControlError as exc:
        print(f"skyspool control: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        print(answer.get("message", ""))
        if command == "status":
            status = answer["status"]
            print(f"watch: pid {status['pid']}, up since {status['up_since']}; following: "
                  f"{', '.join(status['following']) or '-'}; queues: "
                  + " ".join(f"{k}={v}" for k, v in status["queues"].items())
                  + f"; last error: {status['last_error'] or '-'}")
            print("switches: " + ", ".join(f"{k} {'on' if v else 'off'}" for k, v in answer["switches"].items()))
            print(format_health(answer["services"]))
    return 0 if answer.get("ok") else 1


def add_parser(commands) -> None:
    """Add ``skyspool control`` to the command line's subcommands."""
    parser = commands.add_parser(
        "control", help="ask or tell a running `skyspool watch` (DARC's master commands)",
        description=f"Talks to the daemon through DIR/control/ (no network port). Actions: {USAGE}. "
                    "A switch applies to the next trigger.")
    parser.add_argument("dir")
    parser.add_argument("action", nargs="+", help=USAGE)
    parser.add_argument("--abort", action="store_true", help="observation stop: abort (no summary, no e-mail)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer (default 30)")
    parser.add_argument("--json", action="store_true", help="the answer as JSON")
    parser.set_defaults(func=cmd_control)
