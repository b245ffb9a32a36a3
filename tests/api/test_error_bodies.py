"""Real error answers, validated with jsonschema against the OpenAPI the same server publishes.

Each case provokes one refusal the way a client would meet it (no key, a key of the wrong
role, an unknown id, a state conflict, a bad parameter, no gateway, no store) and checks the
status, the code and the parameter named, and that the body matches the schema documented
for that operation and status: one shape, ``{"detail": {"code", "message", ...}}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from api.app import create_app
from tests.api.records_site import RecordsSite, records_site
from tests.api.serve import serve
from tests.records.support import (
    DAY,
    INSPECTOR_KEY,
    OFFICER_KEY,
    OTHER_INSPECTOR_KEY,
    STAFF_KEY,
    site_config,
)

EX = "{exceedance}"  # replaced by the id of the open exceedance of the closed day
# method, OpenAPI path, concrete path, key, query, JSON body, status, code, parameter
CASES: list[tuple[str, str, str, str | None, dict[str, str], Any, int, str, str | None]] = [
    ("GET", "/api/v1/points", "/api/v1/points", None, {}, None, 401, "missing-api-key", None),
    ("GET", "/api/v1/points", "/api/v1/points", "no-such-key", {}, None, 401,
     "unknown-api-key", None),
    ("POST", "/api/v1/exceedances/{exceedance_id}/actions", f"/api/v1/exceedances/{EX}/actions",
     INSPECTOR_KEY, {}, {"who": "x", "what": "y"}, 403, "read-only", None),
    ("GET", "/api/v1/points", "/api/v1/points", OTHER_INSPECTOR_KEY, {}, None, 403,
     "site-not-allowed", None),
    ("GET", "/api/v1/access-log", "/api/v1/access-log", STAFF_KEY, {}, None, 403,
     "officer-only", None),
    ("POST", "/api/v1/daily-records/{day}/close", f"/api/v1/daily-records/{DAY}/close",
     STAFF_KEY, {}, None, 403, "acknowledge-only", None),
    ("POST", "/api/v1/daily-records/{day}/sign", f"/api/v1/daily-records/{DAY}/sign",
     OFFICER_KEY, {}, {"name": "路人"}, 403, "not-a-signer", "name"),
    ("GET", "/api/v1/points/{point_id}", "/api/v1/points/nope", OFFICER_KEY, {}, None, 404,
     "unknown-point", None),
    ("GET", "/api/v1/exceedances/{exceedance_id}", "/api/v1/exceedances/nope", OFFICER_KEY, {},
     None, 404, "unknown-exceedance", None),
    ("GET", "/api/v1/alarms/{alarm_id}", "/api/v1/alarms/nope:process", OFFICER_KEY, {}, None,
     404, "unknown-alarm", None),
    ("POST", "/api/v1/daily-records/{day}/close", "/api/v1/daily-records/2999-01-01/close",
     OFFICER_KEY, {}, None, 409, "day-open", None),
    ("POST", "/api/v1/exceedances/{exceedance_id}/recheck", f"/api/v1/exceedances/{EX}/recheck",
     OFFICER_KEY, {}, {"who": "王安全"}, 409, "illegal-step", None),
    ("POST", "/api/v1/daily-records/{day}/sign", "/api/v1/daily-records/2026-05-14/sign",
     OFFICER_KEY, {}, {"name": "王安全"}, 409, "conflict", None),
    ("GET", "/api/v1/daily-records/report", "/api/v1/daily-records/report", OFFICER_KEY,
     {"day": "9999-12-31"}, None, 422, "invalid-parameter", "day"),
    ("GET", "/api/v1/dead-letters", "/api/v1/dead-letters", OFFICER_KEY, {"limit": "abc"}, None,
     422, "invalid-request", "limit"),
    ("POST", "/api/v1/alarms/{alarm_id}/shelve", "/api/v1/alarms/pump-h2s:process/shelve",
     OFFICER_KEY, {}, {"user": "li", "reason": "work"}, 422, "invalid-request", "until"),
    ("POST", "/api/v1/alarms/{alarm_id}/acknowledge", "/api/v1/alarms/pump-h2s:process/acknowledge",
     OFFICER_KEY, {}, b"\xff\xfe{", 400, "bad-request", None),
    ("POST", "/api/v1/alarms/{alarm_id}/acknowledge", "/api/v1/alarms/pump-h2s:process/acknowledge",
     OFFICER_KEY, {}, {"user": "li"}, 503, "gateway-unreachable", None),
    # ingest's own system alarm: said as such, not "unknown" and not "gateway unreachable"
    ("POST", "/api/v1/alarms/{alarm_id}/acknowledge",
     "/api/v1/alarms/system:ingest:disk-low/acknowledge", OFFICER_KEY, {}, {"user": "li"}, 409,
     "ingest-alarm", None),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordsSite]:
    with records_site(tmp_path_factory.mktemp("errors")) as served:
        yield served


@pytest.fixture(scope="module")
def spec(site: RecordsSite) -> dict[str, Any]:
    answer = httpx.get(site.url + "/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def documented(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    """The JSON schema the OpenAPI gives for this answer, its $refs resolvable."""
    responses = spec["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} does not document {status}"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return {**schema, "components": spec["components"]}


def check(body: Any, schema: dict[str, Any]) -> None:
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize(
    ("method", "path", "url", "key", "query", "body", "status", "code", "parameter"), CASES,
    ids=[f"{c[6]}-{c[7]}" for c in CASES])
def test_error_answer_matches_the_published_schema(
    site: RecordsSite, spec: dict[str, Any], method: str, path: str, url: str, key: str | None,
    query: dict[str, str], body: Any, status: int, code: str, parameter: str | None,
) -> None:
    headers = {"X-API-Key": key} if key else {}
    if EX in url:
        listed = httpx.get(site.url + "/api/v1/exceedances", headers={"X-API-Key": OFFICER_KEY})
        url = url.replace(EX, listed.json()["items"][0]["id"])
    if isinstance(body, bytes):  # not JSON at all
        answer = httpx.request(method, site.url + url, content=body, timeout=15,
                               headers={**headers, "Content-Type": "application/json"})
    else:
        answer = httpx.request(method, site.url + url, params=query, json=body,
                               headers=headers, timeout=15)
    assert answer.status_code == status, answer.text
    got = answer.json()
    check(got, documented(spec, method, path, status))
    assert got["detail"]["code"] == code
    assert got["detail"].get("parameter") == parameter
    assert got["detail"]["message"]
    if status == 401:
        assert answer.headers["WWW-Authenticate"] == "X-API-Key"


def test_an_unknown_path_answers_the_same_shape(site: RecordsSite, spec: dict[str, Any]) -> None:
    answer = httpx.get(site.url + "/api/v1/no-such-thing", headers={"X-API-Key": OFFICER_KEY})
    assert answer.status_code == 404
    check(answer.json(), {"$ref": "#/components/schemas/ErrorBody",
                          "components": spec["components"]})
    assert answer.json()["detail"]["code"] == "not-found"


def test_healthz_without_its_store_is_a_documented_503(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    path = tmp_path / "gone" / "occmon.db"
    app = create_app(config, path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with serve(app) as url:
        published = httpx.get(url + "/openapi.json").json()
        answer = httpx.get(url + "/healthz")
    assert answer.status_code == 503
    check(answer.json(), documented(published, "GET", "/healthz", 503))
    assert answer.json()["detail"]["code"] == "store-unavailable"


def test_every_operation_documents_its_error_answers(spec: dict[str, Any]) -> None:
    """400 where a body is read, 401/403 wherever a key is needed, 404 on ids, 409 on
    commands, 422 on parameters, 503 everywhere: all with the one error body; FastAPI's own
    422 shape appears nowhere."""
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    public = {"/healthz", "/board", "/metrics"}
    seen = 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            wanted = {503} | (set() if path in public else {401, 403})
            wanted |= {400} if op.get("requestBody") else set()
            wanted |= {404} if "{" in path else set()
            # 409 on commands, and where the site's state refuses a read (no ledger key)
            wanted |= {409} if method == "post" or path == "/api/v1/ledger/anchors" else set()
            wanted |= {422} if op.get("parameters") or op.get("requestBody") else set()
            errors = {int(s) for s in responses if s.startswith(("4", "5"))}
            assert errors == wanted, (method, path, sorted(errors))
            for status in wanted:
                schema = responses[str(status)]["content"]["application/json"]["schema"]
                if (path, status) == ("/healthz", 503):  # failing: Health; no store: ErrorBody
                    assert error_body in schema["anyOf"], schema
                    assert {"$ref": "#/components/schemas/Health"} in schema["anyOf"], schema
                    continue
                assert schema == error_body, (method, path, status)
            seen += 1
    assert seen >= 30
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    detail = spec["components"]["schemas"]["ErrorDetail"]
    assert sorted(detail["required"]) == ["code", "message"]
    assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["detail"]
