"""Personal keys over real HTTP (uvicorn): an officer issues a worker a key, the key reads and
exports that worker's file only, a revoked, expired or guessed key is refused at once, and
every read of personal data, by anyone, is in the access log, which pages without gaps."""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from tests.api.serve import serve
from tests.workers.site import INSPECTOR, OFFICER, STAFF, A, B, config, worker_body


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    site = config(tmp_path)
    with serve(create_app(site, site.store.path)) as url, \
            httpx.Client(base_url=url, timeout=10) as http:
        for employee, name in ((A, "张三"), (B, "李四")):
            r = http.post("/api/v1/workers", json=worker_body(employee, name), headers=OFFICER)
            assert r.status_code == 201, r.text
        yield http, site.store.path


def issue(http: httpx.Client, employee: str, **body: Any) -> dict[str, Any]:
    r = http.post(f"/api/v1/workers/{employee}/keys", json=body, headers=OFFICER)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def code(r: httpx.Response) -> str:
    return str(r.json()["detail"]["code"])


def test_a_personal_key_reads_and_exports_its_own_file_and_nothing_else(
    api: tuple[httpx.Client, Path],
) -> None:
    http, store = api
    issued = issue(http, A, label="phone", days=30)
    token = issued["key"]
    assert token.startswith("occw_") and len(token) >= 40
    assert issued["state"] == "valid" and issued["issued_by"] == "demo-officer"
    key = {issued["header"]: token}

    own = http.get(f"/api/v1/workers/{A}", headers=key)
    assert own.status_code == 200, own.text
    assert own.json()["worker"]["name"] == "张三"
    export = http.get(f"/api/v1/workers/{A}", params={"format": "csv"}, headers=key)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")

    other = http.get(f"/api/v1/workers/{B}", headers=key)
    assert other.status_code == 403 and code(other) == "own-file-only"
    assert "李四" not in other.text
    for path in ("/api/v1/workers", "/api/v1/assignments", "/api/v1/instruments",
                 "/api/v1/points", "/api/v1/ledger", "/api/v1/access-log",
                 f"/api/v1/workers/{B}/access-log", f"/api/v1/workers/{B}/readings"):
        r = http.get(path, headers=key)
        assert r.status_code == 403, (path, r.status_code, r.text)
    # writes: none, not even on its own file, and no key for itself or anyone
    assert http.post(f"/api/v1/workers/{A}/corrections", headers=key,
                     json=worker_body(A, "张三丰", reason="mine")).status_code == 403
    assert http.post(f"/api/v1/workers/{A}/keys", headers=key, json={}).status_code == 403
    assert http.post(f"/api/v1/workers/{B}/keys", headers=key, json={}).status_code == 403
    listed = http.get(f"/api/v1/workers/{A}/keys", headers=key)  # below its file: officer only
    assert listed.status_code == 403 and code(listed) == "officer-only"

    # the store keeps the key's digest, never the key
    raw = Path(store).read_bytes()
    assert token.encode() not in raw
    listing = http.get(f"/api/v1/workers/{A}/keys", headers=OFFICER).json()["items"]
    assert [k["id"] for k in listing] == [issued["id"]]
    assert all("key" not in k and "sha256" not in k for k in listing)


def test_revoked_expired_and_guessed_keys_get_401_at_their_next_request(
    api: tuple[httpx.Client, Path],
) -> None:
    http, store = api
    first, second = issue(http, A), issue(http, A, days=1)
    k1, k2 = {"X-API-Key": first["key"]}, {"X-API-Key": second["key"]}
    assert http.get(f"/api/v1/workers/{A}", headers=k1).status_code == 200

    gone = http.delete(f"/api/v1/workers/{A}/keys/{first['id']}", headers=OFFICER)
    assert gone.status_code == 200 and gone.json()["state"] == "revoked"
    r = http.get(f"/api/v1/workers/{A}", headers=k1)
    assert r.status_code == 401 and code(r) == "revoked-key"
    assert http.get(f"/api/v1/workers/{A}", headers=k2).status_code == 200  # the other stays
    # a key is revoked on the worker it belongs to: B's path cannot reach A's key
    assert http.delete(f"/api/v1/workers/{B}/keys/{second['id']}",
                       headers=OFFICER).status_code == 404
    # the store's clock passing the expiry (set back here rather than waiting a day)
    conn = sqlite3.connect(store)
    with conn:
        conn.execute("UPDATE worker_keys SET expires = ? WHERE id = ?",
                     (time.time() - 1, second["id"]))
    conn.close()
    r = http.get(f"/api/v1/workers/{A}", headers=k2)
    assert r.status_code == 401 and code(r) == "expired-key"
    states = {k["id"]: k["state"] for k in
              http.get(f"/api/v1/workers/{A}/keys", headers=OFFICER).json()["items"]}
    assert states == {first["id"]: "revoked", second["id"]: "expired"}

    fresh = issue(http, A)["key"]
    guesses = ["occw_" + secrets.token_urlsafe(32), fresh[:-1] + ("A" if fresh[-1] != "A"
                                                                   else "B"),
               fresh.upper(), fresh + "x", "occw_", fresh[5:]]
    for guess in guesses:
        r = http.get(f"/api/v1/workers/{A}", headers={"X-API-Key": guess})
        assert r.status_code in (400, 401), (guess, r.status_code)
        assert "张三" not in r.text
    # only a key the officer revoked or let expire is named in the log, never a guess
    conn = sqlite3.connect(store)
    keys_logged = {row[0] for row in conn.execute("SELECT DISTINCT key FROM access_log")}
    conn.close()
    assert f"{A}/key-{first['id']}" in keys_logged
    assert not any(g in keys_logged for g in guesses)

    # staff keys run the plant: no keys, no files
    r = http.post(f"/api/v1/workers/{A}/keys", headers=STAFF, json={})
    assert r.status_code == 403 and code(r) == "personal-data"
    assert http.post("/api/v1/workers/E9999/keys", headers=OFFICER, json={}).status_code == 404
    assert http.post(f"/api/v1/workers/{A}/keys", headers=OFFICER,
                     json={"days": 0}).status_code == 422


