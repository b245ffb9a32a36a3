"""Which role may send which alarm command: the guard decides before any gateway is asked.

An allowed role gets past the guard to body validation (an empty body: 422, so no gateway
is needed); a refused one is a 403 whatever the body. Inspectors' refusals are logged.
"""

from __future__ import annotations

import httpx
import pytest

from tests.auth.conftest import Site
from tests.records.support import INSPECTOR_KEY, OFFICER_KEY, STAFF_KEY

KEYS = {"officer": OFFICER_KEY, "staff": STAFF_KEY, "inspector": INSPECTOR_KEY}
# command -> roles that may send it. Taking an alarm out of service (or back) is at least
# as privileged as shelving: the safety officer only.
MAY = {
    "acknowledge": {"officer", "staff"},
    "shelve": {"officer"},
    "unshelve": {"officer"},
    "resolve": {"officer"},
    "out-of-service": {"officer"},
    "in-service": {"officer"},
}
ALARM = "pump-h2s:process"


@pytest.mark.parametrize("role", sorted(KEYS))
@pytest.mark.parametrize("command", sorted(MAY))
def test_alarm_command_roles(site: Site, command: str, role: str) -> None:
    answer = httpx.post(f"{site.url}/api/v1/alarms/{ALARM}/{command}", json={},
                        headers={"X-API-Key": KEYS[role]})
    if role in MAY[command]:
        assert answer.status_code == 422, answer.text
        assert "user" in [e["loc"][-1] for e in answer.json()["detail"]["errors"]]
    else:
        assert answer.status_code == 403, answer.text


def test_inspector_refusals_of_service_commands_are_logged(site: Site) -> None:
    body = {"user": "x", "reason": "y"}
    for command in ("out-of-service", "in-service"):
        refused = httpx.post(f"{site.url}/api/v1/alarms/{ALARM}/{command}", json=body,
                             headers={"X-API-Key": INSPECTOR_KEY})
        assert refused.status_code == 403 and refused.json()["detail"]["code"] == "read-only"
    log = httpx.get(site.url + "/api/v1/access-log",
                    headers={"X-API-Key": OFFICER_KEY}).json()["entries"]
    assert [(e["method"], e["path"], e["decision"]) for e in reversed(log)] == [
        ("POST", f"/api/v1/alarms/{ALARM}/out-of-service", "refused"),
        ("POST", f"/api/v1/alarms/{ALARM}/in-service", "refused"),
    ]


# A body complete but for one blank field; the guard passes (officer), validation refuses.
BLANK = [
    ("alarms", ALARM, "acknowledge", {"user": "  "}, "user"),
    ("alarms", ALARM, "shelve", {"user": "li", "until": "2030-01-01T00:00:00+08:00",
                                 "reason": " \t"}, "reason"),
    ("alarms", ALARM, "unshelve", {"user": " "}, "user"),
    ("alarms", ALARM, "resolve", {"user": "\n", "reason_code": "other"}, "user"),
    ("ventilation", "desulf-exhaust", "override", {"mode": "on", "user": "li", "reason": "  "},
     "reason"),
    ("ventilation", "desulf-exhaust", "reset", {"user": "   "}, "user"),
]


@pytest.mark.parametrize(("kind", "target", "command", "body", "field"), BLANK)
def test_blank_who_or_why_is_refused_before_the_gateway(
    site: Site, kind: str, target: str, command: str, body: dict[str, str], field: str
) -> None:
    answer = httpx.post(f"{site.url}/api/v1/{kind}/{target}/{command}", json=body,
                        headers={"X-API-Key": OFFICER_KEY})
    assert answer.status_code == 422, answer.text
    assert [e["loc"][-1] for e in answer.json()["detail"]["errors"]] == [field]
    assert answer.json()["detail"]["parameter"] == field
