"""Response models: what the API promises its clients (and what /docs shows)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Names(BaseModel):
    zh: str
    en: str


class Health(BaseModel):
    status: str = Field(description="ok when the store answers")
    store: str
    schema_version: int
    counters: dict[str, int] = Field(description="ingest's persistent counters")
    dead_letters: int


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
    age_s: float | None
    stale: bool = Field(description="older than the device's expiry window: not a live value")
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
