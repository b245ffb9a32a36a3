"""Every day and time parameter at and past the edges of the API's window: never a 500.

The window is 1970-01-01 .. 9999-12-29 for days and 1970-01-01T00:00:00Z .. 9999-12-30T00:00Z
for times (api/timeparams.py). Past it, a 422 ``invalid-parameter`` names the parameter; at
it, the route does its work. The values past it are the ones that once overflowed: a report
of 9999-12-31 needs the next day, 0001-01-01 in UTC+8 starts in year 0.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.records_site import RecordsSite, records_site
from tests.records.support import OFFICER_KEY

HEADERS = {"X-API-Key": OFFICER_KEY}
LATE = "9999-12-31T23:59:59-12:00"  # 10000-01-01T11:59:59Z
EARLY = "0001-01-01T00:00:00+14:00"  # 0000-12-31T10:00:00Z
READINGS = "/api/v1/points/mill-dust/readings"
A_DAY = {"start": "2026-05-12T00:00:00+08:00", "end": "2026-05-13T00:00:00+08:00"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordsSite]:
    with records_site(tmp_path_factory.mktemp("edges")) as served:
        yield served


def call(site: RecordsSite, method: str, path: str, params: dict[str, str] | None = None,
         body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.request(method, site.url + path, params=params, json=body,
                         headers={**HEADERS, **(headers or {})}, timeout=30)


REFUSED = [
    ("GET", "/api/v1/daily-records", {"start": "9999-12-31"}, None, "start"),
    ("GET", "/api/v1/daily-records", {"start": "9999-12-30"}, None, "start"),
    ("GET", "/api/v1/daily-records", {"start": "0001-01-01"}, None, "start"),
    ("GET", "/api/v1/daily-records", {"start": "1969-12-31"}, None, "start"),
    ("GET", "/api/v1/daily-records", {"start": "2026-05-12", "end": "9999-12-31"}, None, "end"),
    ("GET", "/api/v1/daily-records", {"start": "2026-05-12", "end": "2026-05-11"}, None, "end"),
    # 2026 has 365 days: 2026-01-01 .. 2027-01-02 is 366 days apart, past the 366-day cap
    ("GET", "/api/v1/daily-records", {"start": "2026-01-01", "end": "2027-01-02"}, None, "end"),
    ("GET", "/api/v1/daily-records/report", {"day": "9999-12-31"}, None, "day"),
    ("GET", "/api/v1/daily-records/report", {"day": "0001-01-01"}, None, "day"),
    ("GET", "/api/v1/days/9999-12-31", {}, None, "day"),
    ("POST", "/api/v1/daily-records/0001-01-01/close", {}, None, "day"),
    ("POST", "/api/v1/daily-records/9999-12-31/close", {}, None, "day"),
    ("POST", "/api/v1/daily-records/9999-12-31/sign", {}, {"name": "王安全"}, "day"),
    ("GET", READINGS, {"start": EARLY, "end": "2026-05-13T00:00:00Z"}, None, "start"),
    ("GET", READINGS, {"start": "2026-05-12T00:00:00Z", "end": LATE}, None, "end"),
    ("GET", READINGS, {"start": "1969-12-31T23:59:59Z", "end": "2026-05-13T00:00:00Z"}, None,
     "start"),
    ("GET", READINGS, {"start": "2026-05-12T00:00:00Z", "end": "9999-12-30T00:00:01Z"}, None,
     "end"),
    ("GET", READINGS, {"start": "2026-05-13T00:00:00Z", "end": "2026-05-12T00:00:00Z"}, None,
     "end"),
    ("GET", "/api/v1/alarms/history", {"start": EARLY}, None, "start"),
    ("GET", "/api/v1/alarms/history", {"end": LATE}, None, "end"),
    ("GET", "/api/v1/alarms/history", {"start": "2026-05-13T00:00:00Z",
                                       "end": "2026-05-12T00:00:00Z"}, None, "end"),
    ("GET", "/api/v1/exceedances", {"start": EARLY}, None, "start"),
    ("GET", "/api/v1/exceedances", {"end": LATE}, None, "end"),
    ("GET", "/api/v1/exceedances", {"start": "2026-05-13T00:00:00Z",
                                    "end": "2026-05-12T00:00:00Z"}, None, "end"),
    ("POST", "/api/v1/alarms/pump-h2s:process/shelve", {},
     {"user": "li", "reason": "work", "until": LATE}, "until"),
]


@pytest.mark.parametrize(("method", "path", "params", "body", "parameter"), REFUSED)
def test_past_the_window_is_a_422_naming_the_parameter(
    site: RecordsSite, method: str, path: str, params: dict[str, str], body: Any,
    parameter: str,
) -> None:
    answer = call(site, method, path, params, body)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert (detail["code"], detail["parameter"]) == ("invalid-parameter", parameter)
    assert parameter in detail["message"]


ACCEPTED = [
    ("GET", "/api/v1/daily-records", {"start": "1970-01-01"}, 200),
    ("GET", "/api/v1/daily-records", {"start": "9999-12-29"}, 200),
    ("GET", "/api/v1/daily-records", {"start": "2026-01-01", "end": "2027-01-01"}, 200),
    ("GET", "/api/v1/daily-records/report", {"day": "9999-12-29"}, 200),
    ("GET", "/api/v1/daily-records/report", {"day": "1970-01-01"}, 200),
    ("GET", "/api/v1/days/9999-12-29", {}, 200),
    ("POST", "/api/v1/daily-records/9999-12-29/close", {}, 409),  # not ended yet
    ("POST", "/api/v1/daily-records/1970-01-01/close", {}, 200),
    ("GET", READINGS, {"start": "1970-01-01T00:00:00Z", "end": "9999-12-30T00:00:00Z"}, 200),
    ("GET", "/api/v1/alarms/history", {"start": "1970-01-01T00:00:00Z",
                                       "end": "9999-12-30T00:00:00Z"}, 200),
    ("GET", "/api/v1/exceedances", {"start": "1970-01-01T00:00:00Z",
                                    "end": "9999-12-30T00:00:00Z"}, 200),
]


@pytest.mark.parametrize(("method", "path", "params", "status"), ACCEPTED)
def test_at_the_window_the_route_does_its_work(
    site: RecordsSite, method: str, path: str, params: dict[str, str], status: int
) -> None:
    answer = call(site, method, path, params)
    assert answer.status_code == status, answer.text


def test_the_whole_window_of_readings_holds_the_day_written(site: RecordsSite) -> None:
    whole = call(site, "GET", READINGS, {"start": "1970-01-01T00:00:00Z",
                                         "end": "9999-12-30T00:00:00Z", "limit": "10000"})
    day = call(site, "GET", READINGS, {**A_DAY, "limit": "10000"})
    assert whole.json()["count"] == day.json()["count"] > 0


def test_an_action_dated_out_of_the_window_is_refused(site: RecordsSite) -> None:
    (first, *_) = call(site, "GET", "/api/v1/exceedances").json()["items"]
    answer = call(site, "POST", f"/api/v1/exceedances/{first['id']}/actions",
                  body={"who": "张班长", "what": "换密封", "when": EARLY})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]["parameter"] == "when"


@pytest.mark.parametrize("time", ["1e400", "1" + "0" * 400, "NaN"])
def test_a_forged_cursor_with_an_unrepresentable_time_is_a_422(
    site: RecordsSite, time: str
) -> None:
    raw = f'["concentration",{time}]'.encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert json.loads(raw)[0] == "concentration"  # well-formed JSON, only the time is absurd
    answer = call(site, "GET", READINGS, {**A_DAY, "cursor": cursor})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]["parameter"] == "cursor"


@pytest.mark.parametrize("last", ["99999999999999999999", "-1", "12a"])
def test_a_last_event_id_this_stream_never_sent_is_a_422(site: RecordsSite, last: str) -> None:
    answer = call(site, "GET", "/api/v1/alarms/stream", headers={"Last-Event-ID": last})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]["parameter"] == "last-event-id"
