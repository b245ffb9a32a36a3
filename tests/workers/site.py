"""The demo plant with two worker keys (one per test worker) added to its officer/staff/
inspector keys; readings of its MQTT electronic dosimeter raddos-1 (cumulative Hp(10))."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

from api.auth import digest
from ingest.workers import registry
from occmon.config.auth import ApiKey, AuthConfig
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading
from tests.ingest.helpers import site_config

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 5, 28)
OFFICER = {"X-API-Key": "demo-officer-key"}
STAFF = {"X-API-Key": "demo-staff-key"}
INSPECTOR = {"X-API-Key": "demo-inspector-key"}
WORKER_A = {"X-API-Key": "worker-a-test-key"}
WORKER_B = {"X-API-Key": "worker-b-test-key"}
A, B = "E1001", "E1002"


def config(tmp_path: Path, port: int = 1883) -> SiteConfig:
    base = site_config(tmp_path, port)
    assert base.auth is not None
    keys = [*base.auth.keys,
            ApiKey(name="worker-a", role="worker", employee=A,
                   sha256=digest(WORKER_A["X-API-Key"])),
            ApiKey(name="worker-b", role="worker", employee=B,
                   sha256=digest(WORKER_B["X-API-Key"]))]
    return base.model_copy(update={"auth": AuthConfig(header=base.auth.header, keys=keys)})


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), tzinfo=TZ)


def hp10(hour: int, value: float, minute: int = 0) -> Reading:
    """One reading of raddos-1's running Hp(10) total (uSv), as the gateway publishes it."""
    return Reading(point="ndt-worker-dose", agent="ionising-radiation",
                   time=at(hour, minute).timestamp(), value=value, unit="uSv",
                   quality=Quality.GOOD, quantity="hp10", sensor="rd1-hp10", device="raddos-1")


def worker_body(employee: str, name: str, **kw: object) -> dict[str, object]:
    return {"employee": employee, "name": name, "sex": "F", "birth_date": "1990-03-04",
            "job": "探伤工", "category": "A", "joined": "2020-01-01", **kw}


def add_worker(conn: sqlite3.Connection, employee: str = A, sex: str = "F",
               birth: str = "1990-03-04") -> None:
    """A category-A worker, entered through the registry (no national ID)."""
    registry.put_worker(conn, registry.WorkerIn.model_validate({
        "employee": employee, "name": "张三", "sex": sex, "birth_date": birth, "job": "探伤工",
        "category": "A"}), site="demo-plant", by="officer", now=1.0)
