"""Operator commands that are not the API's signed ones change nothing, end to end.

Real Mosquitto, the real gateway (alarm engine, interlock, command listener), the simulated
gas detector and fans over Modbus TCP, ingest into SQLite, and the API over HTTP. The
attacker is a plain MQTT client on the broker, publishing on ``commands/request`` as the
API does; what it gets back is read on ``commands/result``, and the audit trail from the
store ingest writes (``events`` of kind ``audit``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gateway.interlock.unit import UnitSnapshot
from occmon import signing
from tests.safety.commands_signed import Requester, envelope, error_code, signed
from tests.safety.rig import ALARM_PPM, PROCESS, SITE, Rig, events_named, running
from tests.servers import Mosquitto, wait_for

pytestmark = pytest.mark.server

UNIT = "desulf-exhaust"


def unit_snapshot(rig: Rig) -> UnitSnapshot:
    return rig.call(lambda: rig.gateway.safety.interlock.units[UNIT].snapshot())


def audit_events(rig: Rig) -> list[dict[str, Any]]:
    """Stored ``events/audit`` bodies, oldest first."""
    with rig.reader() as reader:
        return [e.body for e in reversed(reader.events("audit", limit=1000))]


def refusals(rig: Rig) -> dict[str, int]:
    return {k.removeprefix("safety.commands.refused."): v for k, v in rig.counters().items()
            if k.startswith("safety.commands.refused.")}


def alarm_state(rig: Rig) -> str:
    point = rig.call(lambda: rig.gateway.safety.engine.snapshot())[PROCESS.split(":")[0]]
    return next(str(a["state"]) for a in point.to_dict()["alarms"] if a["alarm_id"] == PROCESS)


def test_forged_override_during_a_leak_leaves_the_fan_running(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
        wait_for(lambda: events_named(rig.alarm_events(PROCESS), "raised"), 15, "the alarm")
        wait_for(lambda: rig.fan_running("fan-1"), 10, "the interlock running fan-1")
        attacker = Requester(mosquitto.host, mosquitto.port, SITE)
        try:
            # the body of the report: no request id, nothing to answer, nothing done
            attacker.publish({"command": "override", "unit": UNIT, "mode": "off", "user": "x"})
            forged = {"unit": UNIT, "mode": "off", "user": "x", "reason": "forged"}
            unsigned = attacker.send(envelope("override", site=SITE, **forged))
            assert error_code(unsigned) == "unsigned"
            stranger = signing.generate()  # a key pair the gateway never heard of
            wrong_key = attacker.send(signed(stranger, "override", site=SITE, **forged))
            assert error_code(wrong_key) == "bad-signature"
            assert "does not verify" in wrong_key["error"]["message"]
            # the API's own key, but a staff member's shelve: signed, and still refused
            api_key = signing.load_private(rig.config.security.signing_key)
            staff_shelve = attacker.send(signed(
                api_key, "shelve", site=SITE, role="staff", user="zhang", alarm_id=PROCESS,
                until=time.time() + 600, reason="too loud"))
            assert error_code(staff_shelve) == "forbidden-role"
            assert "'shelve' is for officer only, not staff" in staff_shelve["error"]["message"]

            # nothing changed: the fan's coil stays on through polls and ticks, no override
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                assert rig.fan_commanded("fan-1")
                time.sleep(0.1)
            assert rig.fan_running("fan-1")
            assert unit_snapshot(rig).override_by is None
            assert alarm_state(rig) == "active-unacknowledged"
            assert refusals(rig) == {"malformed": 1, "unsigned": 1, "bad-signature": 1,
                                     "forbidden-role": 1}
            assert "safety.commands.ok" not in rig.counters()

            # every refusal is on record, with its code and who claimed to send it
            audit = wait_for(lambda: len(audit_events(rig)) >= 4 and audit_events(rig), 10,
                             "four audit events in the store")
            assert [(a["code"], a["signed"]) for a in audit] == [
                ("malformed", False), ("unsigned", False), ("bad-signature", False),
                ("forbidden-role", True)]
            assert all(a["event"] == "command-refused" and a["site"] == SITE for a in audit)
            assert [a.get("command") for a in audit] == ["override"] * 3 + ["shelve"]
            assert audit[0]["user"] == "x" and audit[0]["mode"] == "off"
            assert audit[3]["role"] == "staff" and audit[3]["alarm_id"] == PROCESS
            assert all("signature" not in a for a in audit)
            assert not [r for r in rig.ventilation_log() if r.event in ("override", "inhibited")]
            assert not events_named(rig.alarm_events(PROCESS), "shelved")

            # the channel itself works: the API's signed override stops the fan at once
            off = rig.api.post(f"/api/v1/ventilation/{UNIT}/override",
                               json={"mode": "off", "user": "wang", "reason": "belt guard"})
            assert off.status_code == 200, off.text
            wait_for(lambda: not rig.fan_commanded("fan-1"), 10, "the officer's stop")
            assert unit_snapshot(rig).override_by == "wang"
        finally:
            attacker.close()


def test_replayed_stale_early_and_misaddressed_commands_are_refused(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        key = signing.load_private(rig.config.security.signing_key)
        attacker = Requester(mosquitto.host, mosquitto.port, SITE)
        try:
            run = signed(key, "override", site=SITE, unit=UNIT, mode="on", user="wang",
                         reason="test run")
            assert attacker.send(run)["ok"], "a correctly signed command is executed"
            wait_for(lambda: rig.fan_commanded("fan-1"), 10, "the test run")
            back = signed(key, "override", site=SITE, unit=UNIT, mode="auto", user="wang",
                          reason="test over")
            assert attacker.send(back)["ok"]
            assert unit_snapshot(rig).override_by is None
            # the recorded "on", published again byte for byte (same request id and nonce)
            del attacker.results[run["request_id"]]
            assert error_code(attacker.send(run)) == "replay"
            # the same nonce under a new request id is the same command
            again = signed(key, "override", site=SITE, unit=UNIT, mode="on", user="wang",
                           reason="test run", nonce=run["nonce"])
            assert error_code(attacker.send(again)) == "replay"
            old = signed(key, "override", site=SITE, unit=UNIT, mode="on", user="wang",
                         reason="test run", sent=time.time() - 31)  # max age 30 s
            stale = attacker.send(old)
            assert error_code(stale) == "stale"
            assert "security.max_command_age = 30 s" in stale["error"]["message"]
            early = signed(key, "override", site=SITE, unit=UNIT, mode="on", user="wang",
                           reason="test run", sent=time.time() + 60)  # skew allowed: 5 s
            assert error_code(attacker.send(early)) == "clock-skew"
            elsewhere = signed(key, "override", site="other-plant", unit=UNIT, mode="on",
                               user="wang", reason="test run")
            assert error_code(attacker.send(elsewhere)) == "wrong-site"

            assert unit_snapshot(rig).override_by is None
            assert refusals(rig) == {"replay": 2, "stale": 1, "clock-skew": 1, "wrong-site": 1}
            assert rig.counters()["safety.commands.ok"] == 2
            audit = wait_for(lambda: len(audit_events(rig)) >= 5 and audit_events(rig), 10,
                             "five audit events in the store")
            assert [a["code"] for a in audit] == ["replay", "replay", "stale", "clock-skew",
                                                  "wrong-site"]
            assert all(a["signed"] and a["principal"] == "officer" for a in audit)
            overrides = [r for r in rig.ventilation_log() if r.event == "override"]
            assert [r.body["mode"] for r in overrides] == ["on", "auto"]
        finally:
            attacker.close()


def test_the_api_signs_for_officer_and_staff_and_refuses_what_a_role_may_not(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    with running(tmp_path, mosquitto) as rig:
        rig.call(rig.plant.set_value, "gp1-h2s", ALARM_PPM * 1.3)
        wait_for(lambda: events_named(rig.alarm_events(PROCESS), "raised"), 15, "the alarm")
        alarm = f"/api/v1/alarms/{PROCESS}"
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
        officer_only = [
            (f"{alarm}/shelve", {"user": "zhang", "until": until, "reason": "x"}),
            (f"{alarm}/unshelve", {"user": "zhang"}),
            (f"{alarm}/resolve", {"user": "zhang", "reason_code": "false-alarm"}),
            (f"{alarm}/out-of-service", {"user": "zhang", "reason": "x"}),
            (f"{alarm}/in-service", {"user": "zhang"}),
            (f"/api/v1/ventilation/{UNIT}/override",
             {"mode": "off", "user": "zhang", "reason": "x"}),
            (f"/api/v1/ventilation/{UNIT}/reset", {"user": "zhang"}),
        ]
        for path, body in officer_only:
            refused = rig.staff.post(path, json=body)
            assert refused.status_code == 403, (path, refused.text)
        assert "safety.commands.ok" not in rig.counters()  # none of them reached the gateway
        acked = rig.staff.post(f"{alarm}/acknowledge", json={"user": "zhang"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["events"][0]["user"] == "zhang"
        shelved = rig.api.post(f"{alarm}/shelve", json=officer_only[0][1])
        assert shelved.status_code == 200, shelved.text
        assert rig.counters()["safety.commands.ok"] == 2
        assert refusals(rig) == {}
        assert audit_events(rig) == []
