"""bench/peer_nodered.py builds a fair Node-RED flow and accounts for its readings truly.

The flow generator and the decoder are judged without Node-RED: the flow has one Modbus
client and one read node per device on that device's port; the function node's body,
run by Node.js where it is installed, turns the plant's registers into the plant's exact
FLOAT32 values; the decoder names points as gateway_path does and times each reading by
the plant's answer to its poll. The end-to-end run needs Node-RED already installed in the
cache folder (the test never downloads it).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench import peer_nodered as peer
from occmon.model import Quality, Reading
from occmon.payload import encode_batch
from tests.servers import mosquitto_binary

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "peer_nodered.py"


gp = peer.gp


def message(device: int, stamp: float, values: list[float | None]) -> bytes:
    """A payload as the function node writes it (JSON.stringify's key order)."""
    return json.dumps({"device": device, "time": stamp, "values": values},
                      separators=(",", ":")).encode()


def test_the_flow_has_one_client_and_one_read_node_per_device_on_its_port() -> None:
    ports = [15020, 15031, 15042]
    nodes = peer.flows_document(ports, 20, 1.0, 18830)
    by_id = {n["id"]: n for n in nodes}
    assert len(by_id) == len(nodes)
    clients = [n for n in nodes if n["type"] == "modbus-client"]
    reads = [n for n in nodes if n["type"] == "modbus-read"]
    assert len(clients) == len(reads) == 3
    (fn,) = [n for n in nodes if n["type"] == "function"]
    (out,) = [n for n in nodes if n["type"] == "mqtt out"]
    (broker,) = [n for n in nodes if n["type"] == "mqtt-broker"]
    # nothing else: no debug nodes, no extra per-message work
    assert len(nodes) == 1 + 3 + 3 + 3
    for n, read in enumerate(reads):
        client = by_id[read["server"]]
        assert (client["clienttype"], client["tcpHost"], client["tcpPort"],
                client["unit_id"]) == ("tcp", "127.0.0.1", str(ports[n]), "1")
        assert (read["dataType"], read["adr"], read["quantity"], read["unitid"]) == (
            "HoldingRegister", "0", "20", "1")
        assert (read["rate"], read["rateUnit"]) == ("1000", "ms")
        assert read["topic"] == f"nodered/gwbench/readings/{n}"
        assert read["showStatusActivities"] is False
        assert read["wires"] == [[fn["id"]], []]
    assert len({r["server"] for r in reads}) == 3  # a client of its own per device
    assert fn["wires"] == [[out["id"]]]
    assert (out["qos"], out["topic"], out["broker"]) == ("1", "", broker["id"])
    assert (broker["broker"], broker["port"]) == ("127.0.0.1", "18830")
    assert peer.flows_document(ports, 20, 0.5, 1)[2]["rate"] == "500"


def test_the_function_node_turns_the_plant_s_registers_into_its_floats() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    device, slot = 7, 1_765_000_123
    expected = [gp.plant_value(device, i, slot) for i in range(10)]
    raw = b"".join(struct.pack(">f", v) for v in expected)
    script = (
        "const msg = {topic: 'nodered/gwbench/readings/7', "
        f"responseBuffer: {{buffer: Buffer.from('{raw.hex()}', 'hex')}}}};\n"
        f"const out = (function (msg) {{\n{peer.function_body(10)}}})(msg);\n"
        "process.stdout.write(out.topic + '\\n' + out.payload);\n")
    before = time.time()
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30,
                          check=True)
    topic, payload = done.stdout.split("\n", 1)
    assert topic == "nodered/gwbench/readings/7"  # the mqtt out node publishes on it
    assert payload.startswith('{"device":7,')  # what decode_nodered recognises
    parsed = peer.parse_message(payload.encode())
    assert parsed is not None
    got_device, stamp, values = parsed
    assert got_device == 7
    assert values == expected  # exact: FLOAT32 -> double -> JSON -> Python float
    assert before - 1 <= stamp <= time.time() + 1


def test_the_decoder_names_points_as_gateway_path_does() -> None:
    peer.ANSWERS.clear()
    got = gp.decode_message("nodered/gwbench/readings/4",
                            message(4, 1000.25, [1.5, None, 3.0]))
    assert [(d.point, d.time, d.value, d.good) for d in got] == [
        (gp.point_id(4, 0), 1000.25, 1.5, True), (gp.point_id(4, 1), 1000.25, None, False),
        (gp.point_id(4, 2), 1000.25, 3.0, True)]
    assert gp.point_id(4, 2) == "p-4-2"
    assert peer.decode_nodered(b'{"v":1}') is None
    # occmon's own payload still decodes beside it
    reading = Reading("p-1-0", "cement-dust", 1700000000.25, 3.5, "mg/m3", Quality.GOOD)
    (d,) = gp.decode_message("occmon/v1/x/readings", encode_batch("x", [reading]))
    assert (d.point, d.value) == ("p-1-0", 3.5)


