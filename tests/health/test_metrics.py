"""Prometheus endpoints of gateway, ingest and API over real HTTP, from the counters the
processes already keep (one collector, no second count)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.health.rig import doc, system
from tests.servers import Mosquitto, free_port, wait_for

pytestmark = [pytest.mark.server, pytest.mark.slow]


def sample(text: str, metric: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format (labels in any order)."""
    for line in text.splitlines():
        if not line.startswith(metric + ("{" if labels else " ")):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if labels else {}
        if all(got.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_gateway_ingest_and_api_metrics(tmp_path: Path, mosquitto: Mosquitto) -> None:
    site = doc(tmp_path, mosquitto)
    gateway_port, ingest_port = free_port(), free_port()
    site["health"] = {**site["health"], "gateway_metrics_port": gateway_port,
                      "ingest_metrics_port": ingest_port}
    with system(tmp_path, mosquitto, site) as rig:
        wait_for(lambda: httpx.get(f"{rig.url}/healthz").status_code == 200, 20, "healthy")

        def scrape(port: int) -> str:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text

        gw = wait_for(lambda: (t := scrape(gateway_port)) and
                      (sample(t, "occmon_readings_total", component="gateway",
                              direction="out") or 0) > 0 and t, 15, "gateway readings out")
        counters = rig.counters()  # the same figures the collector reads (a beat later)
        assert (sample(gw, "occmon_readings_total", component="gateway", direction="in") or 0) \
            <= counters["queue.appended"]
        assert sample(gw, "occmon_gateway_queue_rows") is not None
        assert sample(gw, "occmon_gateway_ok") == 1.0
        requests = [sample(gw, "occmon_modbus_connection_total", counter="requests",
                           connection=name) for name in
                    re.findall(r'occmon_modbus_connection_total\{connection="([^"]+)",'
                               r'counter="requests"', gw)]
        assert len(requests) == 3 and all(r and r > 0 for r in requests), gw  # 3 devices

        ing = wait_for(lambda: (t := scrape(ingest_port)) and
                       (sample(t, "occmon_readings_total", component="ingest",
                               direction="in") or 0) > 0 and t, 15, "ingest readings in")
        assert (sample(ing, "occmon_readings_total", component="ingest", direction="in")
                or 0) <= rig.ingest.counters()["readings"]
        assert sample(ing, "occmon_ingest_writer_alive") == 1.0
        assert "occmon_push_latency_seconds" in ing

        api = httpx.get(f"{rig.url}/metrics").text  # public, like /healthz
        assert (sample(api, "occmon_counter", component="api", name="readings") or 0) > 0
        age = sample(api, "occmon_api_ingest_heartbeat_age_s")
        assert age is not None and 0 <= age < 3.0
