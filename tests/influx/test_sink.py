"""InfluxSink against real servers speaking InfluxDB's write API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ingest.influx import InfluxSink
from ingest.records import DeviceState, Event
from ingest.sink import Sink
from occmon.model import Quality, Reading, Reason
from tests.influx_servers import VictoriaMetrics
from tests.servers import free_port

pytestmark = pytest.mark.server


def _readings(n: int, start: float, point: str = "desulf-h2s-1") -> list[Reading]:
    return [Reading(point, "h2s", start + i * 0.001, float(i), "mg/m3") for i in range(n)]


def _sink(url: str, tmp_path: Path, **kw: Any) -> InfluxSink:
    return InfluxSink(url, "token", "occmon", "occmon", tmp_path / "outbox.db", site="demo",
                      areas={"desulf-h2s-1": "desulf"}, min_backoff=0.1, max_backoff=1.0, **kw)


def _samples(server: VictoriaMetrics, match: str) -> dict[int, int]:
    """timestamp -> how many samples the server holds at it."""
    counts: dict[int, int] = {}
    for series in server.export(match):
        for ts in series["timestamps"]:
            counts[ts] = counts.get(ts, 0) + 1
    return counts


def test_sink_implements_the_protocol(tmp_path: Path) -> None:
    sink = _sink(f"http://127.0.0.1:{free_port()}", tmp_path, start=False)
    assert isinstance(sink, Sink)
    sink.close()


def test_readings_and_events_reach_the_server(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    sink = _sink(victoria.url, tmp_path)
    start = round(time.time() - 60, 3)
    sink.write_readings(_readings(500, start))
    bad = Reading("desulf-h2s-1", "h2s", start + 1, None, "mg/m3", Quality.BAD,
                  reason=Reason.DEVICE_OFFLINE)
    sink.write_readings([bad])
    sink.write_events([Event("alarm", start, {"point": "desulf-h2s-1", "level": "alarm"},
                             "demo")])
    sink.write_device_status([DeviceState("gas-panel-1", False, start, "timeout", "demo")])
    sink.add_counters({"accepted": 501})
    assert sink.flush(30)
    sink.close()
    values = victoria.export('{__name__="reading_value",point="desulf-h2s-1",quality="good"}')
    assert len(values) == 1
    series = values[0]
    assert series["metric"]["area"] == "desulf" and series["metric"]["site"] == "demo"
    assert series["values"] == [float(i) for i in range(500)]
    assert series["timestamps"] == [round(start * 1000) + i for i in range(500)]
    status = victoria.export('{__name__="reading_status",quality="bad"}')
    assert status[0]["values"] == [2.0]
    assert victoria.export('{__name__="event_state",kind="alarm"}')[0]["values"] == [2.0]
    assert victoria.export('{__name__="device_status_online"}')[0]["values"] == [0.0]
    assert victoria.export('{__name__="ingest_counter_count"}')[0]["values"] == [501.0]


def test_replayed_batches_overwrite_never_duplicate(
    victoria_dedup: VictoriaMetrics, tmp_path: Path
) -> None:
    """The same record written twice (a replay after a lost ack) is one point: VictoriaMetrics
    here runs with InfluxDB's rule (same series and timestamp: one point)."""
    start = round(time.time() - 60, 3)
    batch = _readings(200, start)
    for run in range(2):
        sink = _sink(victoria_dedup.url, tmp_path / str(run))
        sink.write_readings(batch)
        assert sink.flush(30)
        sink.close()
    counts = _samples(victoria_dedup, '{__name__="reading_value"}')
    assert len(counts) == 200 and set(counts.values()) == {1}


def test_writes_are_durable_while_the_server_is_away(tmp_path: Path) -> None:
    """Nothing listens: write_readings still returns, and a new sink process finds the rows."""
    url = f"http://127.0.0.1:{free_port()}"
    sink = _sink(url, tmp_path)
    sink.write_readings(_readings(50, time.time()))
    assert not sink.flush(0.5)
    sink.close()
    reopened = _sink(url, tmp_path, start=False)
    assert reopened.stats()["pending_telemetry"] == 50
    reopened.close()


class _Refusing(BaseHTTPRequestHandler):
    """InfluxDB's answer to a malformed line: 400 for the whole request."""

    received: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if "poison" in body:
            payload = json.dumps({"code": "invalid", "message": "unable to parse poison"})
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())
            return
        type(self).received.extend(body.splitlines())
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[str]:
    _Refusing.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_malformed_line_is_set_aside_and_the_rest_delivered(
    refusing: str, tmp_path: Path
) -> None:
    sink = _sink(refusing, tmp_path, start=False)
    sink.write_readings(_readings(7, 1_790_000_000.0))
    sink.outbox.append(["poison line"], "event")
    sink.write_readings(_readings(8, 1_790_000_001.0))
    sink._thread.start()
    assert sink.flush(30)
    stats = sink.stats()
    rejected = sink.outbox.rejected()
    sink.close()
    assert len(_Refusing.received) == 15 and stats["written"] == 15
    assert stats["rejected"] == 1
    assert rejected[0][0] == "poison line" and "unable to parse" in rejected[0][1]
