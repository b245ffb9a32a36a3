"""Exceedances as they happen: the open days' exceedances at /api/v1/exceedances, provisional,
merged with the ledger's, confirmed under the same id at the day close (real HTTP, real
SQLite store written as ingest writes it)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from ingest.daily.close import close_day
from occmon.config.schema import SiteConfig
from occmon.model import Quality, Reading
from tests.api.serve import serve
from tests.records.support import (
    DAY,
    INSPECTOR_KEY,
    OFFICER_KEY,
    TZ,
    dust_day,
    local,
    site_config,
    write,
)

TODAY = dt.datetime.now(TZ).date()
OPEN = TODAY - dt.timedelta(days=3)  # ended, not closed: its exceedances are provisional
CLOSED = TODAY - dt.timedelta(days=2)  # closed below: newer than OPEN, in the ledger
OFFICER = {"X-API-Key": OFFICER_KEY}


def h2s(day: dt.date, times: list[tuple[int, int]], value: float) -> list[Reading]:
    return [Reading(point="pump-h2s", agent="h2s", time=local(day, hh, mm), value=value,
                    unit="mg/m3", quality=Quality.GOOD, sensor="g1", device="gas-1")
            for hh, mm in times]


@pytest.fixture
def config(tmp_path: Path) -> SiteConfig:
    return site_config(tmp_path)


@pytest.fixture
def http(config: SiteConfig) -> Iterator[httpx.Client]:
    with serve(create_app(config, config.store.path)) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": INSPECTOR_KEY},
                         timeout=30) as client:
        yield client


def items(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = http.get("/api/v1/exceedances", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    body: list[dict[str, Any]] = r.json()["items"]
    return body


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def wait_for(probe: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)
    return value


def test_an_open_days_mac_exceedance_is_listed_provisional_then_confirmed_at_close(
    config: SiteConfig, http: httpx.Client
) -> None:
    # 15 mg/m3 (MAC 10) at 10:00 and 10:01, held 120 s: one excursion 10:00-10:03;
    # again at 10:10: a second one, apart (nothing is known between 10:03 and 10:10)
    write(config, h2s(OPEN, [(10, 0), (10, 1), (10, 10)], 15.0))
    shown = wait_for(lambda: items(http, point="pump-h2s"))
    day = OPEN.isoformat()
    assert [(e["id"], e["type"], e["provisional"], e["status"]) for e in shown] == [
        (f"{day}.pump-h2s.mac.101000", "mac", True, "open"),
        (f"{day}.pump-h2s.mac.100000", "mac", True, "open")]
    first = shown[1]
    assert first["start"] == f"{day}T10:00:00.000+08:00"  # ISO 8601 with the site's offset
    assert first["end"] == f"{day}T10:03:00.000+08:00"  # 10:01 + the 120 s hold
    assert (first["peak"], first["limit"], first["ratio"]) == (15.0, 10.0, 1.5)
    assert http.get("/api/v1/exceedances", params={"provisional": "false"}).json()["total"] == 0
    one = http.get(f"/api/v1/exceedances/{first['id']}").json()
    assert one["provisional"] is True and one["history"] == []
    refused = http.post(f"/api/v1/exceedances/{first['id']}/actions",
                         headers=OFFICER, json={"who": "张班长", "what": "检修"})
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "provisional-exceedance"

    # late data (a store-and-forward queue) fills the gap: one excursion 10:00-10:12; the
    # 10:10 one is gone before any close could ledger it
    write(config, h2s(OPEN, [(10, 3), (10, 5), (10, 7), (10, 9)], 12.0))
    merged = wait_for(lambda: (x := items(http, point="pump-h2s")) and len(x) == 1 and x)
    assert merged[0]["id"] == f"{day}.pump-h2s.mac.100000"
    assert merged[0]["end"] == f"{day}T10:12:00.000+08:00"

    closed = http.post(f"/api/v1/daily-records/{day}/close", headers=OFFICER)
    assert closed.status_code == 200, closed.text
    after = wait_for(lambda: (x := items(http, point="pump-h2s")) and not x[0]["provisional"]
                     and x)
    assert [(e["id"], e["provisional"], e["status"]) for e in after] == [
        (f"{day}.pump-h2s.mac.100000", False, "open")]
    assert {k: after[0][k] for k in ("start", "end", "peak", "limit", "ratio")} == {
        k: merged[0][k] for k in ("start", "end", "peak", "limit", "ratio")}
    assert items(http, provisional="true") == []
    # the 10:10 one, listed earlier as provisional, is withdrawn with the reason
    gone = http.get(f"/api/v1/exceedances/{day}.pump-h2s.mac.101000")
    assert gone.status_code == 404 and gone.json()["detail"]["code"] == "withdrawn"
    assert f"record of {day}, which is closed" in gone.json()["detail"]["message"]
    other_day = http.get(f"/api/v1/exceedances/{TODAY.isoformat()}.pump-h2s.mac.101000")
    assert other_day.json()["detail"]["code"] == "unknown-exceedance"  # not closed: unknown


def test_pages_merge_provisional_and_ledgered_newest_first(
    config: SiteConfig, http: httpx.Client
) -> None:
    write(config, dust_day())  # a surge of 25 mg/m3 10:00-10:10: closed, in the ledger
    close_day(config.store.path, config, DAY, now=local(DAY + dt.timedelta(days=1), 0, 30))
    write(config, dust_day(CLOSED))
    close_day(config.store.path, config, CLOSED)
    write(config, h2s(OPEN, [(9, 0), (15, 0)], 20.0))  # two MAC exceedances, provisional
    everything = items(http)
    total = http.get("/api/v1/exceedances").json()["total"]
    assert total == len(everything)
    ledgered = items(http, provisional="false")
    pending = items(http, provisional="true")
    assert [e["id"] for e in pending] == [f"{OPEN}.pump-h2s.mac.150000",
                                          f"{OPEN}.pump-h2s.mac.090000"]
    assert len(ledgered) >= 2 and len(everything) == len(ledgered) + 2
    starts = [epoch(e["start"]) for e in everything]
    assert starts == sorted(starts, reverse=True)
    # the closed day is newer than the open one: its ledgered rows come first
    assert [e["day"] for e in everything][:1] == [CLOSED.isoformat()]
    assert {e["id"] for e in everything} == {e["id"] for e in [*ledgered, *pending]}
    for limit in (1, 2, 3):
        paged: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = http.get("/api/v1/exceedances",
                            params={"limit": limit, "offset": offset}).json()
            assert page["total"] == total
            paged += page["items"]
            offset = page["next_offset"]
        assert [e["id"] for e in paged] == [e["id"] for e in everything]


def test_agent_filters_take_id_cas_and_names_and_refuse_unknown_values(
    config: SiteConfig, http: httpx.Client
) -> None:
    write(config, h2s(OPEN, [(9, 0)], 20.0))
    want = [e["id"] for e in items(http, agent="h2s")]
    assert want == [f"{OPEN}.pump-h2s.mac.090000"]
    for name in ("7783-06-4", "硫化氢", "hydrogen sulfide", "H2S"):
        assert [e["id"] for e in items(http, agent=name)] == want, name
    assert items(http, agent="cement-dust") == []
    bad = http.get("/api/v1/exceedances", params={"agent": "unobtainium"})
    assert bad.status_code == 422
    assert bad.json()["detail"]["code"] == "invalid-parameter"
    assert bad.json()["detail"]["parameter"] == "agent"
    assert "'unobtainium'" in bad.json()["detail"]["message"]
    near = http.get("/api/v1/exceedances", params={"agent": "硫化"}).json()["detail"]
    assert "did you mean: h2s" in near["message"]
    huge = http.get("/api/v1/exceedances", params={"agent": "x" * 5000})
    assert huge.status_code == 422 and len(huge.json()["detail"]["message"]) < 400
    for name, value in (("status", "bogus"), ("type", "bogus"), ("provisional", "maybe")):
        r = http.get("/api/v1/exceedances", params={name: value})
        assert r.status_code == 422, name
        assert r.json()["detail"]["parameter"] == name


def test_repeated_requests_between_writes_reuse_one_computation(
    config: SiteConfig, http: httpx.Client
) -> None:
    from ingest.daily import live

    write(config, h2s(OPEN, [(9, 0)], 20.0))
    items(http)
    path = config.store.path.resolve()
    first = live._cache[path].live
    for _ in range(5):
        items(http)
    assert live._cache[path].live is first  # no write since: the same result object
    time.sleep(live.REFRESH_S)
    write(config, h2s(OPEN, [(11, 0)], 20.0))
    # the store changed: this request is answered from the cache while a thread recomputes
    assert len(items(http, point="pump-h2s")) == 1
    wait_for(lambda: len(items(http, point="pump-h2s")) == 2)
    assert live._cache[path].live is not first


def test_a_ledgered_exceedance_answers_iso_times_with_the_sites_offset(
    config: SiteConfig, http: httpx.Client
) -> None:
    write(config, dust_day())  # 25 mg/m3 10:00-10:10: a peak excursion, closed below
    close_day(config.store.path, config, DAY, now=local(DAY + dt.timedelta(days=1), 0, 30))
    (ex,) = [e for e in items(http, type="peak")]
    assert ex["provisional"] is False
    assert ex["start"] == f"{DAY}T10:00:00.000+08:00"
    before = time.time()
    acted = http.post(f"/api/v1/exceedances/{ex['id']}/actions", headers=OFFICER,
                      json={"who": "张班长", "what": "加强喷雾降尘"})
    assert acted.status_code == 200, acted.text
    (step,) = http.get(f"/api/v1/exceedances/{ex['id']}").json()["history"]
    assert step["time"].endswith("+08:00")
    assert before - 1 <= epoch(step["time"]) <= time.time() + 1


def test_the_boards_open_list_holds_the_ledgers_open_and_the_provisional_ones(
    config: SiteConfig,
) -> None:
    from ingest.daily import live
    from ingest.daily.store import RecordsStore

    write(config, dust_day())
    close_day(config.store.path, config, DAY, now=local(DAY + dt.timedelta(days=1), 0, 30))
    write(config, h2s(OPEN, [(9, 0)], 20.0))
    with RecordsStore(config.store.path, readonly=True) as store:
        rows = live.open_exceedances(store.conn, store.path, config, time.time())
    assert [(r["day"], r["type"], r["provisional"]) for r in rows] == [
        (OPEN.isoformat(), "mac", True), (DAY.isoformat(), "peak", False)]
