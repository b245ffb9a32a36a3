"""Every InfluxQL query of every generated board, run against a real InfluxDB 1.x.

The data is written with the sink's own line protocol (``ingest.influx.lineprotocol``), so
the test also pins that the schema the sink writes is the schema the boards read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dashboards import queries as q
from dashboards.build import build_boards
from gateway.alarms.actions import AlarmKind, AlarmState, Cleared, Raised
from gateway.interlock.events import VentilationConfirmed, VentilationStarted
from ingest.influx import lineprotocol as lp
from ingest.records import DeadLetter, DeviceState, Event
from occmon.config import load
from occmon.config.alarms import Level
from occmon.model import Quality, Reading, Reason
from tests.influx_servers import InfluxDB1

pytestmark = pytest.mark.server

SITE = "demo-plant"
MINUTES = 40  # minute-aligned minutes of data, one reading every 10 s
VALUES = {"concentration": 2.0, "laeq": 90.0, "lcpeak": 120.0, "noise_dose": 50.0,
          "dose_rate": 1.0}


def _macros(query: str) -> str:
    return query.replace("$timeFilter", "time > now() - 1h").replace("$__interval", "1m")


def _targets(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in board["panels"]:
        for tgt in panel.get("targets", []):
            yield f"{board['uid']} / {panel['title']}", tgt["query"]
    for anno in board["annotations"]["list"]:
        yield f"{board['uid']} / annotation {anno['name']}", anno["target"]["query"]


@pytest.fixture(scope="module")
def config():  # type: ignore[no-untyped-def]
    return load("examples/demo-plant.yaml")


def _data(config: Any) -> tuple[list[str], float]:
    areas = {p.id: p.area for p in config.points}
    start = (math.floor(time.time() / 60) - MINUTES - 1) * 60.0
    lines: list[str] = []
    for sensor in config.sensors:
        point = config.point(sensor.point)
        for i in range(MINUTES * 6):
            t = start + i * 10
            value = VALUES.get(sensor.quantity, 0.0)
            if sensor.quantity == "hp10":
                value = 100.0 + i * 0.5  # a cumulative dosimeter counter
            quality, reason = Quality.GOOD, None
            if i % 60 == 7:
                quality, reason = Quality.UNCERTAIN, Reason.CALIBRATION_OVERDUE
            reading = Reading(point.id, point.agent, t, value, "x", quality, sensor.quantity,
                              reason, sensor.id, sensor.device)
            lines.append(lp.reading_line(reading, SITE, areas[point.id]))
    t0 = start + 600
    # Alarm and ventilation bodies exactly as the gateway's engines publish them.
    raised = Raised(alarm_id="desulf-h2s-1:process", point="desulf-h2s-1",
                    kind=AlarmKind.PROCESS, level=Level.ALARM, value=12.5, setpoint=10.0,
                    unit="mg/m3", time=t0, state=AlarmState.ACTIVE_UNACK, occurrence=1,
                    cause="H2S 12.5 mg/m3 >= alarm 10")
    pre = Raised(alarm_id="ammonia-nh3-1:process", point="ammonia-nh3-1",
                 kind=AlarmKind.PROCESS, level=Level.PRE_ALARM, value=16.0, setpoint=15.0,
                 unit="mg/m3", time=t0 + 5, state=AlarmState.ACTIVE_UNACK, occurrence=1,
                 cause="NH3 16 mg/m3 >= pre-alarm 15")
    cleared = Cleared(alarm_id="mill-dust-total:process", point="mill-dust-total",
                      kind=AlarmKind.PROCESS, level=Level.ALARM, value=1.0, setpoint=12.0,
                      unit="mg/m3", time=t0 + 9, state=AlarmState.CLEARED_UNACK,
                      occurrence=1, cause="below alarm - deadband")
    unit = "desulf-exhaust"
    started = VentilationStarted(unit=unit, time=t0 + 1, state="active", cause="alarm")
    confirmed = VentilationConfirmed(unit=unit, time=t0 + 3, state="active",
                                     cause="running feedback", fan="fan", device="fan-1")
    events = [
        Event("alarm", e.time, e.to_dict(), SITE) for e in (raised, pre, cleared)
    ] + [
        Event("ventilation", e.time, e.to_dict(), SITE) for e in (started, confirmed)
    ] + [
        Event("exceedance", t0 + 60, {"point": "desulf-h2s-1", "level": "MAC",
                                      "message": "MAC exceeded"}, SITE),
        Event("interlock", t0 + 1, {"point": "desulf-h2s-1", "device": "fan-1",
                                    "message": "start fan-1"}, SITE),
    ]
    lines += [lp.event_line(e) for e in events]
    lines.append(lp.device_line(DeviceState("gas-panel-1", True, t0, None, SITE)))
    lines.append(lp.device_line(DeviceState("dust-1", False, t0 + 30, "timeout", SITE)))
    lines.append(lp.dead_letter_line(
        DeadLetter(t0, "occmon/v1/demo-plant/readings/x", "bad-json", "not JSON", b"{", SITE)))
    lines.append(lp.counter_line(SITE, "accepted", 42, round(t0 * 1000)))
    return lines, start


@pytest.fixture
def loaded(influxdb1: InfluxDB1, config: Any) -> tuple[InfluxDB1, float]:
    lines, start = _data(config)
    for i in range(0, len(lines), 5000):
        influxdb1.write(lines[i:i + 5000])
    return influxdb1, start


def _run(server: InfluxDB1, query: str) -> list[dict[str, Any]]:
    result = server.query(_macros(query))["results"][0]
    assert "error" not in result, f"{query}\n-> {result['error']}"
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def _values(series: list[dict[str, Any]], column: int = 1) -> list[Any]:
    return [row[column] for s in series for row in s["values"] if row[column] is not None]


def test_every_dashboard_query_runs_and_returns_series(
    loaded: tuple[InfluxDB1, float], config: Any
) -> None:
    server, _ = loaded
    boards = build_boards(config)
    seen = 0
    for where, query in (t for board in boards.values() for t in _targets(board)):
        series = _run(server, query)
        assert series, f"{where}: no series for {query}"
        assert _values(series), f"{where}: only nulls for {query}"
        seen += 1
    assert seen >= 40


def _board_queries(config: Any) -> set[str]:
    return {query for board in build_boards(config).values() for _, query in _targets(board)}


def test_exposure_arithmetic_matches_the_standards(
    loaded: tuple[InfluxDB1, float], config: Any
) -> None:
    server, _ = loaded
    used = _board_queries(config)

    twa = q.running_twa(SITE, "ammonia-nh3-1")
    assert twa in used
    # C_TWA = sum(C_i T_i) / 8 h = 2 mg/m3 x 40 min / 480 min
    assert _values(_run(server, twa))[-1] == pytest.approx(2.0 * MINUTES / 480)

    rolling = q.rolling_15min(SITE, "ammonia-nh3-1", "concentration")
    assert rolling in used
    assert _values(_run(server, rolling)) == pytest.approx([2.0] * (MINUTES - 14))

    lex = q.running_lex8h(SITE, "mill-noise-1")
    assert lex in used
    # 40 min at 90 dB(A): LEX,8h = 90 + 10 lg(40/480) = 79.21 dB(A)
    assert _values(_run(server, lex))[-1] == pytest.approx(90 + 10 * math.log10(MINUTES / 480))

    dose = q.running_noise_dose(SITE, "mill-noise-1")
    assert dose in used
    expected_dose = 100 * 10 ** (0.1 * (90 + 10 * math.log10(MINUTES / 480) - 85))
    assert _values(_run(server, dose))[-1] == pytest.approx(expected_dose)

    laeq = q.laeq(SITE, "mill-noise-1")
    assert _values(_run(server, laeq)) == pytest.approx([90.0] * MINUTES)

    hp10 = q.dose_in_range(SITE, "ndt-worker-dose")
    assert hp10 in used
    assert _values(_run(server, hp10)) == [pytest.approx((MINUTES * 6 - 1) * 0.5)]

    full = q.completeness(SITE, "desulf-h2s-1", "concentration", 1.0)
    assert full in used
    minutes = [v for v in _values(_run(server, full)) if v]
    assert minutes == pytest.approx([10.0] * MINUTES)  # 6 readings where 60 were due


def test_state_panels_group_by_the_right_tag(
    loaded: tuple[InfluxDB1, float], config: Any
) -> None:
    server, _ = loaded
    alarms = _run(server, q.states(SITE, q.ALARM_KIND, "point"))
    last = {s["tags"]["point"]: _values([s])[-1] for s in alarms}
    assert last == {"desulf-h2s-1": lp.STATE_CODES["alarm"],
                    "ammonia-nh3-1": lp.STATE_CODES["pre_alarm"],
                    "mill-dust-total": 0}  # cleared: drawn as normal while it stays latched
    fans = _run(server, q.states(SITE, q.VENTILATION_KIND, "unit"))
    runs = {s["tags"]["unit"]: _values([s]) for s in fans}
    assert list(runs) == ["desulf-exhaust"]
    assert runs["desulf-exhaust"][-1] == 2  # started, then confirmed running
    online = _run(server, q.device_online(SITE))
    assert {s["tags"]["device"]: _values([s])[-1] for s in online} == {
        "gas-panel-1": 1, "dust-1": 0}
    anno = _run(server, q.annotation_events(SITE, "alarm"))
    assert next(row[1] for row in anno[0]["values"]) == "H2S 12.5 mg/m3 >= alarm 10"
