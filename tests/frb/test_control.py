"""Run-time control of a running daemon through the spool (``skyspool control``), DARC's master
commands: status while following, LOFAR off then a bright burst (no packet, the VOEvent still),
on again (a packet), an observation aborted (no summary, no e-mail), stop; and the heartbeats
``skyspool status`` shows."""

from __future__ import annotations

import json
import socket

import pytest
import yaml
from test_follow import _entries, _triggers

from frb_synthetic import Burst, amber_text, sample_observation, synthetic_candidates
from skyspool import cli, control
from support import make_spool
from test_daemon import Watch, wait_for

OBS = "20240101-0009"


def _control(spool, capsys, *words) -> str:
    assert cli.main(["control", str(spool.root), *words]) == 0
    return capsys.readouterr().out


def _append_burst(amber, time_s: float, seed: int) -> None:
    burst = synthetic_candidates([Burst(time_s, 700.0, 30.0)], duration_s=0, n_noise=0, n_rfi=0, seed=seed)
    with open(amber, "ab") as handle:
        handle.write(amber_text(burst, header=False))


def test_control_a_running_daemon(tmp_path, capsys, smtp_server, udp_socket):
    smtp_port, mails = smtp_server
    spool = make_spool(tmp_path / "spool", {"frb": {
        "plot": False, "lofar": {"send": True, "host": "127.0.0.1", "port": udp_socket.getsockname()[1]},
        "email": {"host": "127.0.0.1", "port": smtp_port, "sender": "frb@test", "to": ["team@test"]},
        "follow": {"timeout_s": 3600, "poll_s": 0.5}}})
    amber_dir = tmp_path / "amber"
    amber_dir.mkdir()
    amber = amber_dir / "CB00_step1.trigger"
    amber.write_bytes(amber_text(synthetic_candidates([], duration_s=30, n_noise=200, n_rfi=0, seed=4)))
    description = tmp_path / "obs.yaml"
    doc = sample_observation(OBS, mw_dm_max=40.0)
    doc["candidate_files"] = [str(amber_dir / "CB*_step*.trigger")]
    description.write_text(yaml.safe_dump(doc))

    # No daemon: a clear answer, and status says so.
    assert cli.main(["control", str(spool.root), "status", "--timeout", "0.5"]) == 1
    assert "is `skyspool watch" in capsys.readouterr().err
    watch = Watch(spool)
    try:
        assert "started" in _control(spool, capsys, "observation", "start", str(description))
        wait_for(lambda: "follow-started" in watch.text(), "following")
        answer = control.request(spool.root, "status")
        assert answer["ok"] and answer["status"]["following"] == [OBS]
        assert set(answer["status"]["queues"]) == {"inbox", "notice", "rest", "runs"}
        assert answer["switches"] == {"lofar": True, "voevent": True}
        [watch_health] = answer["services"]
        assert watch_health["service"] == "watch" and watch_health["health"] == "running"
        assert watch_health["pid"] == watch.process.pid
        text = _control(spool, capsys, "status")
        assert f"following: {OBS}" in text and "switches: lofar on, voevent on" in text
        assert cli.main(["status", str(spool.root)]) == 0
        assert "watch: running (pid" in capsys.readouterr().out
        page = (spool.products / "services.html").read_text()
        assert f"The daemon (skyspool watch) is running (pid {watch.process.pid}" in page

        # LOFAR off: the next bright burst gets its VOEvent but no packet.
        assert _control(spool, capsys, "lofar", "off").strip() == "LOFAR triggering disabled"
        assert _control(spool, capsys, "lofar", "off").strip() == "LOFAR triggering already disabled"
        assert _control(spool, capsys, "lofar", "status").strip() == "LOFAR triggering is disabled"
        _append_burst(amber, 60.0, seed=5)
        wait_for(lambda: _triggers(spool, OBS), "the first burst's trigger")
        [first] = _triggers(spool, OBS)
        assert first["lofar_switched_off"] and not first["lofar"] and "tbb_file" not in first
        assert (first["dir"] / first["voevent_file"]).exists()
        udp_socket.settimeout(2)
        with pytest.raises(socket.timeout):
            udp_socket.recv(64)

        # LOFAR on again: the next burst's packet goes out (the switched-off one did not count).
        assert _control(spool, capsys, "lofar", "on").strip() == "LOFAR triggering enabled"
        _append_burst(amber, 200.0, seed=6)
        wait_for(lambda: len(_triggers(spool, OBS)) == 2, "the second burst's trigger")
        second = _triggers(spool, OBS)[1]
        assert second["lofar"] and (second["dir"] / second["tbb_file"]).exists()
        udp_socket.settimeout(60)
        assert udp_socket.recv(64) == (second["dir"] / second["tbb_file"]).read_bytes()
        wait_for(lambda: len(mails) == 1, "the LOFAR trigger e-mail")

        # VOEvents off, then on: answers as DARC gives them.
        assert _control(spool, capsys, "voevent", "off").strip() == "VOEvent sending disabled"
        assert json.loads(control.switches_path(spool.root).read_text())["voevent"] is False
        assert _control(spool, capsys, "voevent", "on").strip() == "VOEvent sending enabled"

        # Abort: the stop entry is stored, but no summary and no e-mail.
        assert "aborted" in _control(spool, capsys, "observation", "stop", OBS, "--abort")
        wait_for(lambda: _entries(spool, OBS, "stop"), "the stop entry")
        wait_for(lambda: f"entry=frb/{OBS}/{_entries(spool, OBS, 'stop')[0].name}" in watch.text()
                 and "follow-ended" in watch.text(), "the stop handled")
        assert control.request(spool.root, "status")["status"]["following"] == []
        assert "reloaded" in _control(spool, capsys, "reload")

        assert _control(spool, capsys, "stop").strip() == "stopping"
        assert watch.process.wait(120) == 0
    finally:
        if watch.process.poll() is None:
            watch.stop()
    [stop] = _entries(spool, OBS, "stop")
    assert not spool.products_dir(stop).exists() or not any(spool.products_dir(stop).iterdir())
    assert len(mails) == 1 and mails[0]["Subject"].startswith("LOFAR trigger")
    [health] = control.service_health(spool.root)
    assert health["health"] == "stopped" and health["state"] == "stopped"
    assert cli.main(["status", str(spool.root)]) == 0
    assert "watch: stopped" in capsys.readouterr().out
    assert "The daemon (skyspool watch) is NOT running: stopped" in (spool.products / "services.html").read_text()


def test_health_of_silent_and_gone_services(tmp_path):
    root = tmp_path
    heart = control.Heart(root, "listen")
    heart.beat(following=["gcn.notices.swift.bat.guano"])
    [alive] = control.service_health(root)
    assert alive["health"] == "running" and alive["following"] == ["gcn.notices.swift.bat.guano"]
    later = alive["beat_unix"] + 3 * control.BEAT_INTERVAL_S + 40
    [silent] = control.service_health(root, now=later)
    assert silent["health"] == f"silent for {3 * control.BEAT_INTERVAL_S + 40:.0f} s"
    doc = json.loads(control.heartbeat_path(root, "listen").read_text())
    doc["pid"] = 2 ** 22 + 1  # no such process
    control.heartbeat_path(root, "listen").write_text(json.dumps(doc))
    assert control.service_health(root)[0]["health"].startswith("silent for")
    page = control.services_page(control.service_health(root))
    assert "The daemon (skyspool watch) has never run here." in page and "silent for" in page
    for words, reason in ((["lofar", "maybe"], "not a control command"), ([], "not a control command")):
        with pytest.raises(control.ControlError, match=reason):
            control.parse_action(words)
