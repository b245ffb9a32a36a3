"""Acceptance: a full disk and a dead ingest are loud, and the interlock does not care.

Everything is real: Mosquitto, the simulated Modbus gas detector and fans, the gateway,
ingest, the API over HTTP, and (for the disk) a 4 MB tmpfs under the store, filled to the
last byte. Loud means both: ``/healthz`` answers 503 naming the reason, and a system alarm
reaches an annunciator subscriber on MQTT within 10 s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.health.rig import doc, fill, system, tmpfs
from tests.safety.rig import HIGH_PPM, PROCESS, SITE, annunciations
from tests.servers import Mosquitto, wait_for

pytestmark = [pytest.mark.server, pytest.mark.slow]


def health(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{url}/healthz", timeout=10)
    body: dict[str, Any] = response.json()
    return response.status_code, body


def codes(body: dict[str, Any]) -> set[str]:
    return {p["code"] for p in body["problems"]}


def failing(url: str, *reasons: str) -> dict[str, Any]:
    """Wait (10 s) for /healthz to answer 503 naming every one of ``reasons``."""

    def probe() -> dict[str, Any] | None:
        status, body = health(url)
        return body if status == 503 and set(reasons) <= codes(body) else None

    return wait_for(probe, 10, f"503 with {reasons}")


def pushed(got: list[dict[str, Any]], alarm_id: str) -> list[dict[str, Any]]:
    return [a for message in list(got) for a in message["alarms"] if a["alarm_id"] == alarm_id]


def test_full_store_disk_is_503_and_pushed_while_the_interlock_works(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    with tmpfs(tmp_path / "store-fs") as store_dir, \
            system(tmp_path, mosquitto, doc(tmp_path, mosquitto, store_dir)) as rig:
        stop_listening, got = annunciations(mosquitto, SITE)
        try:
            body = wait_for(lambda: (got_ := health(rig.url))[0] == 200 and got_[1],
                            20, "a healthy system first")
            assert body["watching"] and body["components"]["ingest"]["ok"] is True
            assert body["components"]["gateway"]["figures"]["queue_rows"] >= 0

            filled_at = time.monotonic()
            filler = fill(store_dir)
            try:
                alarm = wait_for(lambda: pushed(got, "system:ingest:disk-low"), 10,
                                 "the ingest disk-low system alarm at the annunciator")
                assert time.monotonic() - filled_at < 10.0
                assert alarm[0]["point"] == "ingest" and "MB free" in alarm[0]["cause"]

                body = failing(rig.url, "store-disk-low", "ingest:disk-low")
                assert body["status"] == "failing"

                # the store's WAL cannot grow: writes fail, and that is loud too
                store = wait_for(lambda: pushed(got, "system:ingest:store-write-failing"),
                                 15, "the store-write-failing push")
                assert "full" in store[0]["cause"], store[0]["cause"]
                body = failing(rig.url, "ingest:store-write-failing")
                assert body["components"]["ingest"]["figures"]["writer_alive"] is True

                # the interlock at the edge: gas high still starts the fan (its coil)
                rig.call(rig.plant.set_value, "gp1-h2s", HIGH_PPM * 1.5)
                wait_for(lambda: rig.fan_commanded("fan-1"), 10, "fan-1 commanded on")
                wait_for(lambda: rig.fan_running("fan-1"), 10, "fan-1 running")
                # and the gas alarm is pushed although the store is full
                gas = wait_for(lambda: pushed(got, PROCESS), 10, "the gas alarm push")
                assert gas[0]["event"] == "raised"
                # nothing is acked while the store fails, yet the push went out once
                time.sleep(2.0)
                raised = [a for a in pushed(got, PROCESS) if a["event"] == "raised"]
                assert len(raised) == 1, raised
            finally:
                filler.unlink()
        finally:
            stop_listening()


def test_dead_ingest_is_503_and_the_gateway_pushes_the_alarm(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    with system(tmp_path, mosquitto, doc(tmp_path, mosquitto)) as rig:
        stop_listening, got = annunciations(mosquitto, SITE)
        try:
            wait_for(lambda: health(rig.url)[0] == 200, 20, "a healthy system first")
            rig.ingest.stop()  # a clean stop says offline; a kill's will says the same
            stopped = time.monotonic()

            body = failing(rig.url, "ingest-offline")
            assert body["components"]["ingest"]["online"] is False

            alarm = wait_for(lambda: pushed(got, "system:gateway:ingest-lost"), 10,
                             "the gateway's ingest-lost push at the annunciator")
            assert time.monotonic() - stopped < 10.0
            assert alarm[0]["point"] == "gateway" and alarm[0]["event"] == "raised"
            assert "ingest is offline" in alarm[0]["cause"]
            # in the engine like any alarm (kind system): operators acknowledge it the same way
            held = rig.call(rig.gateway.safety.engine.alarm, "system:gateway:ingest-lost")
            assert str(held.kind) == "system" and held.active
            assert str(held.state) == "active-unacknowledged"
        finally:
            stop_listening()


def test_full_queue_disk_is_pushed_by_the_gateway_itself(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The gateway's queue cannot write: the alarm cannot take the queue's way to ingest, so
    the gateway publishes it on the annunciator itself; the interlock does not notice."""
    with tmpfs(tmp_path / "queue-fs") as queue_dir:
        site = doc(tmp_path, mosquitto)
        site["gateway"] = {**site["gateway"], "queue_path": str(queue_dir / "queue.db")}
        with system(tmp_path, mosquitto, site) as rig:
            stop_listening, got = annunciations(mosquitto, SITE)
            try:
                wait_for(lambda: health(rig.url)[0] == 200, 20, "a healthy system first")
                filled_at = time.monotonic()
                filler = fill(queue_dir)
                try:
                    alarm = wait_for(
                        lambda: pushed(got, "system:gateway:queue-write-failing"), 10,
                        "the gateway's queue-write-failing push at the annunciator")
                    assert time.monotonic() - filled_at < 10.0
                    assert "the queue cannot write" in alarm[0]["cause"]
                    body = failing(rig.url, "gateway:queue-write-failing", "gateway:disk-low")
                    assert body["components"]["gateway"]["figures"]["buffered"] > 0

                    rig.call(rig.plant.set_value, "gp1-h2s", HIGH_PPM * 1.5)
                    wait_for(lambda: rig.fan_commanded("fan-1"), 10, "fan-1 commanded on")
                    wait_for(lambda: rig.fan_running("fan-1"), 10, "fan-1 running")
                finally:
                    filler.unlink()
                # room again: the held entries are committed and the alarm clears
                wait_for(lambda: "queue-write-failing" not in rig.gateway.health.active, 15,
                         "queue-write-failing cleared")
            finally:
                stop_listening()
