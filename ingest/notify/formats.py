"""Webhook bodies: generic JSON, WeCom (企业微信) robot, DingTalk (钉钉) robot with signature.

DingTalk's signed robot (open.dingtalk.com, custom robot security settings, 加签): take the
current time in milliseconds, sign ``timestamp + "\\n" + secret`` with HMAC-SHA256 keyed by
the secret, base64 the digest, URL-encode it, and append ``&timestamp=..&sign=..`` to the
webhook URL. The robot refuses a timestamp more than an hour off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from typing import Any

from ingest.notify.message import Message

GENERIC_VERSION = 1


def generic(message: Message) -> dict[str, Any]:
    title_zh, title_en = message.title()
    return {
        "version": GENERIC_VERSION,
        "site": message.site,
        "group": message.group,
        "escalation_step": message.step,
        "title": {"zh": title_zh, "en": title_en},
        "text": message.text(),
        "alarms": [n.to_dict() for n in message.notices],
    }


def wecom(message: Message, fmt: str = "markdown") -> dict[str, Any]:
    if fmt == "text":
        body: dict[str, Any] = {"content": message.text()}
        if message.mobiles:
            body["mentioned_mobile_list"] = list(message.mobiles)
        return {"msgtype": "text", "text": body}
    return {"msgtype": "markdown", "markdown": {"content": message.markdown()}}


def dingtalk(message: Message) -> dict[str, Any]:
    title_zh, title_en = message.title()
    text = message.markdown()
    if message.mobiles:  # DingTalk only notifies mobiles that also appear in the text
        text += "\n\n" + " ".join(f"@{m}" for m in message.mobiles)
    return {
        "msgtype": "markdown",
        "markdown": {"title": f"{title_zh} / {title_en}", "text": text},
        "at": {"atMobiles": list(message.mobiles), "isAtAll": False},
    }


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value (already URL-encoded), per DingTalk's documented algorithm."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def dingtalk_url(url: str, secret: str, timestamp_ms: int) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"
