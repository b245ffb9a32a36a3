"""API keys: 401 without or with an unknown key, 403 for what a role may not do, inspectors
scoped to their sites and every inspector request logged."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.conftest import Site
from tests.records.support import INSPECTOR_KEY, OFFICER_KEY, OTHER_INSPECTOR_KEY, STAFF_KEY

READS = ("/api/v1/points", "/api/v1/devices", "/api/v1/dead-letters", "/api/v1/exceedances",
         "/api/v1/daily-records?start=2026-05-12", "/api/v1/ledger/verify")


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@pytest.mark.parametrize("path", READS)
def test_missing_or_unknown_key_is_401(site: Site, path: str) -> None:
    missing = httpx.get(site.url + path)
    assert missing.status_code == 401 and missing.json()["detail"]["code"] == "missing-api-key"
    assert "missing API key" in missing.json()["detail"]["message"]
    wrong = httpx.get(site.url + path, headers=h("not-a-key"))
    assert wrong.status_code == 401 and wrong.json()["detail"] == {
        "code": "unknown-api-key", "message": "unknown API key"}
    assert httpx.get(site.url + path, headers=h(OFFICER_KEY)).status_code == 200


def test_health_and_board_are_public(site: Site) -> None:
    assert httpx.get(site.url + "/healthz").status_code == 200
    assert httpx.get(site.url + "/board").status_code == 200


def test_inspector_reads_cannot_write_and_is_logged(site: Site) -> None:
    ex = httpx.get(site.url + "/api/v1/exceedances", headers=h(INSPECTOR_KEY))
    assert ex.status_code == 200 and ex.json()["total"] == 1
    ex_id = ex.json()["items"][0]["id"]
    write = httpx.post(f"{site.url}/api/v1/exceedances/{ex_id}/actions",
                       headers=h(INSPECTOR_KEY), json={"who": "x", "what": "y"})
    assert write.status_code == 403 and write.json()["detail"]["code"] == "read-only"
    sign = httpx.post(site.url + "/api/v1/daily-records/2026-05-12/sign",
                      headers=h(INSPECTOR_KEY), json={"name": "王安全"})
    assert sign.status_code == 403
    log = httpx.get(site.url + "/api/v1/access-log", headers=h(OFFICER_KEY)).json()["entries"]
    seen = [(e["key"], e["method"], e["path"], e["decision"]) for e in reversed(log)]
    assert seen == [
        ("inspector-1", "GET", "/api/v1/exceedances", "allowed"),
        ("inspector-1", "POST", f"/api/v1/exceedances/{ex_id}/actions", "refused"),
        ("inspector-1", "POST", "/api/v1/daily-records/2026-05-12/sign", "refused"),
    ]
    assert httpx.get(site.url + "/api/v1/access-log",
                     headers=h(INSPECTOR_KEY)).status_code == 403


def test_inspector_of_another_site_sees_nothing_and_is_logged(site: Site) -> None:
    for path in ("/api/v1/exceedances", "/api/v1/daily-records?start=2026-05-12",
                 "/api/v1/points"):
        got = httpx.get(site.url + path, headers=h(OTHER_INSPECTOR_KEY))
        assert got.status_code == 403 and got.json()["detail"]["code"] == "site-not-allowed"
        assert "may not see site 'plant-a'" in got.json()["detail"]["message"]
    log = httpx.get(site.url + "/api/v1/access-log", headers=h(OFFICER_KEY)).json()["entries"]
    assert [e["decision"] for e in log if e["key"] == "inspector-2"] == ["refused"] * 3


def test_staff_reads_but_may_not_close_or_sign(site: Site) -> None:
    assert httpx.get(site.url + "/api/v1/exceedances", headers=h(STAFF_KEY)).status_code == 200
    close = httpx.post(site.url + "/api/v1/daily-records/2026-05-12/close", headers=h(STAFF_KEY))
    assert close.status_code == 403 and "acknowledge only" in close.json()["detail"]["message"]


def test_an_env_var_key_works_and_an_unset_one_is_refused(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from api.app import create_app
    from tests.api.serve import serve
    from tests.records.support import site_config, site_doc

    path = Path(str(tmp_path))
    doc = site_doc(path)
    doc["auth"]["keys"] = [{"name": "ops", "role": "officer", "env": "OCCMON_TEST_KEY"},
                           {"name": "gone", "role": "officer", "env": "OCCMON_UNSET_KEY"}]
    monkeypatch.setenv("OCCMON_TEST_KEY", "from-the-environment")
    monkeypatch.delenv("OCCMON_UNSET_KEY", raising=False)
    config = site_config(path, doc)
    with serve(create_app(config, config.store.path)) as url:
        assert httpx.get(url + "/api/v1/points",
                         headers=h("from-the-environment")).status_code == 200
        assert httpx.get(url + "/api/v1/points", headers=h("")).status_code == 401
