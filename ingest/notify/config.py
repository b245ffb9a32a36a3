"""The ``notify:`` configuration: channels, contacts, groups, escalation, grouping, retries.

The models live in ``occmon.config.notify`` (``SiteConfig.notify`` uses them); re-exported
here for the notifier.
"""

from __future__ import annotations

from occmon.config.notify import (
    CLOSE_ON,
    NOTIFY_ON,
    ChannelConfig,
    Contact,
    ContactGroup,
    DingTalkChannel,
    EmailChannel,
    EnvName,
    EscalationStep,
    MissingSecret,
    MqttChannel,
    NotifyConfig,
    RetryPolicy,
    WebhookChannel,
    WeComChannel,
    secret,
)

__all__ = [
    "CLOSE_ON",
    "NOTIFY_ON",
    "ChannelConfig",
    "Contact",
    "ContactGroup",
    "DingTalkChannel",
    "EmailChannel",
    "EnvName",
    "EscalationStep",
    "MissingSecret",
    "MqttChannel",
    "NotifyConfig",
    "RetryPolicy",
    "WeComChannel",
    "WebhookChannel",
    "secret",
]
