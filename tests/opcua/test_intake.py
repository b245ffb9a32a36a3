"""The OPC UA intake against a real asyncua server over real sockets."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Awaitable, Callable

from asyncua import ua

from gateway.opcua import OpcUaIntake
from occmon.model import Quality, Reason
from tests.opcua.helpers import RecordingSink, intake_for, panel_site, until
from tests.opcua.server import OpcUaServer

H2S_MG_PER_PPM = 34.08 / 24.04  # molar mass / molar volume at 20 C, 101.3 kPa
INTERVAL = 0.2


def run(server: OpcUaServer, body: Callable[[OpcUaIntake, RecordingSink], Awaitable[None]],
        *, backoff_max: float = 30.0, **device: object) -> RecordingSink:
    config = panel_site(server.endpoint, interval=INTERVAL, **device)
    sink = RecordingSink()

    async def main() -> None:
        intake = intake_for(config, backoff_max=backoff_max)
        await intake.start(sink)
        try:
            assert await until(lambda: any(s.online for s in sink.statuses)), sink.statuses
            await body(intake, sink)
        finally:
            await intake.stop()

    asyncio.run(main())
    return sink


def test_a_changed_value_flows_with_its_source_time(panel: OpcUaServer) -> None:
    taken = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)

    async def body(_: OpcUaIntake, sink: RecordingSink) -> None:
        await asyncio.to_thread(panel.set, "H2S", 5.0, source=taken)
        assert await until(lambda: any(r.raw_value == 5.0 for r in sink.of("p1-h2s")))

    sink = run(panel, body)
    first = next(r for r in sink.of("p1-h2s") if r.raw_value == 5.0)
    assert first.quality is Quality.GOOD
    assert first.value is not None and abs(first.value - 5.0 * H2S_MG_PER_PPM) < 1e-9
    assert first.unit == "mg/m3" and first.raw_unit == "ppm"
    assert abs(first.time - taken.timestamp()) < 1e-3
    assert [s.online for s in sink.statuses] == [True]
    assert not [r for r in sink.got if r.quality is Quality.BAD]  # no fault at start-up


def test_a_bad_status_is_a_bad_reading_that_is_never_shown_live(panel: OpcUaServer) -> None:
    async def body(_: OpcUaIntake, sink: RecordingSink) -> None:
        await asyncio.to_thread(panel.set, "H2S", 7.0, status=ua.StatusCodes.BadSensorFailure)
        assert await until(lambda: any(r.quality is Quality.BAD for r in sink.of("p1-h2s")))
        await asyncio.sleep(3 * INTERVAL)  # the held bad reading is repeated, still bad

    sink = run(panel, body)
    bad = [r for r in sink.of("p1-h2s") if r.quality is Quality.BAD]
    assert len(bad) >= 2
    assert {r.reason for r in bad} == {"opcua-bad:BadSensorFailure"}
    assert all(r.value is None for r in bad)
    after = sink.got.index(bad[0])
    assert not [r for r in sink.of("p1-h2s")[1:] if sink.got.index(r) > after
                and r.quality is not Quality.BAD]


def test_an_uncertain_status_keeps_the_value_marked_uncertain(panel: OpcUaServer) -> None:
    async def body(_: OpcUaIntake, sink: RecordingSink) -> None:
        await asyncio.to_thread(panel.set, "CO", 30.0,
                                status=ua.StatusCodes.UncertainLastUsableValue)
        assert await until(lambda: any(r.raw_value == 30.0 for r in sink.of("p1-co")))

    sink = run(panel, body)
    got = next(r for r in sink.of("p1-co") if r.raw_value == 30.0)
    assert got.quality is Quality.UNCERTAIN
    assert got.reason == "opcua-uncertain:UncertainLastUsableValue"
    assert got.value is not None and abs(got.value - 30.0 * 28.01 / 24.04) < 1e-9


def test_a_source_time_an_hour_ahead_is_clock_skew_at_arrival_time(panel: OpcUaServer) -> None:
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    window: list[float] = []

    async def body(_: OpcUaIntake, sink: RecordingSink) -> None:
        window.append(time.time())
        await asyncio.to_thread(panel.set, "H2S", 42.0, source=ahead)
        assert await until(lambda: any(r.raw_value == 42.0 for r in sink.of("p1-h2s")))
        window.append(time.time())

    sink = run(panel, body)
    got = next(r for r in sink.of("p1-h2s") if r.raw_value == 42.0)
    assert got.quality is Quality.UNCERTAIN and got.reason == Reason.CLOCK_SKEW
    assert window[0] <= got.time <= window[1]  # the arrival time, not the hour ahead
    assert got.value is not None and abs(got.value - 42.0 * H2S_MG_PER_PPM) < 1e-9


def test_a_sample_older_than_max_age_is_a_dead_letter(panel: OpcUaServer) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=401)

    async def body(intake: OpcUaIntake, sink: RecordingSink) -> None:
        await asyncio.to_thread(panel.set, "H2S", 9.0, source=old)
        assert await until(lambda: any(x.reason == "too-old" for x in sink.letters))

    sink = run(panel, body)
    assert not [r for r in sink.of("p1-h2s") if r.raw_value == 9.0]
    letter = next(x for x in sink.letters if x.reason == "too-old")
    assert letter.source == "gas-panel-1" and letter.topic == "ns=2;s=GasPanel.H2S"


def test_text_where_a_number_belongs_is_bad_and_dead_lettered(panel: OpcUaServer) -> None:
    nodes = {"h2s": "ns=2;s=GasPanel.H2S", "co": "ns=2;s=GasPanel.Label"}

    async def body(_: OpcUaIntake, sink: RecordingSink) -> None:
        await asyncio.to_thread(panel.set, "Label", "ERR" * 100_000,
                                variant=ua.VariantType.String)
        assert await until(lambda: any(x.reason == "wrong-type" and b"ERRERR" in x.payload
                                       for x in sink.letters))

    sink = run(panel, body, nodes=nodes)
    last = sink.of("p1-co")[-1]
    assert last.quality is Quality.BAD and last.reason == "wrong-type"
    letter = next(x for x in sink.letters if b"ERRERR" in x.payload)
    assert len(letter.payload) < 1000 and len(letter.message) < 200  # 300 kB sent


def test_an_unchanged_value_is_repeated_each_publishing_interval(panel: OpcUaServer) -> None:
    async def body(_: OpcUaIntake, sink: RecordingSink) -> None:
        await asyncio.to_thread(panel.set, "H2S", 3.0)
        assert await until(lambda: any(r.raw_value == 3.0 for r in sink.of("p1-h2s")))
        await asyncio.sleep(10 * INTERVAL)

    sink = run(panel, body)
    threes = [r for r in sink.of("p1-h2s") if r.raw_value == 3.0]
    gaps = [b.time - a.time for a, b in itertools.pairwise(threes)]
    assert len(threes) >= 6, gaps
    assert max(gaps) < 2 * INTERVAL + 0.1, gaps  # stale would be 3 intervals
    assert all(r.quality is Quality.GOOD for r in threes)


def test_an_unknown_node_is_bad_while_the_others_flow(panel: OpcUaServer) -> None:
    nodes = {"h2s": "ns=2;s=GasPanel.H2S", "co": "ns=2;s=GasPanel.NoSuchDetector"}

    async def body(_: OpcUaIntake, sink: RecordingSink) -> None:
        await asyncio.to_thread(panel.set, "H2S", 4.0)
        assert await until(lambda: any(r.raw_value == 4.0 for r in sink.of("p1-h2s")))

    sink = run(panel, body, nodes=nodes)
    assert {r.reason for r in sink.of("p1-co")} == {"opcua-bad:BadNodeIdUnknown"}
    assert [x.reason for x in sink.letters] == ["node-rejected"]


def test_a_restarted_server_gets_its_subscription_back(own_panel: OpcUaServer) -> None:
    async def body(intake: OpcUaIntake, sink: RecordingSink) -> None:
        await asyncio.to_thread(own_panel.set, "H2S", 6.0)
        assert await until(lambda: any(r.raw_value == 6.0 for r in sink.of("p1-h2s")))
        await asyncio.to_thread(own_panel.stop)
        assert await until(lambda: [s.online for s in sink.statuses] == [True, False])
        down = len(sink.got)
        await asyncio.sleep(4 * INTERVAL)
        while_down = sink.got[down:]
        assert while_down, "no readings while the server is down: the gap would be silent"
        assert all(r.quality is Quality.BAD and r.reason == Reason.DEVICE_OFFLINE
                   for r in while_down)
        await asyncio.to_thread(own_panel.start)  # same port, a fresh address space
        assert await until(lambda: [s.online for s in sink.statuses] == [True, False, True],
                           15)
        await asyncio.to_thread(own_panel.set, "H2S", 8.0)
        assert await until(lambda: any(r.raw_value == 8.0 for r in sink.of("p1-h2s")))
        assert intake.counters()["opcua.gas-panel-1.connects"] == 2

    sink = run(own_panel, body, backoff_max=0.5)  # production: 30 s
    offline = next(s for s in sink.statuses if not s.online)
    assert offline.device == "gas-panel-1" and offline.reason == "connection-lost"
    eight = next(r for r in sink.of("p1-h2s") if r.raw_value == 8.0)
    assert eight.quality is Quality.GOOD


def test_a_server_that_hangs_with_its_socket_open_is_offline_within_seconds(
        own_panel: OpcUaServer) -> None:
    times: dict[str, float] = {}

    async def body(_: OpcUaIntake, sink: RecordingSink) -> None:
        await asyncio.to_thread(own_panel.set, "CO", 11.0)
        assert await until(lambda: any(r.raw_value == 11.0 for r in sink.of("p1-co")))
        await asyncio.to_thread(own_panel.freeze)
        times["frozen"] = time.monotonic()
        assert await until(lambda: [s.online for s in sink.statuses] == [True, False], 10)
        times["offline"] = time.monotonic()
        await asyncio.to_thread(own_panel.thaw)
        assert await until(lambda: [s.online for s in sink.statuses] == [True, False, True],
                           15)
        await asyncio.to_thread(own_panel.set, "CO", 12.0)
        assert await until(lambda: any(r.raw_value == 12.0 for r in sink.of("p1-co")))

    sink = run(own_panel, body, backoff_max=0.5)
    assert times["offline"] - times["frozen"] < 5.0  # asyncua probes the session each second
    offline_at = next(s.time for s in sink.statuses if not s.online)
    # never a good value stamped after the device went offline until it was back
    back_at = [s.time for s in sink.statuses if s.online][1]
    assert not [r for r in sink.got if offline_at <= r.time < back_at
                and r.quality is Quality.GOOD]