def test_every_read_of_personal_data_is_in_the_access_log_and_pages_without_gaps(
    api: tuple[httpx.Client, Path],
) -> None:
    http, _store = api
    token = issue(http, A)["key"]
    key = {"X-API-Key": token}
    reads = [(OFFICER, f"/api/v1/workers/{B}"), (INSPECTOR, f"/api/v1/workers/{A}"),
             (key, f"/api/v1/workers/{A}"), (key, f"/api/v1/workers/{B}"),
             (STAFF, f"/api/v1/workers/{A}"), (OFFICER, "/api/v1/assignments"),
             (INSPECTOR, "/api/v1/workers")]
    started = time.time()
    for headers, path in reads:
        http.get(path, headers=headers)

    everything: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if before is not None:
            params["before"] = before
        page = http.get("/api/v1/access-log", headers=OFFICER, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        everything += body["entries"]
        before = body["next_before"]
        if before is None:
            break
    ids = [e["id"] for e in everything]
    assert ids == sorted(set(ids), reverse=True)  # newest first, no row twice
    assert len(ids) == max(ids)  # and none skipped: ids run 1..n
    seen = {(e["key"], e["role"], e["method"], e["path"], e["decision"]) for e in everything}
    worker_key = f"{A}/key-1"
    for row in [("demo-officer", "officer", "GET", f"/api/v1/workers/{B}", "allowed"),
                ("demo-inspector", "inspector", "GET", f"/api/v1/workers/{A}", "allowed"),
                (worker_key, "worker", "GET", f"/api/v1/workers/{A}", "allowed"),
                (worker_key, "worker", "GET", f"/api/v1/workers/{B}", "refused"),
                ("demo-staff", "staff", "GET", f"/api/v1/workers/{A}", "refused"),
                ("demo-officer", "officer", "GET", "/api/v1/assignments", "allowed"),
                ("demo-inspector", "inspector", "GET", "/api/v1/workers", "allowed"),
                ("demo-officer", "officer", "POST", f"/api/v1/workers/{A}/keys", "allowed")]:
        assert row in seen, row
    first_read = next(e for e in everything if e["path"] == f"/api/v1/workers/{B}")
    assert first_read["time"].endswith("+08:00")
    assert first_read["client"] == "127.0.0.1"

    # filters: one worker's file, one key
    only_a = http.get("/api/v1/access-log", headers=OFFICER,
                      params={"worker": A, "limit": 1000}).json()["entries"]
    assert only_a and all(e["path"].startswith(f"/api/v1/workers/{A}") for e in only_a)
    by_key = http.get("/api/v1/access-log", headers=OFFICER,
                      params={"key": worker_key}).json()["entries"]
    assert {e["path"] for e in by_key} == {f"/api/v1/workers/{A}", f"/api/v1/workers/{B}"}
    assert http.get("/api/v1/access-log", headers=INSPECTOR).status_code == 403
    assert http.get("/api/v1/access-log", headers=key).status_code == 403

    # the worker reads who read their own file, and only that
    mine = http.get(f"/api/v1/workers/{A}/access-log", headers=key)
    assert mine.status_code == 200, mine.text
    paths = {e["path"] for e in mine.json()["entries"]}
    assert f"/api/v1/workers/{A}" in paths
    assert all(p == f"/api/v1/workers/{A}" or p.startswith(f"/api/v1/workers/{A}/")
               for p in paths)
    assert ("demo-inspector", f"/api/v1/workers/{A}") in {
        (e["key"], e["path"]) for e in mine.json()["entries"]}
    assert time.time() - started < 60
