"""Push alarms to people: MQTT annunciator, webhooks (generic, WeCom, DingTalk), e-mail.

I/O lives here (HTTP, SMTP, the caller's MQTT client); the alarm logic does not.
"""

from __future__ import annotations

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

__all__ = [
    "Contact",
    "ContactGroup",
    "DeliveryError",
    "DeliveryRecord",
    "DingTalkChannel",
    "DingTalkSender",
    "EmailChannel",
    "EmailSender",
    "EscalationStep",
    "Grouping",
    "Message",
    "MissingSecret",
    "MqttChannel",
    "MqttSender",
    "Notice",
    "Notifier",
    "NotifyConfig",
    "PointInfo",
    "Priority",
    "Publish",
    "RetryPolicy",
    "Sender",
    "WeComChannel",
    "WeComSender",
    "WebhookChannel",
    "WebhookSender",
    "build_senders",
    "dingtalk_sign",
    "dingtalk_url",
    "priority",
]
