"""The console's lines, from a real store written through ingest's ``SqliteStore``."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.records import Event
from ingest.store import SqliteStore
from occmon.config import load
from occmon.console import Console

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
T = dt.datetime(2026, 12, 1, 14, 3, 49, tzinfo=TZ).timestamp()


def alarm(n: int, event: str, **body: object) -> Event:
    return Event("alarm", T + n, {"id": f"e-{n:03d}", "event": event, "time": T + n, **body},
                 "demo-plant")


def vent(n: int, event: str, cause: str, priority: str = "log") -> Event:
    return Event("ventilation", T + n, {"id": f"v-{n:03d}", "unit": "desulf-exhaust",
                                        "event": event, "state": "active", "time": T + n,
                                        "cause": cause, "priority": priority}, "demo-plant")


def test_one_line_per_alarm_change_and_fan_action_in_site_time(tmp_path: Path) -> None:
    config = load(ROOT / "examples" / "demo-plant.yaml")
    config = config.model_copy(update={"store": config.store.model_copy(
        update={"path": tmp_path / "occmon.db"})})
    store = SqliteStore(tmp_path / "occmon.db")
    store.write_events([alarm(0, "raised", alarm_id="old:process", point="old", cause="x")])
    out = io.StringIO()
    console = Console(config, out)  # what was there before the run is not news
    store.write_events([
        alarm(1, "raised", alarm_id="desulf-h2s-1:process", point="desulf-h2s-1",
              kind="process", cause="desulf-h2s-1: 10.3 mg/m3 reached alarm set-point 10 mg/m3"),
        alarm(2, "acknowledged", alarm_id="desulf-h2s-1:process", point="desulf-h2s-1",
              cause="acknowledged by 王"),  # an operator's action: not a condition change
        alarm(5, "raised", alarm_id="desulf-exhaust:fan-1:ventilation-failure", point="",
              kind="external", cause="no running feedback from fan-1 within 10 s"),
    ])
    store.write_events([vent(3, "started", "desulf-h2s-1 at alarm"),
                        vent(4, "ventilation-failure", "fan-1: no running feedback", "high"),
                        vent(6, "annunciator", "horn on")])
    assert console.drain() == 4
    assert out.getvalue().splitlines() == [
        "14:03:50 ALARM  raised         desulf-h2s-1: 10.3 mg/m3 reached alarm set-point "
        "10 mg/m3",
        "14:03:52 FAN    started        desulf-exhaust: desulf-h2s-1 at alarm",
        "14:03:53 FAN    VENTILATION-FAILURE desulf-exhaust: fan-1: no running feedback",
        "14:03:54 ALARM  raised         desulf-exhaust:fan-1:ventilation-failure: no running "
        "feedback from fan-1 within 10 s",
    ]
    assert console.drain() == 0  # each record once
    console.stop()
    store.close()


def test_the_end_of_a_ventilation_failure_reads_as_an_end(tmp_path: Path) -> None:
    """The interlock's own records: the failure in capitals, its end a plain log line (it
    is the same event name with ``active`` False, and no longer high priority)."""
    from gateway.interlock.events import VentilationFailureAlarm

    config = load(ROOT / "examples" / "demo-plant.yaml")
    config = config.model_copy(update={"store": config.store.model_copy(
        update={"path": tmp_path / "occmon.db"})})
    store = SqliteStore(tmp_path / "occmon.db")
    out = io.StringIO()
    console = Console(config, out)
    common = dict(unit="desulf-exhaust", state="active", fan="primary", device="fan-1",
                  alarm_id="desulf-exhaust:primary:ventilation-failure")
    failed = VentilationFailureAlarm(time=T + 1, cause="fan-1: reports a fault", active=True,
                                     **common).to_dict()
    ended = VentilationFailureAlarm(time=T + 9, cause="fan-1 reports running", active=False,
                                    **common).to_dict()
    assert (failed["priority"], ended["priority"]) == ("high", "log")
    store.write_events([Event("ventilation", body["time"], {"id": f"v-{i}", **body},
                              "demo-plant") for i, body in enumerate((failed, ended))])
    assert console.drain() == 2
    assert out.getvalue().splitlines() == [
        "14:03:50 FAN    VENTILATION-FAILURE desulf-exhaust: fan-1: reports a fault",
        "14:03:58 FAN    failure-ended  desulf-exhaust: fan-1 reports running",
    ]
    console.stop()
    store.close()


def test_an_exceedance_of_a_closed_day_is_one_line(tmp_path: Path) -> None:
    from ingest.daily.close import close_day
    from occmon.model import Quality, Reading

    config = load(ROOT / "examples" / "demo-plant.yaml")
    path = tmp_path / "occmon.db"
    config = config.model_copy(update={"store": config.store.model_copy(update={"path": path})})
    store = SqliteStore(path)
    out = io.StringIO()
    console = Console(config, out)
    # H2S at 14.2 mg/m3 for 20 s at 14:03:49 on 2026-12-01: over the MAC of 10 mg/m3
    store.write_readings([
        Reading("desulf-h2s-1", "h2s", T + i, 14.2, "mg/m3", Quality.GOOD, "concentration",
                None, "gp1-h2s", "gas-panel-1", 10.0, "ppm") for i in range(20)])
    store.close()
    close_day(path, config, dt.date(2026, 12, 1), now=T + 3 * 86400)
    console.drain()
    exceed = [line for line in out.getvalue().splitlines() if " EXCEED " in line]
    assert exceed == ["14:03:49 EXCEED mac            desulf-h2s-1 2026-12-01: 14.2 > 10 (1.4x)"]
    console.stop()
