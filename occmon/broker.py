"""The embedded MQTT broker (amqtt, in-process) for a one-box plant with no broker configured.

Production sites point ``broker:`` at Mosquitto or a cluster; the embedded broker exists so
``make run`` needs nothing installed. It keeps sessions in memory only, so a restart of the
process loses what the broker held in flight; the gateway's on-disk queue covers that.

It enforces the same least-privilege rules as the Mosquitto ACL (occmon/brokeracl.py): every
in-process client logs in with its role's account and a random password made for this run
(``EmbeddedBroker.clients``), anonymous clients are refused, and amqtt's topic plugin hook
checks every publish, subscribe and delivery against the account's rules. So on the embedded
broker too, commands come only from the API's client and alarm events only from the
gateway's. Three checks amqtt 0.12 does not make are made here: a will message is checked
at CONNECT (amqtt sends wills without asking the topic plugins); a client id that one
account used cannot be taken over by another account during the run; and retained messages
go only to a client subscribed to them and allowed to read them (amqtt replays them without
the topic plugins, and on every connect for every filter that any client subscribed).

A control-room annunciator panel outside occmon gets the read-only ``occmon-annunciator``
account when ``$OCCMON_MQTT_PASSWORD_ANNUNCIATOR`` is set: its password comes from that
variable, not from the run (a panel is configured once), and no occmon client uses it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from occmon.brokeracl import Grant, covers, grants, matches, passwords
from occmon.config.mqttauth import Account, MissingPassword, MqttAccounts, default_env
from occmon.config.schema import Broker as BrokerSettings
from occmon.config.schema import Embedded, SiteConfig

_QUIET = ("amqtt", "transitions")
log = logging.getLogger("occmon.broker")

Rules = dict[str, list[str]]  # username -> topic filters


@dataclass(frozen=True)
class AccountRules:
    """What each account may do, in the form the amqtt plugins take (plain dicts)."""

    passwords: dict[str, str]
    publish: Rules
    subscribe: Rules

    @classmethod
    def of(cls, grant_list: list[Grant], passwords: dict[str, str]) -> AccountRules:
        publish = {g.username: [r.topic for r in g.rules if r.access == "write"]
                   for g in grant_list}
        subscribe = {g.username: [r.topic for r in g.rules if r.access == "read"]
                     for g in grant_list}
        return cls(passwords, publish, subscribe)


class AccountAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt is untyped
    """Password check (constant time) against this run's accounts; no anonymous login."""

    @dataclass
    class Config:
        passwords: dict[str, str] = field(default_factory=dict)
        publish: dict[str, list[str]] = field(default_factory=dict)

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._owner: dict[str, str] = {}  # client id -> the account that used it first

    async def authenticate(self, *, session: Session) -> bool | None:
        config: AccountAuthPlugin.Config = self.config
        user, given = session.username, session.password
        expected = config.passwords.get(user or "")
        if user is None or expected is None or given is None or not hmac.compare_digest(
                expected.encode(), given.encode()):
            log.warning("embedded broker: refused login of %r (client %s)", user,
                        session.client_id)
            return False
        if session.will_flag and not any(
                matches(session.will_topic or "", t) for t in config.publish.get(user, [])):
            log.warning("embedded broker: refused %r: will topic %r not permitted", user,
                        session.will_topic)
            return False
        owner = self._owner.setdefault(session.client_id or "", user)
        if owner != user:
            log.warning("embedded broker: refused %r: client id %r belongs to %r", user,
                        session.client_id, owner)
            return False
        return True


class TopicRulesPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Publish, subscribe and delivery checks against the account's topic filters."""

    @dataclass
    class Config:
        publish: dict[str, list[str]] = field(default_factory=dict)
        subscribe: dict[str, list[str]] = field(default_factory=dict)

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool | None:
        config: TopicRulesPlugin.Config = self.config
        user = session.username if session else None
        if user is None or not topic:
            return False
        if action == Action.PUBLISH:
            allowed = any(matches(topic, t) for t in config.publish.get(user, []))
        elif action == Action.SUBSCRIBE:
            allowed = any(covers(t, topic) for t in config.subscribe.get(user, []))
        else:  # RECEIVE: a message on its way to a subscriber
            allowed = any(matches(topic, t) for t in config.subscribe.get(user, []))
        if not allowed:
            log.info("embedded broker: %s of %r by %r denied", action, topic, user)
        return allowed


class _Snapshots(dict[str, list[tuple[Session, int]]]):
    """amqtt's subscription table, walked over a copy.

    amqtt's broadcast walks this table and awaits the topic-rules check at each matching
    filter; a SUBSCRIBE handled meanwhile added a key, the walk died with "dictionary
    changed size during iteration" and the message never reached the subscribers left.
    """

    def items(self) -> Any:
        return list(super().items())


