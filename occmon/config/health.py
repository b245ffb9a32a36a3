"""The ``health:`` section: heartbeats, the bounds ``/healthz`` and system alarms judge by,
and the Prometheus ports of the gateway and ingest.

Every bound is a point where a silent failure becomes a loud one (docs/alarms.md, "System
alarms"): past it, ``/healthz`` answers 503 naming the reason and the component that sees
it raises a system alarm that is pushed like any gas alarm.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HealthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: float = Field(default=2.0, gt=0, le=60,
                            description="s between heartbeats on status/{component}")
    stale_after: float = Field(default=10.0, gt=0, le=600,
                               description="s: an older heartbeat means the component is lost")
    store_write_max_age: float = Field(
        default=30.0, gt=0, le=3600,
        description="s: ingest's last successful store write may be this old (heartbeats "
                    "are stored, so an idle plant still writes every interval)")
    queue_max_age: float = Field(default=60.0, gt=0, le=86400,
                                 description="s: the gateway's oldest queued row may be this old")
    queue_max_rows: int = Field(default=100_000, ge=1,
                                description="rows waiting in the gateway's queue")
    outbox_max_rows: int = Field(default=100_000, ge=1,
                                 description="rows waiting in ingest's InfluxDB outbox")
    min_free_mb: float = Field(default=200.0, ge=0,
                               description="MB free on the queue's and the store's filesystem")
    metrics_host: str = Field(default="127.0.0.1",
                              description="address the gateway's and ingest's /metrics bind")
    gateway_metrics_port: int = Field(default=0, ge=0, le=65535,
                                      description="Prometheus /metrics of the gateway; 0: off")
    ingest_metrics_port: int = Field(default=0, ge=0, le=65535,
                                     description="Prometheus /metrics of ingest; 0: off")

    @model_validator(mode="after")
    def _stale_after_beats(self) -> HealthConfig:
        if self.stale_after < 2 * self.interval:
            raise ValueError(
                f"health.stale_after ({self.stale_after:g} s) must be at least twice "
                f"health.interval ({self.interval:g} s), or one late heartbeat is an alarm")
        ports = [p for p in (self.gateway_metrics_port, self.ingest_metrics_port) if p]
        if len(ports) != len(set(ports)):
            raise ValueError("health.gateway_metrics_port and health.ingest_metrics_port "
                             "must differ (occmon run starts both in one process)")
        return self
