"""Instrument states (NE 107), vendor references, relocatable maps, units and scales read
from registers, heartbeats and instrument events: profiles checked, then decoded through a
real pymodbus server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.modbus import states as st
from gateway.modbus import validate
from gateway.modbus.device import ModbusDevice
from gateway.modbus.drivers import build_drivers
from gateway.modbus.profile import ProfileError, load_profile, parse_profile, vendor_address
from gateway.modbus.validate import address_lines
from occmon.check import main as check_main
from tests.gateway.helpers import bindings_for
from tests.gateway.modbus_server import ModbusTestServer, Registers
from tests.gateway.sites import custom_site, load_plain

T = TypeVar("T")
NOW = 1_750_000_000.0
F50 = [0x4248, 0x0000]  # 50.0 as float32 ABCD (sign 0, exponent 132, mantissa 0x480000)
F12_34 = [0x4145, 0x70A4]  # 12.34


def test_vendor_references_become_pdu_addresses() -> None:
    assert vendor_address(40001) == ("holding", 0)
    assert vendor_address(40007) == ("holding", 6)
    assert vendor_address(400007) == ("holding", 6)
    assert vendor_address(30018) == ("input", 17)
    assert vendor_address(10002) == ("discrete", 1)
    assert vendor_address(17) == ("coil", 16)  # ADAM-4056SO DO coil 00017
    with pytest.raises(ValueError, match="not a vendor reference"):
        vendor_address(20001)  # no 2xxxx table
    with pytest.raises(ValueError, match="not a vendor reference"):
        vendor_address(40000)  # 1-based: 40000 is no register


def test_ref_and_kind_must_agree_and_address_is_derived() -> None:
    profile = parse_profile({"name": "p", "registers": [
        {"name": "gas", "ref": 40003, "type": "FLOAT32"}]}, "p")
    gas = profile.register("gas")
    assert (gas.kind, gas.address, gas.vendor) == ("holding", 2, "40003")
    with pytest.raises(ProfileError, match="ref 40003 is a holding reference but kind is input"):
        parse_profile({"name": "p", "registers": [
            {"name": "gas", "ref": 40003, "kind": "input", "type": "FLOAT32"}]}, "p")
    with pytest.raises(ProfileError, match="is holding address 2, not address 5"):
        parse_profile({"name": "p", "registers": [
            {"name": "gas", "ref": 40003, "address": 5, "kind": "holding",
             "type": "FLOAT32"}]}, "p")


RELOCATABLE = {
    "name": "ultima", "base": 40000, "registers": [
        {"name": "status", "ref": "base+201", "type": "UINT16", "role": "status",
         "states": [{"bits": 0, "values": {1: "failure:fault"}},
                    {"bits": "1-3", "values": {0: "normal"},
                     "default": "check-function:calibration"},
                    {"bits": 4, "values": {1: "check-function:warm-up"}}]},
        {"name": "gas1", "ref": "base+207", "type": "FLOAT32"},
        {"name": "gas2", "ref": "base+209", "type": "FLOAT32"},
    ]}


def test_a_relocatable_map_moves_with_the_device_base() -> None:
    profile = parse_profile(RELOCATABLE, "ultima")
    assert [(r.name, r.address) for r in profile.registers] == [
        ("status", 200), ("gas1", 206), ("gas2", 208)]  # 40201 -> 200, ...
    moved = profile.with_base(41000)
    assert [(r.name, r.address, r.vendor) for r in moved.registers] == [
        ("status", 1200, "41201"), ("gas1", 1206, "41207"), ("gas2", 1208, "41209")]
    assert profile.with_base(None) is profile
    with pytest.raises(ProfileError, match="needs the profile's base"):
        parse_profile({**RELOCATABLE, "base": None}, "ultima")


@pytest.mark.parametrize(("field", "message"), [
    ({"bits": "0-7", "values": {1: "normal"}}, "say what an unlisted value means"),
    ({"bits": 3, "values": {2: "normal"}}, "value 2 does not fit in 1 bit"),
    ({"bits": "12-19", "values": {1: "normal"}, "default": "failure"},
     "outside the register's 16 bits"),
    ({"bits": 0, "values": {1: "inhibited"}}, "'inhibited' is not a state"),
    ({"bits": 0}, "give values (value -> state) or heartbeat"),
    ({"bits": "3-1", "values": {1: "normal"}}, "the high bit comes second"),
])
def test_state_fields_are_checked(field: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_profile({"name": "p", "registers": [
            {"name": "gas", "ref": 40001, "type": "FLOAT32"},
            {"name": "s", "ref": 40003, "type": "UINT16", "role": "status",
             "states": [field]}]}, "p")


def test_states_on_a_value_register_or_a_float_are_refused() -> None:
    with pytest.raises(ProfileError) as exc:
        parse_profile({"name": "p", "registers": [
            {"name": "gas", "ref": 40001, "type": "FLOAT32", "heartbeat": 5}]}, "p")
    assert exc.value.problems == [
        "profile 'p': register 'gas' has states, heartbeat or applies_to but its role is "
        "value, not status",
        "profile 'p': register 'gas' has states or a heartbeat but is FLOAT32, not an "
        "integer word"]


def test_worst_state_follows_ne107_order() -> None:
    assert st.worst([]) == "normal"
    assert st.worst(["maintenance-required:x", "check-function:bump-test",
                     "out-of-specification:overload"]) == "check-function:bump-test"
    assert st.worst(["check-function:inhibit", "failure:f1"]) == "failure:f1"
    assert st.activity("check-function:zero-calibration-passed") == "calibration"
    assert st.activity("check-function:bump-test") == "bump-test"
    assert st.activity("check-function:inhibit") is None
    assert st.outcome("check-function:span-calibration-failed") == "failed"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def with_device(
    tmp_path: Path, profile: str, sensors: list[dict[str, Any]], registers: Registers,
    body: Callable[[ModbusDevice, ModbusTestServer], Awaitable[T]],
) -> T:
    path = custom_site(tmp_path, profile, sensors)
    config = load_plain(path)
    assert validate.check(config, path) == []
    device = config.devices[0]
    server = ModbusTestServer(device.port, {device.unit_id: registers})  # type: ignore[union-attr]
    await server.start()
    [driver] = build_drivers(config, bindings_for(config), path)
    try:
        return await body(driver, server)
    finally:
        await driver.close()
        await server.stop()


# In the style of Honeywell Midas 40001 STTS and 40005/40007: a state nibble, a fault
# field (bits 4-5), a heartbeat toggle (bit 11), an integer concentration whose decimals
# (bits 0-2) and unit (bits 8-15) sit in another register (DPUN).
MIDAS_LIKE = """
name: midas-like
registers:
  - name: stts
    ref: 40001
    type: UINT16
    role: status
    states:
      - {bits: 0-3, default: "failure:unknown-state",
         values: {0: "check-function:warm-up", 5: normal, 6: "check-function:bump-test",
                  7: "check-function:zero-calibration", 8: "check-function:span-calibration"}}
      - {bits: 4-5, default: "failure:unknown-state",
         values: {0: normal, 1: "maintenance-required:maintenance-fault",
                  2: "failure:instrument-fault"}}
      - {bits: 11, heartbeat: 10}
  - {name: conc, ref: 40005, type: UINT16,
     scale_from: {register: dpun, bits: 0-2, decimals: true},
     unit_from: {register: dpun, bits: 8-15, values: {1: ppm, 2: ppb}}}
  - {name: dpun, ref: 40007, type: UINT16, role: status}
