"""End to end: ``occmon run examples/real-instruments.yaml``, as ``make run
CONFIG=examples/real-instruments.yaml`` starts it, on free ports.

Every shipped real-product profile is served by the simulated plant (the eight detectors
through their register maps, the ABB ACS580 and Inovance MD500 through their drive models),
polled by the real gateway, stored by ingest and shown by the API. Two runs:

* ``h2s-leak``: every profile's point has good readings; the leak at the pump house and the
  absorber starts both drive-commanded exhaust fans through the interlock, each confirmed
  by the drive's own status (ACS580 status word bit 2 RDY_REF; MD500 3000H = 1), and the
  gas at their points falls while the unvented leak would still be rising or holding.
* ``bump-test``: the XNX is put in bump test (40007 = 10) with test gas at half its range,
  25 ppm H2S = 35.4 mg/m3, above the 20 mg/m3 high alarm: the readings are stored as
  check-function, there is an instrument event and no alarm, no fan start.

Start time (process start to the API answering) is printed: ``pytest -s`` shows it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "examples" / "real-instruments.yaml"
KEY = {"X-API-Key": "demo-officer-key"}  # the demo key the example site carries
SPEED = 60.0  # the example's simulation speed: sim seconds per real second
T = TypeVar("T")

# one point per shipped detector profile (Ultima X3 and VISIC with every sensor)
PROFILE_POINTS = {
    "honeywell-xnx": ["xnx-h2s"],
    "honeywell-sensepoint-xcd": ["xcd-h2s"],
    "honeywell-midas": ["midas-nh3"],
    "msa-ultima-x": ["ultima-h2s", "ultima-co", "ultima-o2"],
    "draeger-polytron-8000": ["polytron-nh3"],
    "honeywell-raeguard-3": ["raeguard-co"],
    "oldham-itrans-2": ["itrans-co"],
    "oldham-itrans-2-vol": ["itrans-o2"],
    "sick-visic100sf": ["visic-dust", "visic-co"],
}
DRIVE_UNITS = {"pump-house-exhaust": ("acs580-1", "xnx-h2s"),
               "absorber-exhaust": ("md500-1", "xcd-h2s")}


@contextmanager
def occmon_run(tmp_path: Path, scenario: str) -> Iterator[tuple[str, Path, float, float]]:
    """The example site on free ports; yields (API url, store path, monotonic time of the
    process start, seconds until the API answered)."""
    doc: dict[str, Any] = yaml.safe_load(SITE.read_text(encoding="utf-8"))
    doc["embedded_broker"]["port"] = free_port()
    doc["api"]["port"] = api_port = free_port()
    doc["store"]["path"] = str(tmp_path / "occmon.db")
    doc["gateway"]["queue_path"] = str(tmp_path / "queue.db")
    for device in doc["devices"]:
        device["port"] = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    log = tmp_path / "run.log"
    url = f"http://127.0.0.1:{api_port}"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "occmon.cli", "run", str(config), "--scenario", scenario],
            cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out, stderr=subprocess.STDOUT)
    try:
        wait(lambda: _answers(url), 60, "the API", log)
        up = time.monotonic() - started
        print(f"\noccmon run {SITE.name} --scenario {scenario}: API up after {up:.2f} s")
        yield url, Path(doc["store"]["path"]), started, up
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert proc.returncode == 0, log.read_text(encoding="utf-8")
        assert "Traceback" not in log.read_text(encoding="utf-8")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def wait(check: Callable[[], T], timeout: float, what: str, log: Path | None = None) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"{what}: not within {timeout} s\n{tail}")
        time.sleep(0.3)


def api(url: str, path: str) -> Any:
    response = httpx.get(f"{url}{path}", headers=KEY, timeout=5)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def concentration(url: str, point: str) -> dict[str, Any]:
    [q] = [q for q in api(url, f"/api/v1/points/{point}")["quantities"]
           if q["quantity"] == "concentration"]
    return dict(q)


def good_points(url: str) -> set[str]:
    return {p["id"] for p in api(url, "/api/v1/points") for q in p["quantities"]
            if q["quality"] == "good" and q["value"] is not None and not q["stale"]}


def ventilation_log(url: str) -> list[dict[str, Any]]:
    return list(api(url, "/api/v1/ventilation/log?limit=1000"))


@pytest.mark.slow
def test_every_profile_reads_and_a_leak_starts_both_drive_fans(tmp_path: Path) -> None:
    with occmon_run(tmp_path, "h2s-leak") as (url, _store, started_at, up):
        assert up < 30, f"occmon run took {up:.1f} s to answer"  # make run's budget: 10 s
        wanted = {p for points in PROFILE_POINTS.values() for p in points}
        seen = wait(lambda: wanted <= good_points(url) and good_points(url), 30,
                    "good readings of every profile's points", tmp_path / "run.log")
        assert wanted <= seen
        for point in ("ultima-o2", "itrans-o2"):  # fresh air, 20.9 %vol, through both maps
            oxygen = concentration(url, point)
            assert oxygen["unit"] == "%vol" and 20.5 < oxygen["value"] < 21.3, oxygen

        # the leak (from 60 sim s, alarm ~228 sim s) starts both drives; each start is
        # confirmed by the drive's status, not by the write having been sent
        def confirmed() -> dict[str, dict[str, Any]]:
            return {r["unit"]: r for r in ventilation_log(url) if r["event"] == "confirmed"}

        done = wait(lambda: confirmed() if set(DRIVE_UNITS) <= set(confirmed()) else {}, 40,
                    "both drive fans confirmed running", tmp_path / "run.log")
        units = {u["unit"]: u for u in api(url, "/api/v1/ventilation")}
        for unit, (device, _point) in DRIVE_UNITS.items():
            assert units[unit]["ventilating"] is True, units[unit]
            assert units[unit]["primary"] == "running", units[unit]  # the duty fan
            assert device in json.dumps(done[unit]["body"]), done[unit]
        started = [r for r in ventilation_log(url) if r["event"] == "started"]
        assert {r["unit"] for r in started} == set(DRIVE_UNITS)
        assert not [r for r in ventilation_log(url) if r["event"] == "ventilation-failure"]

        # vented, the gas falls (tau 300 sim s = 5 real s): at least 30 % below the highest
        # value seen after the start, long before the unvented leak would fall (it rises
        # until 660 sim s and holds until 1560 sim s, 26 real s after the plant started)
        peaks = {p: 0.0 for _d, p in DRIVE_UNITS.values()}

        def fallen() -> bool:
            out = True
            for point in peaks:
                value = concentration(url, point)["value"] or 0.0
                peaks[point] = max(peaks[point], value)
                out = out and value < 0.7 * peaks[point]
            return out

        wait(fallen, 20, f"the gas at the drive fans' points to fall (peaks {peaks})")
        # the plant started after the process: its unvented leak would fall only later
        assert time.monotonic() - started_at < 1560 / SPEED, "fell too late to be venting"
        for point in peaks:
            assert peaks[point] > 10.0  # mg/m3: the leak did reach the MAC (10) first


@pytest.mark.slow
def test_a_bump_test_on_the_xnx_is_an_instrument_event_and_no_alarm(tmp_path: Path) -> None:
    bump = "check-function:bump-test"
    with occmon_run(tmp_path, "bump-test") as (url, store, _started, _up):
        # normal monitoring first (the bump test starts at 300 sim s = 5 real s)
        wait(lambda: "xnx-h2s" in good_points(url), 30, "good XNX readings")
        during = wait(lambda: (q := concentration(url, "xnx-h2s"))["reason"] == bump and q,
                      30, "the XNX readings in bump test", tmp_path / "run.log")
        assert during["quality"] != "good" and during["value"] is None, during

        def events() -> list[dict[str, Any]]:
            with sqlite3.connect(store) as conn:
                return [json.loads(body) for (body,) in conn.execute(
                    "SELECT body FROM events WHERE kind = 'instrument' ORDER BY id")]

        # the bump test ends at 900 sim s (15 real s): its interval is an instrument event
        [event] = wait(lambda: [e for e in events() if e["event"] == "bump-test"], 40,
                       "the bump-test instrument event", tmp_path / "run.log")
        assert event["device"] == "xnx-1" and event["points"] == ["xnx-h2s"], event
        assert event["after"] == "normal"
        # 600 sim s at x60 is 10 real s; the gateway sees it to within a poll or two
        assert 8.0 <= event["duration_s"] <= 14.0, event
        wait(lambda: concentration(url, "xnx-h2s")["quality"] == "good", 20,
             "good XNX readings after the test")
        # the test gas, 25 ppm = 25 x 34.08 / 24.06 = 35.4 mg/m3 (> high alarm 20), is stored
        with sqlite3.connect(store) as conn:
            gas = conn.execute("SELECT raw_value, quality, value FROM readings WHERE point = "
                               "'xnx-h2s' AND reason = ?", (bump,)).fetchall()
        assert gas and {(raw, quality, value) for raw, quality, value in gas} == {
            (25.0, "bad", None)}
        # ... and never raised an alarm or started the pump-house fan
        history = api(url, "/api/v1/alarms/history?limit=1000")["events"]
        assert [a for a in history if "xnx-h2s" in json.dumps(a)] == []
        assert [r for r in ventilation_log(url) if r["event"] == "started"] == []
