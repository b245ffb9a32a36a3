"""The ``notify:`` configuration: channels, contacts, groups, escalation, grouping, retries.

Secrets (webhook URLs with tokens, DingTalk signing secrets, SMTP passwords) are never in
the file: a channel names the environment variable that holds them (``*_env``), read once
when the channels are built; a missing variable is an error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Http(_Strict):
    id: Slug
    url: str | None = Field(default=None, description="endpoint, if it holds no secret")
    url_env: EnvName | None = Field(default=None, description="env var holding the URL")
    timeout: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _one_url(self) -> _Http:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"channel {self.id!r}: give exactly one of url or url_env")
        return self


class WebhookChannel(_Http):
    """Generic JSON POST (the body is documented in docs/alarms.md)."""

    type: Literal["webhook"]
    token_env: EnvName | None = Field(default=None, description="sent as Bearer token")


class WeComChannel(_Http):
    """企业微信 group robot: ``.../cgi-bin/webhook/send?key=...``."""

    type: Literal["wecom"]
    format: Literal["markdown", "text"] = "markdown"


class DingTalkChannel(_Http):
    """钉钉 custom robot: ``.../robot/send?access_token=...``, signed when a secret is set."""

    type: Literal["dingtalk"]
    secret_env: EnvName | None = None


class EmailChannel(_Strict):
    id: Slug
    type: Literal["email"]
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(min_length=3)
    security: Literal["none", "starttls", "ssl"] = "none"
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    timeout: float = Field(default=10.0, gt=0, le=120)


class MqttChannel(_Strict):
    """The site annunciator topic (``occmon/v1/{site}/annunciator``)."""

    id: Slug
    type: Literal["mqtt"]
    qos: Literal[0, 1, 2] = 1


ChannelConfig = Annotated[
    WebhookChannel | WeComChannel | DingTalkChannel | EmailChannel | MqttChannel,
    Field(discriminator="type"),
]


class Contact(_Strict):
    id: Slug
    name: str = Field(min_length=1)
    email: str | None = None
    mobile: str | None = Field(default=None, description="for @-mentions in chat robots")


class ContactGroup(_Strict):
    id: Slug
    contacts: list[Slug] = Field(default_factory=list)
    channels: list[Slug] = Field(min_length=1)


class EscalationStep(_Strict):
    """Notify ``group`` when an alarm is still unacknowledged ``after`` s from its raise."""

    group: Slug
    after: float = Field(ge=0, le=7 * 86400)


class RetryPolicy(_Strict):
    attempts: int = Field(default=5, ge=1, le=50)
    initial: float = Field(default=1.0, gt=0, le=600)
    factor: float = Field(default=2.0, ge=1, le=10)
    maximum: float = Field(default=60.0, gt=0, le=3600)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.initial * self.factor ** (attempt - 1), self.maximum))


NOTIFY_ON = ("raised", "escalated", "fault-raised")
CLOSE_ON = ("acknowledged", "returned", "resolved", "shelved", "out-of-service")


class NotifyConfig(_Strict):
    channels: list[ChannelConfig] = Field(min_length=1)
    contacts: list[Contact] = Field(default_factory=list)
    groups: list[ContactGroup] = Field(min_length=1)
    escalation: list[EscalationStep] = Field(min_length=1)
    group_window: float = Field(default=30.0, ge=0, le=3600,
                                description="s: later alarms of an area share one message")
    retry: RetryPolicy = RetryPolicy()
    notify_on: list[str] = Field(default_factory=lambda: list(NOTIFY_ON))

    @model_validator(mode="after")
    def _references(self) -> NotifyConfig:
        channels = {c.id for c in self.channels}
        contacts = {c.id for c in self.contacts}
        groups = {g.id for g in self.groups}
        for kind, ids in (("channel", [c.id for c in self.channels]),
                          ("contact", [c.id for c in self.contacts]),
                          ("group", [g.id for g in self.groups])):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{kind} ids given twice: {dupes}")
        for group in self.groups:
            for ref in group.channels:
                if ref not in channels:
                    raise ValueError(f"group {group.id!r}: unknown channel {ref!r}")
            for ref in group.contacts:
                if ref not in contacts:
                    raise ValueError(f"group {group.id!r}: unknown contact {ref!r}")
        for step in self.escalation:
            if step.group not in groups:
                raise ValueError(f"escalation: unknown group {step.group!r}")
        afters = [s.after for s in self.escalation]
        if afters != sorted(afters):
            raise ValueError("escalation steps must be in order of 'after'")
        return self

    def group(self, group_id: str) -> ContactGroup:
        return next(g for g in self.groups if g.id == group_id)

    def contact(self, contact_id: str) -> Contact:
        return next(c for c in self.contacts if c.id == contact_id)


class MissingSecret(ValueError):
    """A channel names an environment variable that is not set."""


def secret(environ: Mapping[str, str], name: str | None, channel: str) -> str | None:
    if name is None:
        return None
    value = environ.get(name)
    if not value:
        raise MissingSecret(f"channel {channel!r}: environment variable {name} is not set")
    return value
