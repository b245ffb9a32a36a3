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
                    "last_commit_age_s, disk_free_mb, loop_late_max_s, event_loop ...; ingest: "
                    "store_write_age_s, writer_alive, outbox_rows, disk_free_mb ...")


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


class LimitOut(BaseModel):
    """An occupational exposure limit that applies to a quantity, with where it is printed."""

    kind: str = Field(description="MAC, PC-TWA, PC-STEL, PC-TWA (total dust), LEX,8h, ...",
                      examples=["MAC"])
    value: float = Field(examples=[10.0])
    unit: str = Field(examples=["mg/m3"])
    source: str = Field(description="standard, table and row",
                        examples=["GBZ 2.1-2019 表1 (Table 1) 硫化氢"])
    edition: str = Field(examples=["2019"])
    confidence: str = Field(description="H, or verify: a figure still to be checked")


class SetPointsOut(BaseModel):
    """The alarm set-points the gateway's engine uses for this quantity (canonical unit)."""

    pre_alarm: float | None = Field(description="预报", examples=[5.0])
    alarm: float | None = Field(description="警报", examples=[10.0])
    high_alarm: float | None = Field(description="高报", examples=[20.0])
    low_alarm: float | None = Field(description="oxygen deficiency only")
    unit: str
    profile: str = Field(description="GBZ/T 223, GB/T 50493, or site")
    derivation: dict[str, str] = Field(description="per set-point: where its value comes from")


LEVEL_DOC = ("what the floor sees: normal, pre-alarm, alarm, high, fault (bad value or sensor "
             "fault), offline (stale or no value: never shown as live)")


class LatestReading(BaseModel):
    """A quantity's latest value judged as the floor reads it: against its limits and the
    alarm set-points, with a display level (a stale value is never live)."""

    quantity: str
    unit: str
    value: float | None
    quality: str
    reason: str | None
    time: str | None = Field(description="time of the reading (RFC 3339 UTC)")
    age_s: float | None = Field(
        description="seconds since the sensor last gave a value (a mark of silence is none)")
    stale: bool = Field(description="silent for longer than the device's window, marked "
                        "silent by the gateway, or every device feeding it reported offline: "
                        "not a live value (the board: offline)")
    stale_after_s: float
    devices: list[str]
    limits: list[LimitOut] = Field(default_factory=list,
                                   description="the catalogue's limits for this quantity")
    setpoints: SetPointsOut | None = Field(
        default=None, description="null: the gateway raises no level alarm on this quantity")
    level: str = Field(default="offline", description=LEVEL_DOC)
    alarm_level: str | None = Field(
        default=None, description="the level of the point's active gas alarm as the gateway "
                                  "raised it (pre_alarm, alarm, high_alarm; null: none)")


class DayVerdict(BaseModel):
    """The day's record of a point so far: provisional while the day is open."""

    day: str
    verdict: str = Field(description="合格, 超标 or 数据不足")
    verdict_en: str = Field(description="pass, fail or insufficient")
    provisional: bool = Field(description="true while the day is open (computed on demand)")
    coverage_pct: float | None
    max: float | None
    c_twa: float | None = None
    failed: list[str] = Field(default_factory=list, description="which checks failed")
    exceedances: list[str] = Field(default_factory=list)


class PointOut(BaseModel):
    """A monitoring point (监测点): where it is, what feeds it, its latest values against
    their limits, and the day's verdict so far."""

    id: str
    name: Names
    area: str
    area_name: Names
    agent: str = Field(description="catalogue id (e.g. h2s), whatever spelling the site "
                       "file uses", examples=["h2s"])
    job: str | None
    fraction: str | None
    devices: list[DeviceStatusOut]
    quantities: list[LatestReading]
    personal: bool = Field(default=False, description="measures a named worker's dose "
                           "(Hp(10), personal noise dose); hidden from the public board "
                           "unless the site opts in (api.board_personal)")
    faulted: bool = Field(default=False, description="the gateway's sensor-fault alarm of "
                          "the point is active")
    today: DayVerdict | None = Field(default=None, description="the day's verdict so far")


class ReadingOut(BaseModel):
    point: str
    quantity: str
    time: str
    value: float | None
    unit: str
    quality: str
    reason: str | None
    agent: str = Field(description="catalogue id, e.g. h2s", examples=["h2s"])
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
