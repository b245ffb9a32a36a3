"""Fault test: the server is down for 60 s while readings flow; every reading arrives once.

VictoriaMetrics runs *without* deduplication here, so a reading delivered twice would show
as two samples at one timestamp in the export: "exactly once" is checked per timestamp.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ingest.influx import InfluxSink
from occmon.model import Reading
from tests.influx_servers import VictoriaMetrics

pytestmark = [pytest.mark.server, pytest.mark.slow]

OUTAGE = 60.0
POINTS = ("desulf-h2s-1", "ammonia-nh3-1", "mill-dust-total")


@pytest.mark.timeout(300)
def test_sixty_second_outage_loses_and_duplicates_nothing(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    sink = InfluxSink(victoria.url, "token", "occmon", "occmon", tmp_path / "outbox.db",
                      site="demo", batch_size=2000, min_backoff=0.2, max_backoff=2.0,
                      timeout=3.0)
    written: dict[str, list[int]] = {p: [] for p in POINTS}
    stop = threading.Event()
    t0 = round(time.time() - 120, 3)

    def produce() -> None:  # the ingest writer: 3 points x 20 readings every 0.1 s
        seq = 0
        while not stop.is_set():
            batch = []
            for _ in range(20):
                for point in POINTS:
                    batch.append(Reading(point, "h2s", t0 + seq * 0.001, float(seq), "mg/m3"))
                    written[point].append(round((t0 + seq * 0.001) * 1000))
                seq += 1
            sink.write_readings(batch)
            time.sleep(0.1)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        time.sleep(3)
        victoria.stop()
        time.sleep(OUTAGE)
        assert sink.stats()["pending_telemetry"] > 0  # the outage really held data back
        victoria.start()
        time.sleep(3)
    finally:
        stop.set()
        producer.join(timeout=10)
    assert sink.flush(60), sink.stats()
    stats = sink.stats()
    sink.close()

    total = sum(len(ts) for ts in written.values())
    assert stats["written"] == total and "dropped_telemetry" not in stats
    for point, expected in written.items():
        series = victoria.export(f'{{__name__="reading_value",point="{point}"}}')
        timestamps = [ts for s in series for ts in s["timestamps"]]
        assert len(timestamps) == len(expected), f"{point}: lost or duplicated readings"
        assert sorted(timestamps) == sorted(expected), point  # each exactly once
