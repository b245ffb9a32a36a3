"""Golden lines: what the sink writes for each record, escaping per the line-protocol spec."""

from __future__ import annotations

import json
import re

import pytest

from ingest.influx import lineprotocol as lp
from ingest.records import DeadLetter, DeviceState, Event
from occmon.model import Quality, Reading, Reason

T = 1_790_000_000.123  # epoch seconds with milliseconds


def test_reading_golden_line() -> None:
    r = Reading("desulf-h2s-1", "h2s", T, 3.5, "mg/m3", sensor="gp1-h2s", device="gas-panel-1",
                raw_value=2.5, raw_unit="ppm")
    assert lp.reading_line(r, "demo-plant", "desulf") == (
        "reading,agent=h2s,area=desulf,point=desulf-h2s-1,quality=good,"
        "quantity=concentration,site=demo-plant,unit=mg/m3 "
        'value=3.5,status=0i,raw_value=2.5,raw_unit="ppm",sensor="gp1-h2s",'
        'device="gas-panel-1" 1790000000123'
    )


def test_bad_reading_without_value_still_makes_a_point() -> None:
    r = Reading("p", "noise", T, None, "dB(A)", Quality.BAD, "laeq", Reason.DEVICE_OFFLINE)
    assert lp.reading_line(r, "s") == (
        "reading,agent=noise,point=p,quality=bad,quantity=laeq,site=s,unit=dB(A) "
        'status=2i,reason="device-offline" 1790000000123'
    )


@pytest.mark.parametrize(("text", "escaped"), [
    ("a b", r"a\ b"), ("a,b", r"a\,b"), ("a=b", r"a\=b"), ("µSv/h", "µSv/h"),
    ("dB(A)", "dB(A)"), ("50%", "50%"),
])
def test_tag_escaping(text: str, escaped: str) -> None:
    assert lp.escape_key(text) == escaped


@pytest.mark.parametrize(("text", "escaped"), [
    ('say "hi"', r'"say \"hi\""'), ("back\\slash", r'"back\\slash"'),
    ("two\nlines", r'"two\nlines"'), ("逗号,空格 =", '"逗号,空格 ="'),
])
def test_string_field_escaping(text: str, escaped: str) -> None:
    assert lp.escape_string(text) == escaped


def test_measurement_escaping_and_refusals() -> None:
    assert lp.escape_measurement("a b,c=d") == r"a\ b\,c=d"
    with pytest.raises(lp.LineProtocolError, match="line break"):
        lp.escape_key("bad\nvalue")
    with pytest.raises(lp.LineProtocolError, match="backslash"):
        lp.escape_key("ends\\")
    with pytest.raises(lp.LineProtocolError, match="at least one field"):
        lp.line("m", {"a": "b"}, {}, 1)


def test_event_golden_line_with_state_code() -> None:
    body = {"point": "desulf-h2s-1", "level": "high-alarm", "value": 25.0,
            "message": "H2S 25 mg/m3, fan started"}
    line = lp.event_line(Event("alarm", T, body, "demo-plant"))
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False).replace('"', '\\"')
    assert line == (
        "event,kind=alarm,level=high-alarm,point=desulf-h2s-1,site=demo-plant "
        f'message="H2S 25 mg/m3, fan started",body="{encoded}",n=1i,state=3i,value=25.0 '
        "1790000000123"
    )


def test_state_codes_cover_alarm_levels_and_fans() -> None:
    assert [lp.state_code({"level": v}) for v in
            ("normal", "pre_alarm", "alarm", "high_alarm", "fault")] == [0, 1, 2, 3, 4]
    assert [lp.state_code({"state": v}) for v in ("off", "running", "failed")] == [0, 2, 4]
    assert lp.state_code({"level": "unheard-of"}) is None