def test_a_reading_is_timed_by_the_plant_s_answer_to_its_poll() -> None:
    peer.INTERVAL[0] = 1.0
    peer.ANSWERS.clear()
    peer.ANSWERS.update({2: [99.2, 100.998, 101.9996]})
    try:
        assert peer.answered_at(2, 101.003) == 100.998  # the answer just before
        assert peer.answered_at(2, 101.999) == 101.9996  # stamped in whole ms, after it
        assert peer.answered_at(2, 99.9) == 99.9  # no answer within half an interval
        assert peer.answered_at(3, 101.003) == 101.003  # a device with no answers known
    finally:
        peer.ANSWERS.clear()


def test_responses_stamped_after_a_second_boundary_are_not_wrong() -> None:
    # 2 devices x 3 values; the plant answers at k + 0.999, Node-RED stamps the response
    # 4 ms later, in the next second: the value is of the slot the plant answered in
    interval, window = 1.0, (4.0, 8.0)
    answers: dict[int, list[float]] = {n: [k + 0.999 for k in range(10)] for n in range(2)}
    payloads = [(t + 0.004 + 0.002, message(n, t + 0.004, [
        gp.plant_value(n, i, int(t)) for i in range(3)]))
        for t in answers[0] for n in range(2)]

    def accounted() -> Any:
        readings = [(arrival, r) for arrival, p in payloads for r in peer.decode_nodered(p)]
        return gp.account(readings, 2, 3, interval, window, answers)

    peer.ANSWERS.clear()
    unmatched = accounted()
    assert unmatched.wrong > 0  # timed by the stamp alone, the slot is the next one
    peer.ANSWERS.update(answers)
    try:
        acc = accounted()
    finally:
        peer.ANSWERS.clear()
    assert (acc.expected, acc.delivered, acc.missing, acc.wrong) == (2 * 3 * 4, 24, 0, 0)
    assert acc.response_latencies == pytest.approx([0.006] * 24)


@pytest.mark.server
@pytest.mark.slow
def test_the_pairs_are_summed_up_by_their_median_and_how_many_meet_the_target() -> None:
    assert peer.ratio_summary([0.61]) == ""  # one pair: its own line says it
    assert peer.ratio_summary([0.577, 0.449, 0.514, 0.5, 0.49]) == (
        "5 pairs: ratio median 0.500, 0.449-0.577; 3 of 5 at or under 0.5")
    assert peer.ratio_summary([0.52, 0.51]).endswith("0 of 2 at or under 0.5")


def test_node_red_delivers_every_reading_against_real_servers() -> None:
    mosquitto_binary()  # skips outside CI when Mosquitto is not installed
    if not peer.nodered_installed(peer.DEFAULT_DIR):
        pytest.skip(f"Node-RED is not installed in {peer.DEFAULT_DIR} "
                    "(run bench/peer_nodered.py once)")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--devices", "3", "--registers", "4", "--window", "3",
         "--warmup", "2", "--drain", "2"],
        capture_output=True, text=True, timeout=110, check=False)
    results = [json.loads(line[len("RESULT "):]) for line in done.stdout.splitlines()
               if line.startswith("RESULT ")]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(results) == 1
    r = results[0]
    assert r["peer"] == "node-red"
    # 3 devices x 2 values x 3 polls in a 3 s window at 1 Hz (one more per device if the
    # window's end overshoots a device's tick)
    assert 3 * 2 * 3 <= r["expected"] <= 3 * 2 * 4
    assert r["delivered"] == r["expected"]
    assert (r["missing"], r["wrong_values"], r["undecodable"], r["duplicates"]) == (
        0, 0, 0, 0)
    assert r["readings_per_message"] == 2.0  # one message per poll, both values
    assert r["failures"] == [] and r["nodered_exit"] == 0
    # 3 devices for 3 s can take less than one clock tick (10 ms) of Node-RED's CPU, so the
    # window's figure may be 0; its start-up (loading Node-RED) is a second or so: the
    # process measured is Node-RED's own, not a wrapper's
    assert 0 <= r["cpu_pct"] < 100
    assert r["cpu_total_s"] > 0.3, r["cpu_total_s"]
    assert 10 < r["rss_mb"] <= r["peak_rss_mb"] + 0.1
    assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"] <= r["latency_max_ms"]
    assert r["versions"]["node-red"] == peer.NODE_RED
    assert "| expected / delivered / missing |" in done.stdout