"""


def test_nibbles_scale_and_unit_from_another_register(tmp_path: Path) -> None:
    """1234 with 2 decimals in ppm is 12.34 ppm; 0x0102 = unit 1 (ppm), 2 decimals."""
    async def body(gas: ModbusDevice, server: ModbusTestServer) -> list[tuple[Any, ...]]:
        out = []
        # (STTS, DPUN): normal; bump test; maintenance fault; instrument fault + bump test;
        # an unknown unit code; ppb with 1 decimal
        for stts, dpun in ((5, 0x0102), (6, 0x0102), (5 | 1 << 4, 0x0102),
                           (6 | 2 << 4, 0x0102), (5, 0x0302), (5, 0x0201)):
            await server.set(1, "holding", 0, [stts])
            await server.set(1, "holding", 6, [dpun])
            [reading] = await gas.poll(NOW)
            out.append((str(reading.quality), reading.reason, reading.raw_value,
                        reading.raw_unit))
        return out

    got = run(with_device(tmp_path, MIDAS_LIKE, [{"id": "g", "register": "conc"}],
                          {"holding": {0: 5, 4: 1234, 6: 0x0102}}, body))
    assert got == [
        ("good", None, pytest.approx(12.34), "ppm"),
        ("bad", "check-function:bump-test", pytest.approx(12.34), "ppm"),
        ("uncertain", "maintenance-required:maintenance-fault", pytest.approx(12.34), "ppm"),
        ("bad", "failure:instrument-fault", pytest.approx(12.34), "ppm"),
        ("bad", "unknown-unit", pytest.approx(12.34), "code 3"),
        ("good", None, pytest.approx(123.4), "ppb"),
    ]


def test_a_heartbeat_that_stops_is_a_failure(tmp_path: Path) -> None:
    async def body(gas: ModbusDevice, server: ModbusTestServer) -> list[str | None]:
        out = []
        for offset, toggle in ((0, 0), (4, 1), (8, 1), (13.9, 1), (14, 1), (15, 0)):
            await server.set(1, "holding", 0, [5 | toggle << 11])
            [reading] = await gas.poll(NOW + offset)
            out.append(reading.reason)
        return out

    # the bit changed at +4 s: unchanged until +13.9 is fine, at +14 (10 s) it stopped;
    # a change at +15 revives it
    got = run(with_device(tmp_path, MIDAS_LIKE, [{"id": "g", "register": "conc"}],
                          {"holding": {0: 5, 4: 100, 6: 0x0100}}, body))
    assert got == [None, None, None, None, "failure:heartbeat-stopped", None]


# Two sensors on one device, each with its own status word (SICK VISIC style), plus a
# device-wide 32-bit fault map over two registers (Sensepoint XCD 30018 style, CDAB).
MULTI = """
name: multi
registers:
  - {name: dust, ref: 30001, type: FLOAT32}
  - {name: co, ref: 30003, type: FLOAT32}
  - {name: dust_status, ref: 30005, type: UINT16, role: status, applies_to: [dust],
     states: [{bits: 0, values: {1: "check-function:zero-calibration"}}]}
  - {name: co_status, ref: 30006, type: UINT16, role: status, applies_to: [co],
     states: [{bits: 0, values: {1: "out-of-specification:over-range"}}]}
  - {name: faults, ref: 30007, type: UINT32, byte_order: CDAB, role: status,
     status_bits: {20: "failure:f14", 2: "maintenance-required:w3"}}
