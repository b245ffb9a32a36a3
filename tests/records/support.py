"""A small site for the records tests: dust, H2S and noise on MQTT devices (hold 120 s),
readings written straight into a real SQLite store, days in Asia/Shanghai."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from ingest.store import SqliteStore
from occmon.config import load
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 5, 12)
OFFICER_KEY = "officer-test-key-0001"
STAFF_KEY = "staff-test-key-0002"
INSPECTOR_KEY = "inspector-test-key-0003"
OTHER_INSPECTOR_KEY = "inspector-other-site-0004"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def local(day: dt.date, hh: int, mm: int = 0, ss: int = 0) -> float:
    return dt.datetime.combine(day, dt.time(hh, mm, ss), tzinfo=TZ).timestamp()


def site_doc(tmp_path: Path) -> dict[str, Any]:
    mqtt = {"protocol": "mqtt", "expire_after": 120,
            "mapping": {"fields": {"v": "v"}, "time": "t", "time_format": "epoch_s"}}
    return {
        "site": {"id": "plant-a", "name": {"zh": "甲厂", "en": "Plant A"},
                 "timezone": "Asia/Shanghai"},
        "store": {"path": str(tmp_path / "occmon.db")},
        "areas": [{"id": "mill", "name": {"zh": "粉磨车间", "en": "Mill"}},
                  {"id": "desulf", "name": {"zh": "脱硫工段", "en": "Desulf"}}],
        "points": [
            {"id": "mill-dust", "name": {"zh": "磨机总尘", "en": "Mill total dust"},
             "area": "mill", "agent": "cement-dust", "fraction": "total"},
            {"id": "pump-h2s", "name": {"zh": "泵房硫化氢", "en": "Pump house H2S"},
             "area": "desulf", "agent": "h2s"},
        ],
        "devices": [{"id": "dust-1", "topic": "v/dust-1", **mqtt},
                    {"id": "gas-1", "topic": "v/gas-1", **mqtt}],
        "sensors": [
            {"id": "d1", "point": "mill-dust", "device": "dust-1", "field": "v",
             "unit": "mg/m3", "instrument": {"model": "LD-5R", "serial": "LD5R-0042",
                                              "calibrated": "2026-01-20"}},
            {"id": "g1", "point": "pump-h2s", "device": "gas-1", "field": "v", "unit": "mg/m3",
             "instrument": {"model": "GT-2000", "serial": "GT20-1",
                            "calibrated": "2025-01-01"}},
        ],
        "records": {"shifts": [{"name": "白班", "start": "08:00", "hours": 8}],
                    "signers": ["王安全"]},
        # no ledger key, stated: the defaults are var/keys/ under the working directory, and
        # after a `make run` in the checkout the closes were sealed with the demo's key
        # while the tests' bare stores had no verify key (test_closing_rule failed)
        "security": {"ledger_key": None, "ledger_verify_key": None},
        "auth": {"keys": [
            {"name": "officer", "role": "officer", "sha256": sha(OFFICER_KEY)},
            {"name": "staff", "role": "staff", "sha256": sha(STAFF_KEY)},
            {"name": "inspector-1", "role": "inspector", "sha256": sha(INSPECTOR_KEY),
             "sites": ["plant-a"]},
            {"name": "inspector-2", "role": "inspector", "sha256": sha(OTHER_INSPECTOR_KEY),
             "sites": ["plant-b"]},
        ]},
    }


def site_config(tmp_path: Path, doc: dict[str, Any] | None = None) -> SiteConfig:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc or site_doc(tmp_path), allow_unicode=True),
                    encoding="utf-8")
    return load(path)


def dust_day(day: dt.date = DAY, base: float = 1.0, surge: float = 25.0) -> list[Reading]:
    """A reading a minute all day at ``base``; 10:00-10:10 a surge at ``surge`` mg/m3."""
    out = []
    t0 = local(day, 0)
    for minute in range(24 * 60):
        at = t0 + 60 * minute
        value = surge if local(day, 10) <= at < local(day, 10, 10) else base
        out.append(Reading(point="mill-dust", agent="cement-dust", time=at, value=value,
                           unit="mg/m3", quality=Quality.GOOD, sensor="d1", device="dust-1"))
    return out


def write(config: SiteConfig, readings: Iterable[Reading]) -> None:
    store = SqliteStore(config.store.path)
    try:
        store.write_readings(list(readings), received=local(DAY, 0))
    finally:
        store.close()
