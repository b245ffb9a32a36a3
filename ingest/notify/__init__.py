"""Push alarms to people: MQTT annunciator, webhooks (generic, WeCom, DingTalk), e-mail.

I/O lives here (HTTP, SMTP, the caller's MQTT client); the alarm logic does not.

The public names are imported on first use (PEP 562): the gateway builds its system-alarm
pushes from ``formats`` and ``message`` alone, and importing ``channels`` up front loaded
httpx, and with it rich, pygments and click (httpx's command line), ~10 MB of the edge
box's memory for senders the gateway never runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.notify.channels import (
        DeliveryError,
        DingTalkSender,
        EmailSender,
        MqttSender,
        Publish,
        Sender,
        WebhookSender,
        WeComSender,
        build_senders,
    )
    from ingest.notify.config import (
        Contact,
        ContactGroup,
        DingTalkChannel,
        EmailChannel,
        EscalationStep,
        MissingSecret,
        MqttChannel,
        NotifyConfig,
        RetryPolicy,
        WebhookChannel,
        WeComChannel,
    )
    from ingest.notify.formats import dingtalk_sign, dingtalk_url
    from ingest.notify.grouping import Grouping, Priority, priority
    from ingest.notify.message import Message, Notice, PointInfo
    from ingest.notify.notifier import DeliveryRecord, Notifier

_WHERE = {
    **dict.fromkeys(("DeliveryError", "DingTalkSender", "EmailSender", "MqttSender", "Publish",
                     "Sender", "WebhookSender", "WeComSender", "build_senders"), "channels"),
    **dict.fromkeys(("Contact", "ContactGroup", "DingTalkChannel", "EmailChannel",
                     "EscalationStep", "MissingSecret", "MqttChannel", "NotifyConfig",
                     "RetryPolicy", "WebhookChannel", "WeComChannel"), "config"),
    **dict.fromkeys(("dingtalk_sign", "dingtalk_url"), "formats"),
    **dict.fromkeys(("Grouping", "Priority", "priority"), "grouping"),
    **dict.fromkeys(("Message", "Notice", "PointInfo"), "message"),
    **dict.fromkeys(("DeliveryRecord", "Notifier"), "notifier"),
}

__all__ = [
    "Contact", "ContactGroup", "DeliveryError", "DeliveryRecord", "DingTalkChannel",
    "DingTalkSender", "EmailChannel", "EmailSender", "EscalationStep", "Grouping", "Message",
    "MissingSecret", "MqttChannel", "MqttSender", "Notice", "Notifier", "NotifyConfig",
    "PointInfo", "Priority", "Publish", "RetryPolicy", "Sender", "WeComChannel", "WeComSender",
    "WebhookChannel", "WebhookSender", "build_senders", "dingtalk_sign", "dingtalk_url",
    "priority",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
