"""InfluxDB sink for ingest: line protocol, a durable outbox, and the forwarder.

See ``docs/influxdb.md`` for the schema and the delivery guarantees.
"""

from __future__ import annotations

from ingest.influx.outbox import Outbox, OutboxFull
from ingest.influx.sink import InfluxSink

__all__ = ["InfluxSink", "Outbox", "OutboxFull"]
