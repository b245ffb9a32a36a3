"""Message text and webhook bodies (pure), and config checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import pytest

from ingest.notify import Message, MissingSecret, Notice, NotifyConfig, build_senders, formats
from tests.notify.support import POINTS, config, raised


def message(*points: str, step: int = 0) -> Message:
    notices = tuple(Notice.from_event(raised(p), POINTS) for p in points)
    return Message("demo-plant", notices, "shift", step, "Asia/Shanghai", ("13800000001",))


def test_text_is_bilingual_with_value_setpoint_and_local_time() -> None:
    text = message("desulf-h2s-1").text()
    assert "高报报警: 脱硫泵房硫化氢" in text and "HIGH ALARM RAISED: Desulf pump house H2S" in text
    assert "测量值 25 mg/m3" in text and "set-point 20 mg/m3" in text
    assert "1970-01-01 08:16:40" in text  # t=1000 s in Asia/Shanghai
    assert "desulf-h2s-1:process" in text


def test_grouped_title_counts_and_escalation_is_marked() -> None:
    zh, en = message("desulf-h2s-1", "desulf-h2s-2", step=1).title()
    assert zh.startswith("[升级] ") and "等2条" in zh
    assert en.startswith("[ESCALATION] ") and "(+1 more)" in en


def test_wecom_and_dingtalk_bodies() -> None:
    msg = message("desulf-h2s-1")
    body = formats.wecom(msg)
    assert list(body) == ["msgtype", "markdown"] and body["msgtype"] == "markdown"
    assert body["markdown"]["content"].startswith("### 高报报警")
    text = formats.wecom(msg, "text")
    assert text["text"]["mentioned_mobile_list"] == ["13800000001"]
    ding = formats.dingtalk(msg)
    assert ding["msgtype"] == "markdown"
    assert set(ding["markdown"]) == {"title", "text"}
    assert ding["at"] == {"atMobiles": ["13800000001"], "isAtAll": False}
    assert "@13800000001" in ding["markdown"]["text"]


def test_dingtalk_signature_follows_the_documented_algorithm() -> None:
    secret, stamp = "SECabc123", 1_700_000_000_000
    url = formats.dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=t", secret,
                               stamp)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["timestamp"] == str(stamp) and query["access_token"] == "t"
    digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert base64.b64decode(query["sign"]) == digest
    assert formats.dingtalk_sign(secret, stamp + 1) != formats.dingtalk_sign(secret, stamp)


def test_secrets_come_from_the_environment() -> None:
    cfg = config([{"id": "ding", "type": "dingtalk", "url_env": "DING_URL",
                   "secret_env": "DING_SECRET"}])
    with pytest.raises(MissingSecret, match="DING_URL"):
        build_senders(cfg.channels, {}, annunciator_topic="t", publish=None, clock_ms=lambda: 0)
    with pytest.raises(MissingSecret, match="DING_SECRET"):
        build_senders(cfg.channels, {"DING_URL": "http://x/robot?access_token=a"},
                      annunciator_topic="t", publish=None, clock_ms=lambda: 0)


@pytest.mark.parametrize(("change", "message_part"), [
    ({"groups": [{"id": "shift", "channels": ["nope"]}]}, "unknown channel 'nope'"),
    ({"escalation": [{"group": "ghost", "after": 0}]}, "unknown group 'ghost'"),
    ({"escalation": [{"group": "shift", "after": 60}, {"group": "shift", "after": 0}]},
     "in order"),
])
def test_bad_config_is_refused_with_a_clear_message(change: dict[str, object],
                                                    message_part: str) -> None:
    with pytest.raises(ValueError, match=message_part):
        config([{"id": "hook", "type": "webhook", "url": "http://x"}], **change)


def test_a_channel_needs_exactly_one_url() -> None:
    with pytest.raises(ValueError, match="exactly one of url or url_env"):
        NotifyConfig.model_validate({
            "channels": [{"id": "h", "type": "webhook"}],
            "groups": [{"id": "g", "channels": ["h"]}],
            "escalation": [{"group": "g", "after": 0}]})
