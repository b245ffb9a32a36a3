"""The readings history: ranges, pages, and specific 422s."""

from __future__ import annotations

import httpx
import pytest

from ingest.store import SqliteStore
from occmon.model import iso_utc
from tests.ingest.helpers import T0, reading

URL = "/api/v1/points/mill-noise-1/readings"


def noise(n: int) -> list[tuple[str, float, float]]:
    return [(q, T0 + i, 60.0 + i % 40) for q in ("laeq", "lcpeak") for i in range(n)]


@pytest.fixture
def history(store: SqliteStore) -> list[tuple[str, float, float]]:
    rows = noise(1250)
    store.write_readings(
        [
            reading("mill-noise-1", 0, value=v, time=t, quantity=q, unit="dB(A)", agent="noise")
            for q, t, v in rows
        ]
    )
    return rows


def walk(client: httpx.Client, params: dict[str, str | int]) -> tuple[list[dict[str, object]], int]:
    got: list[dict[str, object]] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(URL, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert body["count"] == len(body["readings"])
        got.extend(body["readings"])
        cursor = body["next"]
        if cursor is None:
            return got, pages


def test_walking_all_pages_returns_every_reading_once(
    client: httpx.Client, history: list[tuple[str, float, float]]
) -> None:
    params: dict[str, str | int] = {
        "start": iso_utc(T0),
        "end": iso_utc(T0 + 10_000),
        "limit": 300,
    }
    got, pages = walk(client, params)
    assert pages == 9  # 2,500 rows / 300 per page
    assert [(r["quantity"], r["time"], r["value"]) for r in got] == [
        (q, iso_utc(t), v) for q, t, v in history
    ]


def test_range_is_half_open_and_filters_quantity(
    client: httpx.Client, history: list[tuple[str, float, float]]
) -> None:
    params: dict[str, str | int] = {
        "start": "2026-05-29T04:26:50+08:00",  # T0 + 10 s, written in Beijing time
        "end": iso_utc(T0 + 20),
        "quantity": "lcpeak",
        "limit": 7,
    }
    got, pages = walk(client, params)
    assert pages == 2
    assert [r["time"] for r in got] == [iso_utc(T0 + i) for i in range(10, 20)]
    assert {r["quantity"] for r in got} == {"lcpeak"}


@pytest.mark.parametrize(
    ("params", "status", "detail", "parameter"),
    [
        (
            {"start": "yesterday", "end": "2026-05-28T00:00:00Z"},
            422,
            "start='yesterday' is not an ISO 8601 time with an offset",
            "start",
        ),
        (
            {"start": "2026-05-28T00:00:00", "end": "2026-05-28T01:00:00Z"},
            422,
            "has no UTC offset",
            "start",
        ),
        (
            {"start": "2026-05-28T02:00:00Z", "end": "2026-05-28T01:00:00Z"},
            422,
            "start '2026-05-28T02:00:00Z' is after end '2026-05-28T01:00:00Z'",
            "end",
        ),
        (
            {"start": "2026-05-28T00:00:00Z", "end": "2026-05-28T01:00:00Z", "limit": 0},
            422,
            "limit must be between 1 and 10000, got 0",
            "limit",
        ),
        (
            {"start": "2026-05-28T00:00:00Z", "end": "2026-05-28T01:00:00Z", "limit": 10_001},
            422,
            "limit must be between 1 and 10000, got 10001",
            "limit",
        ),
        (
            {"start": "2026-05-28T00:00:00Z", "end": "2026-05-28T01:00:00Z", "cursor": "zzz"},
            422,
            "cursor 'zzz' is not one this API issued",
            "cursor",
        ),
        (
            {"start": "2026-05-28T00:00:00Z", "end": "2026-05-28T01:00:00Z", "quantity": "ppm"},
            422,
            "quantity 'ppm' is not one of",
            "quantity",
        ),
    ],
)
def test_bad_requests_say_what_is_wrong(
    client: httpx.Client, params: dict[str, str | int], status: int, detail: str, parameter: str
) -> None:
    response = client.get(URL, params=params)
    assert response.status_code == status
    body = response.json()["detail"]
    assert detail in body["message"]
    assert (body["code"], body["parameter"]) == ("invalid-parameter", parameter)


def test_unknown_point_readings_is_404(client: httpx.Client) -> None:
    params = {"start": "2026-05-28T00:00:00Z", "end": "2026-05-28T01:00:00Z"}
    response = client.get("/api/v1/points/nope/readings", params=params)
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "unknown-point"
    assert "'nope'" in response.json()["detail"]["message"]


def test_missing_start_is_422(client: httpx.Client) -> None:
    response = client.get(URL, params={"end": "2026-05-28T01:00:00Z"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert (detail["code"], detail["parameter"]) == ("invalid-request", "start")
    assert detail["errors"][0]["loc"] == ["query", "start"]
