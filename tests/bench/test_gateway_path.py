"""bench/gateway_path.py works: it accounts for every reading, and says so truthfully.

The checker is judged first on readings made by hand (a dropped, a duplicated and a
corrupted reading must each be found), then the whole bench runs small against real
servers (a pymodbus plant, a private Mosquitto, ``occmon gateway`` as its own process):
every expected reading must be delivered with its right value, and the figures it prints
must be sane. No timing is asserted: the machine is shared and the figures are for people.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import gateway_path as bench
from occmon.model import Quality, Reading
from occmon.payload import encode_batch
from tests.servers import mosquitto_binary

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gateway_path.py"


def polls(devices: int, values: int, times: list[float]) -> list[tuple[float, Any]]:
    """Every reading the plant's formula gives, each arriving 5 ms after its time."""
    return [(t + 0.005, bench.Delivered(f"p-{n}-{i}", t, bench.plant_value(n, i, int(t)),
                                        True))
            for t in times for n in range(devices) for i in range(values)]


def test_a_clean_stream_is_fully_accounted() -> None:
    # 2 devices x 2 values polled at 0.3, 1.3, ..., 9.3 s; window [4, 8): polls 4.3 .. 7.3
    acc = bench.account(polls(2, 2, [k + 0.3 for k in range(10)]), 2, 2, 1.0, (4.0, 8.0))
    assert acc.expected == 2 * 2 * 4
    assert (acc.delivered, acc.missing, acc.duplicates, acc.wrong) == (16, 0, 0, 0)
    assert acc.latencies == pytest.approx([0.005] * 16)


def test_a_dropped_a_duplicated_and_a_wrong_reading_are_each_found() -> None:
    stream = polls(2, 2, [k + 0.3 for k in range(10)])
    in_window = [i for i, (_, r) in enumerate(stream) if 4.0 <= r.time < 8.0]
    dropped = stream.pop(in_window[0])  # one expected reading never arrives
    stream.append(stream[in_window[5]])  # one arrives twice (QoS 1 may do that)
    arrival, victim = stream[in_window[9]]
    stream[in_window[9]] = (arrival, bench.Delivered(victim.point, victim.time,
                                                     victim.value + 0.5, True))
    acc = bench.account(stream, 2, 2, 1.0, (4.0, 8.0))
    assert dropped[1].point != victim.point or dropped[1].time != victim.time
    assert acc.expected == 16
    assert acc.duplicates == 1
    assert acc.wrong == 1
    assert acc.missing == 2  # the dropped one and the corrupted one
    assert acc.delivered == 14
    assert acc.missing_polls == 0  # the other value of each of those polls came
    assert bench.failed({"missing": acc.missing, "config_check_exit": 0, "startup_s": 1.0,
                         "gateway_exit": 0}) == ["2 missing"]


def test_a_silent_device_is_missing_for_its_whole_window() -> None:
    stream = [(a, r) for a, r in polls(3, 2, [k + 0.3 for k in range(10)])
              if not r.point.startswith("p-2-")]
    acc = bench.account(stream, 3, 2, 1.0, (4.0, 8.0))
    assert (acc.expected, acc.delivered, acc.missing) == (3 * 2 * 4, 16, 8)
    assert acc.missing_polls == 4  # its four ticks in the window


def test_decode_message_takes_the_gateway_payload_and_refuses_others() -> None:
    readings = [Reading("p-1-0", "cement-dust", 1700000000.25, 3.5, "mg/m3", Quality.GOOD),
                Reading("p-1-1", "cement-dust", 1700000000.25, None, "mg/m3", Quality.BAD,
                        reason="device-offline")]
    got = bench.decode_message("occmon/v1/x/readings", encode_batch("x", readings))
    assert [(d.point, d.time, d.value, d.good) for d in got] == [
        ("p-1-0", 1700000000.25, 3.5, True), ("p-1-1", 1700000000.25, None, False)]
    with pytest.raises(ValueError, match="no decoder"):
        bench.decode_message("occmon/v1/x/readings", b"\x00\x01binary")


@pytest.mark.server
@pytest.mark.slow
def test_the_bench_delivers_every_reading_against_real_servers() -> None:
    mosquitto_binary()  # skips outside CI when Mosquitto is not installed
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--devices", "5", "--registers", "4", "--window", "3",
         "--warmup", "2", "--drain", "2"],
        capture_output=True, text=True, timeout=110, check=False)
    results = [json.loads(line[len("RESULT "):]) for line in done.stdout.splitlines()
               if line.startswith("RESULT ")]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(results) == 1
    r = results[0]
    # 5 devices x 2 values x 3 polls in a 3 s window at 1 Hz (one more per device if the
    # window's end overshoots a device's tick)
    assert 5 * 2 * 3 <= r["expected"] <= 5 * 2 * 4
    assert r["delivered"] == r["expected"]
    assert (r["missing"], r["wrong_values"], r["undecodable"]) == (0, 0, 0)
    assert r["failures"] == []
    assert r["readings_per_s"] == pytest.approx(r["delivered"] / r["window_s"], abs=0.1)
    assert 0 < r["cpu_pct"] < 100
    assert 10 < r["rss_mb"] <= r["peak_rss_mb"] + 0.1
    assert r["disk_kib_s"] >= 0
    assert 4 < r["bytes_per_reading"] < 1000  # at least a FLOAT32 value, at most a page
    assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"] <= r["latency_max_ms"]
    assert 0 < r["startup_s"] <= r["all_points_s"]
    assert r["config_check_exit"] == 0 and r["config_check_s"] > 0
    assert r["gateway_exit"] == 0
    assert "| expected / delivered / missing |" in done.stdout  # the table people paste


def test_a_late_poll_is_delivered_not_missing() -> None:
    # device 1's poll of 5.3 s runs 0.7 s late (a busy event loop): same tick, on time
    times = [k + 0.3 for k in range(10)]
    stream = [(a, r) for a, r in polls(2, 2, times)
              if not (r.point.startswith("p-1-") and r.time == 5.3)]
    stream += [(a, r) for a, r in polls(2, 2, [6.0]) if r.point.startswith("p-1-")]
    acc = bench.account(stream, 2, 2, 1.0, (4.0, 8.0))
    assert (acc.expected, acc.delivered, acc.missing, acc.extra_polls) == (16, 16, 0, 0)
    assert max(acc.poll_lags) == pytest.approx(0.7)


def test_response_latency_counts_from_the_plant_s_answer_to_each_poll() -> None:
    # device 0's polls answered 3 ms after they were sent, device 1's after 1 ms; arrivals
    # 5 ms after the poll: the gateway's own share is 2 ms (device 1: 4 ms)
    times = [k + 0.3 for k in range(10)]
    answers = {0: [t + 0.003 for t in times], 1: [t + 0.001 for t in times]}
    del answers[1][5]  # device 1's poll of 5.3 s: no answer on record near it
    acc = bench.account(polls(2, 2, times), 2, 2, 1.0, (4.0, 8.0), answers)
    assert len(acc.latencies) == 16
    assert sorted(acc.response_latencies) == pytest.approx([0.002] * 8 + [0.004] * 6)
    assert acc.unanswered == 2  # the two values of that one poll
    assert bench.account(polls(2, 2, times), 2, 2, 1.0, (4.0, 8.0)).response_latencies == []
