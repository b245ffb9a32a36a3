"""A restarted ingest closes its own system alarms of the run before, which nothing of the new
run would ever clear; a problem still there is raised again by the new run's first check.

Real Mosquitto and the real ``Ingest`` on a SQLite store: its system alarms go out on
``events/alarm`` and come back into the record as the operator's list shows them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.alarm_log import AlarmRecord
from ingest.records import Event
from ingest.sink import SinkError
from ingest.store import SqliteStore, StoreReader
from ingest.subscriber import Ingest
from occmon import topics
from occmon.config import load
from tests.health.rig import doc
from tests.safety.rig import SITE, write_config
from tests.servers import Mosquitto, wait_for

pytestmark = [pytest.mark.server]

DISK_LOW = "system:ingest:disk-low"
NO_DISK_IS_ENOUGH = 1e12  # MB free the store's filesystem would need: disk-low at once


@contextmanager
def running(tmp_path: Path, broker: Mosquitto, min_free_mb: float, name: str) -> Iterator[Ingest]:
    site = doc(tmp_path, broker)
    site["health"] = {**site["health"], "min_free_mb": min_free_mb}
    config = load(write_config(tmp_path, site, f"{name}.yaml"))
    ingest = Ingest(config, broker_host=broker.host, broker_port=broker.port)
    ingest.start()
    try:
        assert ingest.wait_ready(20)
        yield ingest
    finally:
        ingest.stop()


def current(store: Path) -> dict[str, AlarmRecord]:
    """The open alarms, by the latest event of each (the operator's list)."""
    with StoreReader(store) as reader:
        return {r.alarm_id: r for r in reader.alarms().current() if r.state != "normal"}


def history(store: Path, alarm_id: str) -> list[AlarmRecord]:
    with StoreReader(store) as reader:
        return reader.alarms().history(alarm_id=alarm_id)


def publish(broker: Mosquitto, topic: str, body: dict[str, Any]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="old-ingest")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(body), qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_restart_closes_the_system_alarms_of_the_run_before(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    store = tmp_path / "occmon.db"
    with running(tmp_path, mosquitto, NO_DISK_IS_ENOUGH, "full") as first:
        raised = wait_for(lambda: current(store).get(DISK_LOW), 10, "disk-low in the record")
        assert raised.state == "active-unacknowledged" and raised.point == "ingest"
        assert re.fullmatch(r"ingest-\d{13}-\d{9}", raised.event_id)  # in order past 9
        assert first.health.active == {"disk-low": raised.body["cause"]}

    # The disk was freed while ingest was down: the new run has no such problem, so nothing
    # of it would ever clear the alarm. Its start closes it.
    with running(tmp_path, mosquitto, 1.0, "freed") as second:
        closed = wait_for(lambda: DISK_LOW not in current(store) and history(store, DISK_LOW),
                          10, "disk-low closed by the restart")[0]
        assert (closed.event, closed.state) == ("closed", "normal")
        assert closed.body["reason"] == "ingest-restarted"
        assert closed.body["was"] == "active-unacknowledged"
        assert "ingest's current state" in closed.body["cause"]
        assert closed.time == second.health.started
        assert second.health.active == {}

        # The old run's raise of another alarm, published before it died and redelivered
        # only now: kept in the history, and closed again at once, not left open.
        old_boot = raised.event_id.split("-")[1]
        late = {"v": 1, "site": SITE, "alarm_id": "system:ingest:writer-dead",
                "point": "ingest", "kind": "system", "level": "high_alarm", "value": None,
                "setpoint": None, "unit": "", "time": second.health.started - 5,
                "state": "active-unacknowledged", "occurrence": 1, "event": "raised",
                "cause": "ingest writer thread died", "id": f"ingest-{old_boot}-000000009"}
        publish(mosquitto, topics.events(SITE, "alarm"), late)
        events = wait_for(lambda: len(h := history(store, "system:ingest:writer-dead")) == 2
                          and h, 10, "the late raise and its close")
        assert [e.event for e in events] == ["closed", "raised"]  # newest first
        assert "system:ingest:writer-dead" not in current(store)

    # The disk fills again: the next run raises it again, a new occurrence that is current.
    with running(tmp_path, mosquitto, NO_DISK_IS_ENOUGH, "full-again"):
        again = wait_for(lambda: current(store).get(DISK_LOW), 10, "disk-low raised again")
        assert again.event == "raised" and again.event_id > closed.event_id


def test_a_state_snapshot_from_the_broker_never_speaks_for_ingest(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Who may send it: ``state/ingest`` from the broker is a dead letter, and a snapshot of
    any other point is the gateway's whatever it says (``by``)."""
    store = tmp_path / "occmon.db"
    with running(tmp_path, mosquitto, NO_DISK_IS_ENOUGH, "full"):
        wait_for(lambda: current(store).get(DISK_LOW), 10, "disk-low in the record")
        forged = {"v": 1, "site": SITE, "point": "ingest", "by": "ingest", "startup": True,
                  "alarms": [], "time": 4e9}
        publish(mosquitto, topics.point_state(SITE, "ingest"), forged)

        def letters() -> list[tuple[str, str]]:
            with StoreReader(store) as reader:
                return [(d.code, d.topic)
                        for d in reader.dead_letters(code="reserved-point")]

        assert wait_for(letters, 10, "the forged snapshot dead-lettered") == [
            ("reserved-point", topics.point_state(SITE, "ingest"))]
        assert current(store)[DISK_LOW].state == "active-unacknowledged"


class RefusesOwnState(SqliteStore):
    """A store that can never accept ingest's start-up snapshot (a SinkError, not an outage)."""

    def write_events(self, events: Sequence[Event]) -> None:
        if any(e.kind == "state" and e.body.get("by") == "ingest" for e in events):
            raise SinkError("refused for the test")
        super().write_events(events)


def test_a_refused_startup_snapshot_is_counted_and_holds_up_nothing(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    site = doc(tmp_path, mosquitto)
    config = load(write_config(tmp_path, site))
    store = RefusesOwnState(tmp_path / "occmon.db")
    ingest = Ingest(config, broker_host=mosquitto.host, broker_port=mosquitto.port, sink=store)
    ingest.start()
    try:
        assert ingest.wait_ready(20)
        # its heartbeats are stored (the writer went on) and the refusal is counted, once
        counts = wait_for(lambda: (c := ingest.counters()).get("heartbeat:ingest") and c, 10,
                          "a heartbeat through the writer")
        assert counts["own-events-refused"] == 1
    finally:
        ingest.stop()
        store.close()