"""


def test_status_per_sensor_and_a_32_bit_map(tmp_path: Path) -> None:
    async def body(dev: ModbusDevice, server: ModbusTestServer) -> list[list[Any]]:
        out = []
        # (dust_status, co_status, faults low word, faults high word); CDAB: the low word
        # comes first on the wire, so bit 20 is bit 4 of the second register
        for words in ((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1 << 2, 0), (1, 0, 0, 1 << 4)):
            await server.set(1, "input", 4, list(words))
            out.append([(r.sensor, str(r.quality), r.reason) for r in await dev.poll(NOW)])
        return out

    got = run(with_device(
        tmp_path, MULTI, [{"id": "d", "register": "dust", "agent": "h2s", "unit": "mg/m3"},
                          {"id": "c", "register": "co", "agent": "co", "unit": "ppm"}],
        {"input": {0: F12_34 + F50 + [0, 0, 0, 0]}}, body))
    assert got == [
        [("d", "bad", "check-function:zero-calibration"), ("c", "good", None)],
        [("d", "good", None), ("c", "bad", "out-of-specification:over-range")],
        [("d", "uncertain", "maintenance-required:w3"),
         ("c", "uncertain", "maintenance-required:w3")],
        [("d", "bad", "failure:f14"), ("c", "bad", "failure:f14")],
    ]


def test_bump_test_and_calibration_become_instrument_events(tmp_path: Path) -> None:
    """XNX: normal -> bump test -> normal -> zero cal -> post-zero passed -> normal."""
    async def body(xnx: ModbusDevice, server: ModbusTestServer) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        xnx.on_event = events.append
        for offset, state in ((0, 1), (10, 10), (70, 10), (100, 1), (200, 12), (260, 16),
                              (270, 1)):
            await server.set(1, "holding", 6, [state])
            await server.set(1, "holding", 7, [offset])  # the heartbeat keeps counting
            await xnx.poll(NOW + offset)
        return events

    events = run(with_device(
        tmp_path, XNX_PROFILE, [{"id": "h", "register": "gas", "range": [0, 100]}],
        {"holding": {2: F50, 4: 0, 5: 0, 6: 1, 7: 0, 8: [0, 0], 10: 4}}, body))
    brief = [(e["event"], e.get("state"), e.get("previous"), e.get("duration_s"),
              e.get("result"), e.get("after")) for e in events]
    assert brief == [
        ("state-changed", "check-function:bump-test", "normal", 10.0, None, None),
        ("state-changed", "normal", "check-function:bump-test", 90.0, None, None),
        ("bump-test", None, None, 90.0, None, "normal"),
        ("state-changed", "check-function:zero-calibration", "normal", 100.0, None, None),
        ("state-changed", "check-function:zero-calibration-passed",
         "check-function:zero-calibration", 60.0, None, None),
        ("state-changed", "normal", "check-function:zero-calibration-passed", 10.0, None,
         None),
        ("calibration", None, None, 70.0, "passed", "normal"),
    ]
    bump = events[2]
    assert bump["sensors"] == ["h"] and bump["points"] == ["p-h"] and bump["who"] is None
    # NOW is 2025-06-15T15:06:40Z
    assert bump["start"] == "2025-06-15T15:06:50.000Z"  # NOW + 10 s
    assert bump["end"] == "2025-06-15T15:08:20.000Z"  # NOW + 100 s


def test_an_inhibit_left_on_becomes_a_failure(tmp_path: Path) -> None:
    profile = XNX_PROFILE.replace("name: honeywell-xnx", "name: xnx-short\n"
                                  "check_function_limit: 60")

    async def body(xnx: ModbusDevice, server: ModbusTestServer) -> list[str | None]:
        out = []
        for offset in (0, 59, 60):
            await server.set(1, "holding", 7, [offset])
            [reading] = await xnx.poll(NOW + offset)
            out.append(reading.reason)
        return out

    got = run(with_device(
        tmp_path, profile, [{"id": "h", "register": "gas", "range": [0, 100]}],
        {"holding": {2: [0, 0], 4: 0, 5: 0, 6: 3, 7: 0, 8: [0, 0], 10: 4}}, body))
    assert got == ["check-function:inhibit", "check-function:inhibit",
                   "failure:check-function-timeout"]


XNX_PROFILE = (Path(__file__).resolve().parents[2] / "gateway" / "modbus" / "profiles"
               / "honeywell-xnx.yaml").read_text(encoding="utf-8")


def test_config_check_shows_the_derived_addresses(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = custom_site(tmp_path, XNX_PROFILE, [{"id": "h", "register": "gas",
                                                "range": [0, 100]}])
    config = load_plain(path)
    [line] = address_lines(config, path)
    assert line.startswith("device 'dev' (profile 'honeywell-xnx'): gas 40003 = holding 2; ")
    assert "state 40007 = holding 6; heartbeat 40008 = holding 7;" in line
    assert line.endswith("loop_current 40037 = holding 36")
    assert check_main([str(path)]) == 0
    assert f"  {line}" in capsys.readouterr().out.splitlines()


def test_builtin_xnx_profile_cites_its_source() -> None:
    profile = load_profile("honeywell-xnx")
    assert profile.source is not None and "Appendix B.2" in profile.source
    state = profile.register("state")
    [field] = state.state_fields
    assert field.values[10] == "check-function:bump-test"
    assert field.default == st.UNKNOWN_STATE


def test_config_check_moves_a_relocatable_map_and_refuses_a_useless_base(
        tmp_path: Path) -> None:
    import yaml

    path = custom_site(tmp_path, yaml.safe_dump(RELOCATABLE), [{"id": "g", "register": "gas1",
                                                                "unit": "ppm"}])
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["devices"][0]["base_address"] = 41000
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_plain(path)
    assert validate.check(config, path) == []
    [line] = address_lines(config, path)
    assert line == ("device 'dev' (profile 'ultima', base 41000): status 41201 = holding 1200 "
                    "(base+201); gas1 41207 = holding 1206 (base+207); gas2 41209 = holding "
                    "1208 (base+209)")
    (tmp_path / "custom.yaml").write_text(XNX_PROFILE, encoding="utf-8")
    data["sensors"][0]["register"] = "gas"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    [problem] = validate.check(load_plain(path), path)
    assert problem.key == "devices[0].base_address"
    assert "would move nothing" in str(problem)


def test_a_refused_status_read_makes_the_values_bad_not_good(tmp_path: Path) -> None:
    """The state lives in its own request (40020, a gap away): an exception response for it
    must not let test gas through as good, nor end the bump test."""
    profile = """
