"""What a newcomer sees of ``occmon run`` (``make run``): a clean start, the leak starting
the fan because of the gas alarm, one terminal line per alarm and fan action, ``-q``."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.run.support import after_banner, demo_config, occmon_run

NOISE = re.compile(r"Traceback|WARNING|ERROR|Exception")


@pytest.mark.slow
def test_a_normal_day_raises_no_alarm_and_starts_no_fan_in_its_first_minute(
        tmp_path: Path) -> None:
    with occmon_run(tmp_path, "--scenario", "normal-day") as run:
        run.wait_output("Press Ctrl-C to stop.", 30)
        # a minute of real time is an hour of the simulated plant (speed 60)
        run.wait_rows("SELECT 1 FROM readings WHERE point = 'desulf-h2s-1' LIMIT 1", 20)
        time.sleep(60)
        # (a calibration-due warning is not an alarm: the demo's instruments fall due in
        # 2027, and the warning then says so once, which is right)
        alarms = run.rows("SELECT alarm_id, event, body FROM alarm_events "
                          "WHERE event != 'warning'")
        fans = run.rows("SELECT unit, event, body FROM ventilation_log")
        polled = run.rows("SELECT COUNT(*) FROM readings WHERE point = 'desulf-h2s-1' "
                          "AND quality = 'good'")
        assert run.stop() == 0
    assert alarms == [], alarms  # no sensor fault from polling before the simulators listen
    # so no fail-safe start either: each unit's state at start, idle, and nothing else
    assert [(unit, event, json.loads(body)["state"]) for unit, event, body in fans] == [
        ("desulf-exhaust", "unit-state", "idle")], fans
    assert polled[0][0] >= 50  # it did poll: about one reading a second
    assert after_banner(run.stdout()) == []  # the banner, and nothing else
    assert not NOISE.search(run.stderr() + run.stdout()), run.stderr()
    # no panel password in the environment: the banner says how to let a panel in
    assert "  panel     none (to let a panel read the pushes as occmon-annunciator, set " \
           "$OCCMON_MQTT_PASSWORD_ANNUNCIATOR)" in run.stdout().splitlines(), run.stdout()


@pytest.mark.slow
def test_the_leak_starts_the_fan_because_of_the_gas_alarm_and_the_terminal_says_so(
        tmp_path: Path) -> None:
    with occmon_run(tmp_path, "--scenario", "h2s-leak", "--speed", "60") as run:
        started = run.wait_rows(
            "SELECT time, body FROM ventilation_log WHERE event = 'started' ORDER BY id", 60)
        run.wait_output("FAN    started", 10)
        faults = run.rows("SELECT alarm_id FROM alarm_events WHERE event = 'fault-raised'")
        raised = run.rows("SELECT time, point, level FROM alarm_events WHERE kind = 'process' "
                          "AND event IN ('raised', 'escalated') ORDER BY id")
        assert run.stop() == 0
    at, body = started[0]
    cause = json.loads(body)["cause"]
    # the interlock started the fan for a gas level of a desulf H2S point, not a fault
    assert re.fullmatch(r"desulf-h2s-(1|w1) at (alarm|high_alarm)(; .*)?", cause), cause
    assert faults == []
    point = cause.split(" ")[0]
    trigger = [r for r in raised if r[1] == point and r[2] in ("alarm", "high_alarm")]
    assert trigger and trigger[0][0] <= at  # the gas alarm came first
    lines = after_banner(run.stdout())
    assert any(re.match(rf"\d\d:\d\d:\d\d ALARM  (raised|escalated) +{point}: [\d.]+ mg/m3 "
                        r"(reached|rose to) (alarm|high_alarm)", line) for line in lines), lines
    assert any(re.match(rf"\d\d:\d\d:\d\d FAN    started +desulf-exhaust: {point} at ", line)
               for line in lines), lines
    assert not NOISE.search(run.stderr()), run.stderr()


@pytest.mark.slow
def test_quiet_prints_the_banner_only(tmp_path: Path) -> None:
    with occmon_run(tmp_path, "--scenario", "h2s-leak", "-q") as run:
        run.wait_rows("SELECT 1 FROM ventilation_log WHERE event = 'started'", 60)
        time.sleep(1.0)  # a console would have printed by now (it polls every 0.2 s)
        assert run.stop() == 0
    assert "Press Ctrl-C to stop." in run.stdout()
    assert after_banner(run.stdout()) == []


def taken_api_port(tmp_path: Path, command: str) -> tuple[subprocess.CompletedProcess[str],
                                                          int]:
    """``occmon COMMAND`` on the demo while another process listens on the API's port."""
    config, api_port = demo_config(tmp_path)
    holder = socket.socket()
    holder.bind(("127.0.0.1", api_port))
    holder.listen()
    try:
        return subprocess.run([sys.executable, "-m", "occmon.cli", command, str(config)],
                              cwd=tmp_path, capture_output=True, text=True,
                              timeout=60), api_port
    finally:
        holder.close()


def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    result, api_port = taken_api_port(tmp_path, "run")
    assert result.returncode == 2
    assert result.stderr == (f"occmon run: port {api_port} is in use: is occmon already "
                             "running? (wanted by the API on 127.0.0.1)\n")
    assert "occmon is running" not in result.stdout  # nothing was started
    assert not (tmp_path / "occmon.db").exists()


def test_occmon_api_alone_says_a_taken_port_in_one_line(tmp_path: Path) -> None:
    """The multi-process deployment's API: the same line and exit status as ``occmon run``,
    not uvicorn's log line and its exit status 3."""
    result, api_port = taken_api_port(tmp_path, "api")
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"occmon api: port {api_port} is in use: is occmon already "
                             "running? (wanted by the API on 127.0.0.1)\n")


@pytest.mark.slow
def test_occmon_api_alone_serves_its_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    config, api_port = demo_config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "occmon.cli", "api", str(config)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline and not status:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/healthz",
                                            timeout=2) as answer:
                    status = answer.status
            except urllib.error.HTTPError as refused:
                status = refused.code  # 503: no gateway or ingest beats (none run here)
            except OSError:
                time.sleep(0.2)
        assert status == 503, status
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then ends by the signal it was sent (which systemd counts as a
        # clean stop); a crash would be status 1, a hang the timeout
        assert proc.wait(timeout=10) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=10)
    assert b"Traceback" not in err, err
