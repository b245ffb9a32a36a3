"""Senders, one per channel type. Each ``send`` delivers one message or raises DeliveryError.

Sends are synchronous and bounded by a timeout; the notifier runs them on worker threads so
a dead endpoint only delays its own channel.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

import httpx

from ingest.notify import formats
from ingest.notify.config import (
    ChannelConfig,
    DingTalkChannel,
    EmailChannel,
    MqttChannel,
    WebhookChannel,
    WeComChannel,
    secret,
)
from ingest.notify.message import Message

Publish = Callable[[str, bytes, int], None]  # topic, payload, qos; raises on failure


class DeliveryError(Exception):
    """A failed delivery; ``code`` is a stable counter key, ``retry`` False when pointless."""

    def __init__(self, code: str, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.retry = retry


class Sender(Protocol):
    id: str
    kind: str

    def targets(self, message: Message, emails: Sequence[str]) -> str: ...

    def send(self, message: Message, emails: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class _HttpSender:
    kind = "webhook"

    def __init__(self, channel_id: str, url: str, timeout: float,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.id = channel_id
        self._url = url
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def targets(self, message: Message, emails: Sequence[str]) -> str:
        return httpx.URL(self._url).copy_with(query=None).__str__()  # never log the token

    def _post(self, url: str, body: dict[str, Any],
              headers: Mapping[str, str] | None = None) -> httpx.Response:
        try:
            response = self._client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError("http-error", f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            retry = response.status_code >= 500 or response.status_code == 429
            raise DeliveryError(f"http-{response.status_code}",
                                f"HTTP {response.status_code}: {response.text[:200]}", retry)
        return response

    @staticmethod
    def _robot_ok(response: httpx.Response) -> None:
        """Chat robots answer 200 with ``errcode``; non-zero is a refusal."""
        try:
            answer = response.json()
        except ValueError as exc:
            raise DeliveryError("bad-answer", f"robot answered non-JSON: {exc}") from exc
        code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
        if code:
            # 45009 (WeCom) and 130101 (DingTalk) are rate limits: worth retrying
            raise DeliveryError(f"robot-{code}", f"robot refused: {answer}",
                                retry=code in (45009, 130101))

    def close(self) -> None:
        self._client.close()


class WebhookSender(_HttpSender):
    kind = "webhook"

    def __init__(self, channel_id: str, url: str, timeout: float, token: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(channel_id, url, timeout, transport)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def send(self, message: Message, emails: Sequence[str]) -> None:
        self._post(self._url, formats.generic(message), self._headers)


class WeComSender(_HttpSender):
    kind = "wecom"

    def __init__(self, channel_id: str, url: str, timeout: float, fmt: str = "markdown",
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(channel_id, url, timeout, transport)
        self._fmt = fmt

    def send(self, message: Message, emails: Sequence[str]) -> None:
        self._robot_ok(self._post(self._url, formats.wecom(message, self._fmt)))


class DingTalkSender(_HttpSender):
    kind = "dingtalk"

    def __init__(self, channel_id: str, url: str, timeout: float, signing_secret: str | None,
                 clock_ms: Callable[[], int], transport: httpx.BaseTransport | None = None,
                 ) -> None:
        super().__init__(channel_id, url, timeout, transport)
        self._secret = signing_secret
        self._clock_ms = clock_ms

    def send(self, message: Message, emails: Sequence[str]) -> None:
        url = self._url
        if self._secret:
            url = formats.dingtalk_url(url, self._secret, self._clock_ms())
        self._robot_ok(self._post(url, formats.dingtalk(message)))


class EmailSender:
    kind = "email"

    def __init__(self, config: EmailChannel, username: str | None, password: str | None) -> None:
        self.id = config.id
        self._config = config
        self._login = (username, password) if username and password else None

    def targets(self, message: Message, emails: Sequence[str]) -> str:
        return ", ".join(emails)

    def build(self, message: Message, emails: Sequence[str]) -> EmailMessage:
        title_zh, title_en = message.title()
        mail = EmailMessage()
        mail["Subject"] = f"{title_zh} / {title_en}"
        mail["From"] = self._config.sender
        mail["To"] = ", ".join(emails)
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain="occmon")
        mail["X-Occmon-Alarms"] = ", ".join(message.alarm_ids)
        mail.set_content(message.text())
        return mail

    def send(self, message: Message, emails: Sequence[str]) -> None:
        if not emails:
            raise DeliveryError("no-recipients", "the group has no e-mail addresses", False)
        cfg = self._config
        try:
            smtp: smtplib.SMTP
            if cfg.security == "ssl":
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            with smtp:
                if cfg.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self._login:
                    smtp.login(*self._login)
                refused = smtp.send_message(self.build(message, emails))
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError("smtp-refused", f"all recipients refused: {exc}", False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError("smtp-error", f"{type(exc).__name__}: {exc}") from exc
        if refused:
            raise DeliveryError("smtp-refused", f"refused recipients: {sorted(refused)}", False)

    def close(self) -> None:
        return None


class MqttSender:
    """Publishes the generic JSON body to the site annunciator topic via a hook."""

    kind = "mqtt"

    def __init__(self, channel_id: str, topic: str, publish: Publish, qos: int = 1) -> None:
        self.id = channel_id
        self._topic = topic
        self._publish = publish
        self._qos = qos

    def targets(self, message: Message, emails: Sequence[str]) -> str:
        return self._topic

    def send(self, message: Message, emails: Sequence[str]) -> None:
        payload = json.dumps(formats.generic(message), ensure_ascii=False).encode()
        try:
            self._publish(self._topic, payload, self._qos)
        except Exception as exc:  # the hook is the caller's client: any failure is a retry
            raise DeliveryError("mqtt-error", f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        return None


def build_senders(channels: Sequence[ChannelConfig], environ: Mapping[str, str], *,
                  annunciator_topic: str, publish: Publish | None,
                  clock_ms: Callable[[], int],
                  transport: httpx.BaseTransport | None = None) -> dict[str, Sender]:
    """One sender per configured channel; raises MissingSecret naming an unset variable."""
    out: dict[str, Sender] = {}
    for ch in channels:
        sender: Sender
        if isinstance(ch, EmailChannel):
            sender = EmailSender(ch, secret(environ, ch.username_env, ch.id),
                                 secret(environ, ch.password_env, ch.id))
        elif isinstance(ch, MqttChannel):
            if publish is None:
                raise ValueError(f"channel {ch.id!r}: mqtt needs a publish hook")
            sender = MqttSender(ch.id, annunciator_topic, publish, ch.qos)
        else:
            url = ch.url or secret(environ, ch.url_env, ch.id)
            assert url is not None
            if isinstance(ch, WebhookChannel):
                sender = WebhookSender(ch.id, url, ch.timeout,
                                       secret(environ, ch.token_env, ch.id), transport)
            elif isinstance(ch, WeComChannel):
                sender = WeComSender(ch.id, url, ch.timeout, ch.format, transport)
            elif isinstance(ch, DingTalkChannel):
                sender = DingTalkSender(ch.id, url, ch.timeout,
                                        secret(environ, ch.secret_env, ch.id), clock_ms,
                                        transport)
            else:  # pragma: no cover - the union is exhaustive
                raise TypeError(ch)
        out[ch.id] = sender
    return out