name: split
registers:
  - {name: gas, ref: 40001, type: FLOAT32, unit: ppm}
  - name: state
    ref: 40020
    type: UINT16
    role: status
    states: [{bits: 0-7, default: "failure:unknown-state",
              values: {1: normal, 10: "check-function:bump-test"}}]
"""

    async def body(dev: ModbusDevice, server: ModbusTestServer) -> tuple[list[Any], list[Any]]:
        events: list[dict[str, Any]] = []
        dev.on_event = events.append
        out = []
        await server.set(1, "holding", 19, [10])
        out.append((await dev.poll(NOW))[0].reason)
        await server.stop()  # restarted with the state register missing: exception 0x02
        server.units = {1: {"holding": {0: F50}}}
        await server.start()
        out.append((await dev.poll(NOW + 1))[0].reason)
        await server.stop()
        server.units = {1: {"holding": {0: F50, 19: 1}}}
        await server.start()
        out.append((await dev.poll(NOW + 2))[0].reason)
        return out, [(e["event"], e.get("state"), e.get("duration_s")) for e in events]

    reasons, events = run(with_device(tmp_path, profile, [{"id": "g", "register": "gas"}],
                                      {"holding": {0: F50, 19: 1}}, body))
    assert reasons == ["check-function:bump-test", "failure:status-unreadable", None]
    assert events == [
        ("state-changed", "check-function:bump-test", 0.0),
        ("state-changed", "failure:status-unreadable", 1.0),
        ("state-changed", "normal", 1.0),
        ("bump-test", None, 2.0),  # from NOW to NOW + 2: the refused read did not end it
    ]


def test_a_flapping_state_word_is_rate_limited(tmp_path: Path) -> None:
    from gateway.modbus.device import STATE_EVENTS_PER_WINDOW

    async def body(xnx: ModbusDevice, server: ModbusTestServer) -> tuple[int, int, int]:
        events: list[dict[str, Any]] = []
        xnx.on_event = events.append
        for n in range(40):  # inhibit / normal every poll, one second apart
            await server.set(1, "holding", 6, [3 if n % 2 else 1])
            await server.set(1, "holding", 7, [n])
            await xnx.poll(NOW + n)
        sent = len(events)
        await server.set(1, "holding", 6, [1])  # back to normal, in a new window
        await server.set(1, "holding", 7, [700])
        await xnx.poll(NOW + 700)
        assert (events[-1]["previous"], events[-1]["state"]) == ("check-function:inhibit",
                                                                 "normal")
        return sent, len(events), xnx.counters["instrument-event-suppressed"]

    sent, after, suppressed = run(with_device(
        tmp_path, XNX_PROFILE, [{"id": "h", "register": "gas", "range": [0, 100]}],
        {"holding": {2: F50, 4: 0, 5: 0, 6: 1, 7: 0, 8: [0, 0], 10: 4}}, body))
    # 39 changes (polls 1..39): the first 30 sent, 9 suppressed; then one in the new window
    assert (sent, suppressed, after) == (STATE_EVENTS_PER_WINDOW, 39 - 30, 31)