class _Writer(StreamWriterAdapter):  # type: ignore[misc]  # amqtt is untyped
    """amqtt's stream writer, dropping what is written after the peer has gone.

    A delivery to a client whose connection just closed (a component stopping while the
    broker still broadcasts) is dropped by asyncio's transport; uvloop's raises
    ``RuntimeError``, which amqtt logs as a failed task with its traceback on every stop of
    ``occmon run``. The session's QoS 1 state is amqtt's either way."""

    def write(self, data: bytes) -> None:
        if not self._writer.transport.is_closing():
            super().write(data)


class GuardedBroker(Broker):  # type: ignore[misc]  # amqtt is untyped
    """amqtt's broker with retained messages checked like every other delivery, a
    subscription table that a broadcast may walk while clients subscribe, and writes to a
    connection already closing dropped on any event loop (``_Writer``)."""

    _subscriptions: dict[str, list[tuple[Session, int]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscriptions = _Snapshots(self._subscriptions)

    async def stream_connected(self, reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter, listener_name: str) -> None:
        await self._client_connected(listener_name, StreamReaderAdapter(reader),
                                     _Writer(writer))

    async def _publish_retained_messages_for_subscription(
            self, subscription: tuple[str, int], session: Session) -> None:
        topic_filter, qos = subscription
        if not any(s is session for s, _q in self._subscriptions.get(topic_filter, [])):
            return  # another client's filter, replayed by amqtt on connect: not ours
        handler = self._get_handler(session)
        if handler is None:
            return
        tasks = []
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._topic_filtering(
                    session, topic=topic, action=Action.RECEIVE):
                tasks.append(asyncio.ensure_future(handler.mqtt_publish(
                    retained.topic, retained.data, min(qos, retained.qos or qos), retain=True)))
        if tasks:
            await asyncio.wait(tasks)


def broker_config(host: str, port: int, rules: AccountRules) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            "occmon.broker.AccountAuthPlugin": {"passwords": rules.passwords,
                                                "publish": rules.publish},
            "occmon.broker.TopicRulesPlugin": {"publish": rules.publish,
                                               "subscribe": rules.subscribe},
        },
    }


def annunciator_panel(config: SiteConfig,
                      environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The panel's username -> password (empty: no account) and the line that says so.

    Devices' and roles' passwords are made per run and handed to the in-process clients; a
    panel outside the process cannot be handed one, so its password is its variable's.
    """
    cred = MqttAccounts().reader("annunciator", configured=False)
    assert cred is not None  # configured=False always gives the default account
    topic = f"occmon/v1/{config.site.id}/annunciator"
    if not environ.get(cred.password_env):
        return {}, (f"embedded broker: no annunciator panel account; to let a panel read "
                    f"{topic}, set ${cred.password_env} (12+ random characters) and log "
                    f"the panel in as {cred.username!r}")
    try:
        secret = passwords(MqttAccounts(), [Grant(cred, ())], environ)
    except MissingPassword as exc:  # too short or change-me: no account rather than a weak one
        return {}, f"embedded broker: no annunciator panel account: {exc}"
    return secret, (f"embedded broker: annunciator panel account {cred.username!r} (password "
                    f"from ${cred.password_env}) may read {topic} and the heartbeats")


class EmbeddedBroker:
    """Start and stop an amqtt broker inside the running asyncio loop, with the site's
    accounts (``broker.accounts`` defaults) and random passwords made for this run."""

    def __init__(self, settings: Embedded, config: SiteConfig,
                 environ: Mapping[str, str] | None = None) -> None:
        self.host = settings.host
        self.port = settings.port
        self.accounts = MqttAccounts()
        self._passwords = {g.username: secrets.token_urlsafe(24)
                           for g in grants(config, self.accounts)}
        env = os.environ if environ is None else environ
        panel, self.panel_note = annunciator_panel(config, env)
        self.panel = bool(panel)
        # a variable set but refused (weak) is a misconfiguration; unset is a choice, which
        # ``occmon run`` shows in its banner rather than as a warning on every demo start
        self._panel_weak = not panel and bool(env.get(default_env("annunciator")))
        self._all_passwords = {**self._passwords, **panel}  # the panel's: only in the rules
        self.grants = grants(config, MqttAccounts(annunciator=Account()) if panel
                             else self.accounts)
        self._broker: GuardedBroker | None = None

    def clients(self, config: SiteConfig) -> SiteConfig:
        """``config`` as the in-process clients must see it: this broker, with the per-run
        password of each role and device (``Broker.login``)."""
        broker = BrokerSettings(host=self.host, port=self.port,
                                accounts=self.accounts.with_passwords(self._passwords))
        return config.model_copy(update={"broker": broker})

    async def start(self) -> None:
        for name in _QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)
        log.log(logging.WARNING if self._panel_weak else logging.INFO, "%s", self.panel_note)
        rules = AccountRules.of(self.grants, self._all_passwords)
        self._broker = GuardedBroker(broker_config(self.host, self.port, rules))
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