def test_a_units_state_at_start_gives_what_its_fan_does() -> None:
    """``unit-state`` (gateway/interlock/hub.py ``report``): the fan panel draws the snapshot's
    ``ventilating``, not the unit's demand state."""
    body = {"event": "unit-state", "state": "idle", "snapshot": {"ventilating": False}}
    assert lp.state_code(body, "ventilation") == 0
    body["snapshot"] = {"ventilating": True}
    assert lp.state_code(body, "ventilation") == 2
    assert lp.state_code({"event": "unit-state", "state": "idle"}, "ventilation") is None
    # a fan the interlock did not start: what it does, not the unit's (idle) demand
    assert lp.state_code({"event": "uncommanded-run", "state": "idle", "running": True},
                         "ventilation") == 2
    assert lp.state_code({"event": "uncommanded-run", "state": "idle", "running": False},
                         "ventilation") == 0
    # a state taken up after a restart writes the run command again (as "started" does); a
    # manual off not taken up says nothing of the fan
    assert lp.state_code({"event": "restored", "state": "hold", "restored": True},
                         "ventilation") == 1
    assert lp.state_code({"event": "restored", "state": "idle", "restored": False},
                         "ventilation") is None


def test_device_dead_letter_and_counter_lines() -> None:
    assert lp.device_line(DeviceState("dust-1", False, T, "timeout", "s")) == (
        'device_status,device=dust-1,site=s online=0i,reason="timeout" 1790000000123')
    dl = DeadLetter(T, "occmon/v1/s/readings/x", "bad-json", 'no "json"', b"{\xff", "s")
    assert lp.dead_letter_line(dl) == (
        'dead_letter,code=bad-json,site=s,source=ingest n=1i,topic="occmon/v1/s/readings/x",'
        'message="no \\"json\\"",payload="{\ufffd" 1790000000123')
    counter = lp.counter_line("s", "accepted", 7, 5)
    assert counter == "ingest_counter,code=accepted,site=s count=7i 5"


def _state(line: str) -> str | None:
    """The ``state`` field of an event line (the JSON body field never reads ``,state=``)."""
    found = re.search(r",state=(\d+i)", line)
    return found.group(1) if found else None


def test_event_lines_of_the_real_engines_carry_state_codes() -> None:
    """Bodies exactly as gateway/alarms and gateway/interlock publish them."""
    from gateway.alarms.actions import AlarmKind, AlarmState, Cleared, FaultRaised, Raised
    from gateway.interlock.events import (
        VentilationConfirmed,
        VentilationFailureAlarm,
        VentilationStarted,
        VentilationStopped,
    )
    from occmon.config.alarms import Level

    common = {"alarm_id": "p:process", "point": "p", "kind": AlarmKind.PROCESS,
              "value": 12.0, "setpoint": 10.0, "unit": "mg/m3", "time": T, "occurrence": 1,
              "cause": "H2S over alarm"}
    alarm = {
        "raised": Raised(level=Level.ALARM, state=AlarmState.ACTIVE_UNACK, **common),
        "cleared": Cleared(level=Level.ALARM, state=AlarmState.CLEARED_UNACK, **common),
        "fault": FaultRaised(level=None, state=AlarmState.ACTIVE_UNACK, reason="stale",
                             **{**common, "kind": AlarmKind.FAULT}),
    }
    lines = {k: lp.event_line(Event("alarm", T, e.to_dict(), "s")) for k, e in alarm.items()}
    assert {k: _state(v) for k, v in lines.items()} == {
        "raised": "2i", "cleared": "0i", "fault": "4i"}
    assert "unit=" not in lines["raised"].split(" ")[0]  # mg/m3 is not a ventilation unit
    assert ' message="H2S over alarm",' in lines["raised"]

    unit = {"unit": "u1", "time": T, "state": "active", "cause": "alarm"}
    vent = {
        "started": VentilationStarted(**unit),
        "confirmed": VentilationConfirmed(fan="fan", device="fan-1", **unit),
        "failed": VentilationFailureAlarm(fan="fan", device="fan-1", alarm_id="u1:failure",
                                          active=True, **unit),
        "failure-cleared": VentilationFailureAlarm(fan="fan", device="fan-1",
                                                   alarm_id="u1:failure", active=False, **unit),
        "stopped": VentilationStopped(**{**unit, "state": "idle"}),
    }
    vlines = {k: lp.event_line(Event("ventilation", T, e.to_dict(), "s")) for k, e in vent.items()}
    assert {k: _state(v) for k, v in vlines.items()} == {
        "started": "1i", "confirmed": "2i", "failed": "4i", "failure-cleared": None,
        "stopped": "0i"}
    assert all(",unit=u1" in line.split(" ")[0] for line in vlines.values())
