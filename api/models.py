"""Response models: what the API promises its clients (and what /docs shows)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Names(BaseModel):
    zh: str
    en: str


class HealthProblem(BaseModel):
    code: str = Field(description="stable reason code, e.g. store-disk-low, ingest-stale, "
                                  "gateway:queue-write-failing (component:code relays a "
                                  "problem the component reports itself)")
    message: str


class ComponentHealth(BaseModel):
    online: bool | None = Field(description="null: no heartbeat seen since the API started")
    heartbeat_age_s: float | None = Field(description="seconds since its last heartbeat")
    ok: bool | None = Field(description="the component's own verdict in its last heartbeat")
    problems: list[HealthProblem] = Field(description="what the component reports")
    figures: dict[str, float | int | str | bool | None] = Field(
        description="gateway: queue_rows, queue_oldest_age_s, last_publish_age_s, "
                    "last_commit_age_s, disk_free_mb ...; ingest: store_write_age_s, "
                    "writer_alive, outbox_rows, disk_free_mb ...")


class Health(BaseModel):
    """200 with status ok, or 503 with status failing and the reasons in ``problems``."""

    status: str = Field(description="ok, or failing (HTTP 503; see problems)")
    store: str
    schema_version: int
    counters: dict[str, int] = Field(description="ingest's persistent counters")
    dead_letters: int
    problems: list[HealthProblem] = Field(
        default_factory=list, description="every reason the system is not well; empty when ok")
    store_disk_free_mb: float | None = Field(
        default=None, description="MB free on the store's filesystem")
    watching: bool = Field(
        default=False, description="heartbeats are watched (occmon run / occmon api); false "
                                   "for an app built without a broker link: components unjudged")
    components: dict[str, ComponentHealth] = Field(
        default_factory=dict, description="gateway and ingest as their heartbeats show them")


class DeviceStatusOut(BaseModel):
    id: str
    protocol: str = Field(description="modbus-tcp, modbus-rtu, mqtt, or gateway")
    online: bool | None = Field(description="null: no status received yet")
    since: str | None = Field(description="when the status last changed (RFC 3339 UTC)")
    reason: str | None


class LatestReading(BaseModel):
    quantity: str
    unit: str
    value: float | None
    quality: str
    reason: str | None
    time: str | None = Field(description="time of the reading (RFC 3339 UTC)")
    age_s: float | None = Field(
        description="seconds since the sensor last gave a value (a mark of silence is none)")
    stale: bool = Field(description="silent for longer than the device's window, or marked "
                        "silent by the gateway: not a live value (the board: offline)")
    stale_after_s: float
    devices: list[str]


class PointOut(BaseModel):
    id: str
    name: Names
    area: str
    area_name: Names
    agent: str
    job: str | None
    fraction: str | None
    devices: list[DeviceStatusOut]
    quantities: list[LatestReading]


class ReadingOut(BaseModel):
    point: str
    quantity: str
    time: str
    value: float | None
    unit: str
    quality: str
    reason: str | None
    agent: str
    sensor: str
    device: str
    raw_value: float | None
    raw_unit: str | None
    received: str


class ReadingsPage(BaseModel):
    point: str
    start: str
    end: str
    quantity: str | None
    count: int
    readings: list[ReadingOut]
    next: str | None = Field(description="cursor of the next page; null on the last page")


class DeadLetterOut(BaseModel):
    id: int
    received: str
    site: str
    source: str
    topic: str
    code: str
    message: str
    payload: str = Field(description="the raw payload, decoded as UTF-8 with replacement")
    payload_b64: str


class DeadLetters(BaseModel):
    counts: dict[str, int] = Field(description="dead letters by code, all time")
    letters: list[DeadLetterOut]
