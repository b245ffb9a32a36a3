"""The read-only account of a control-room annunciator panel (``broker.accounts.annunciator``),
on a real Mosquitto with the generated passwd + ACL and on the embedded broker.

The panel must get every alarm push and the gateway and ingest heartbeats, and nothing else;
whatever it publishes (a forged push, a command) must reach no subscriber. Refused publishes
are judged by the watchers of test_least_privilege.py (ingest reads the whole site, the
gateway reads commands): a sentinel published after the attempt must arrive first.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from occmon import brokeracl
from occmon.broker import EmbeddedBroker
from occmon.config.mqttauth import MqttAccounts
from occmon.config.schema import Embedded
from tests.broker.support import Client, R, SecuredBroker, demo_config
from tests.broker.test_least_privilege import API, GATEWAY, INGEST, Watchers
from tests.servers import free_port

pytestmark = pytest.mark.server

PANEL = "occmon-annunciator"
PANEL_ENV = "OCCMON_MQTT_PASSWORD_ANNUNCIATOR"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def watchers(secured: SecuredBroker) -> Iterator[Watchers]:
    w = Watchers(secured)
    yield w
    w.close()


def test_the_panel_reads_pushes_and_heartbeats(secured: SecuredBroker) -> None:
    panel = Client(secured.port, secured.login(PANEL))
    try:
        assert panel.connected, panel.refused
        for topic in (f"{R}/annunciator", f"{R}/status/gateway", f"{R}/status/ingest"):
            assert panel.subscribe(topic) == [1], (secured.kind, topic)
        push, beat_i, beat_g = (f"{kind} {uuid.uuid4().hex}".encode()
                                for kind in ("push", "ingest beat", "gateway beat"))
        ingest = Client(secured.port, secured.login(INGEST))
        ingest.publish(f"{R}/annunciator", push)
        ingest.publish(f"{R}/status/ingest", beat_i, retain=True)
        ingest.close()
        gateway = Client(secured.port, secured.login(GATEWAY))
        gateway.publish(f"{R}/status/gateway", beat_g, retain=True)
        gateway.close()
        for payload in (push, beat_i, beat_g):
            panel.wait_for(payload)
    finally:
        panel.close()
    # a panel started later still learns at once whether monitoring is up (retained beats)
    late = Client(secured.port, secured.login(PANEL))
    try:
        late.subscribe(f"{R}/status/ingest")
        late.wait_for(beat_i)
    finally:
        late.close()


@pytest.mark.parametrize(("topic", "retain"), [
    (f"{R}/annunciator", False),  # a forged alarm push (or a false all-clear)
    (f"{R}/commands/request", False),
    (f"{R}/readings", False),
    (f"{R}/events/alarm", False),
    (f"{R}/status/gateway", True),  # a forged "gateway online"
    (f"{R}/status/ingest", True),
    (f"{R}/status/annunciator", True),
])
def test_the_panel_publishes_nothing(secured: SecuredBroker, watchers: Watchers, topic: str,
                                     retain: bool) -> None:
    payload = f"panel -> {topic} {uuid.uuid4().hex}".encode()
    panel = Client(secured.port, secured.login(PANEL))
    # a second panel subscribed to what it may read: a forged push must not reach it either
    reader = Client(secured.port, secured.login(PANEL))
    try:
        assert panel.connected, panel.refused
        reader.subscribe(topic)
        panel.publish(topic, payload, retain=retain)
        watchers.settle()
        control = f"control {uuid.uuid4().hex}".encode()  # ingest's push reaches the reader
        ingest = Client(secured.port, secured.login(INGEST))
        ingest.publish(f"{R}/annunciator", control)
        ingest.close()
        watchers.ingest.wait_for(control)
        if topic == f"{R}/annunciator":
            reader.wait_for(control)
    finally:
        panel.close()
        reader.close()
    assert not watchers.saw(payload), f"{secured.kind}: the panel's publish on {topic} got out"
    assert not reader.saw(payload), f"{secured.kind}: the panel's publish reached a panel"


def test_wide_subscriptions_bring_the_panel_nothing_else(
        secured: SecuredBroker, watchers: Watchers) -> None:
    """Mosquitto grants ``{R}/#`` and filters each message by the read rules; amqtt refuses
    the filter. Either way readings, commands and alarm events never reach the panel."""
    panel = Client(secured.port, secured.login(PANEL))
    try:
        for topic in (f"{R}/#", f"{R}/readings", f"{R}/commands/request", f"{R}/events/#",
                      "#"):
            codes = panel.subscribe(topic)
            assert codes in ([1], [128]), codes
            if secured.kind == "embedded":
                assert codes == [128], topic
        reading, command, event, push = (f"{kind} {uuid.uuid4().hex}".encode()
                                          for kind in ("reading", "command", "event", "push"))
        for account, topic, payload in ((GATEWAY, f"{R}/readings", reading),
                                        (API, f"{R}/commands/request", command),
                                        (GATEWAY, f"{R}/events/alarm", event),
                                        (INGEST, f"{R}/annunciator", push)):
            sender = Client(secured.port, secured.login(account))
            sender.publish(topic, payload)
            sender.close()
        watchers.settle()
        assert watchers.ingest.saw(reading) and watchers.gateway.saw(command)  # controls
        assert watchers.ingest.saw(event) and watchers.ingest.saw(push)
        if secured.kind == "mosquitto":  # granted {R}/#, filtered: the push alone comes
            panel.wait_for(push)
        got = set(panel.payloads())
        assert not got & {reading, command, event}, f"{secured.kind}: the panel read {got}"
    finally:
        panel.close()


def test_wrong_password_and_a_will_are_refused(
        secured: SecuredBroker, watchers: Watchers) -> None:
    wrong = Client(secured.port, (PANEL, secured.passwords[PANEL] + "x"))
    ingests = Client(secured.port, (PANEL, secured.passwords[INGEST]))
    try:
        assert wrong.refused is not None and ingests.refused is not None, secured.kind
    finally:
        wrong.close()
        ingests.close()
    payload = f"panel will {uuid.uuid4().hex}".encode()
    willing = Client(secured.port, secured.login(PANEL), will=(f"{R}/annunciator", payload))
    if willing.connected:  # Mosquitto accepts the CONNECT and drops the will; amqtt refuses
        willing.vanish()
    watchers.settle()
    assert not watchers.saw(payload), f"{secured.kind}: the panel's will was published"
    willing.close()


def test_the_panel_account_is_not_a_role() -> None:
    accounts = MqttAccounts(annunciator={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an occmon role"):
        accounts.role("annunciator")  # type: ignore[arg-type]
    assert PANEL not in {c.username for c in accounts.roles()}
    assert [c.username for c in accounts.readers()] == [PANEL]
    assert MqttAccounts().readers() == []  # optional: no account unless configured


def test_the_docs_table_names_the_panels_rules() -> None:
    text = (ROOT / "docs" / "topics.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| annunciator panel"))
    _who, publish, read = (cell.strip() for cell in row.strip("|").split("|"))
    assert publish == "nothing"
    documented = set(re.findall(r"`\{R\}(/[^`]*)`", read))
    assert documented == {t.removeprefix("~") for a, t in brokeracl.ROLE_RULES["annunciator"]
                          if a == "read"}
    assert not [t for a, t in brokeracl.ROLE_RULES["annunciator"] if a == "write"]


@pytest.fixture()
def embedded_run(tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, int]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop, free_port()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.mark.parametrize("password", [None, "short", "a-panel-password-from-env"])
def test_occmon_runs_embedded_broker_takes_the_panel_password_from_its_variable(
        tmp_path: Path, embedded_run: tuple[asyncio.AbstractEventLoop, int],
        caplog: pytest.LogCaptureFixture, password: str | None) -> None:
    """Roles get per-run passwords; the panel's comes from $OCCMON_MQTT_PASSWORD_ANNUNCIATOR,
    and without it (or with a weak one) there is no panel account, said in one line."""
    loop, port = embedded_run
    config = demo_config(tmp_path, port)
    environ = {} if password is None else {PANEL_ENV: password}
    broker = EmbeddedBroker(Embedded(host="127.0.0.1", port=port), config, environ)
    clients = broker.clients(config)
    assert clients.broker is not None and clients.broker.accounts is not None
    assert clients.broker.accounts.readers() == []  # no occmon client gets the panel's login
    user, secret = clients.broker.login("ingest")
    assert user is not None and secret is not None
    with caplog.at_level(logging.INFO, logger="occmon.broker"):
        asyncio.run_coroutine_threadsafe(broker.start(), loop).result(10)
    try:
        said = [r for r in caplog.records if "annunciator panel" in r.getMessage()]
        notes = [r.getMessage() for r in said]
        assert len(notes) == 1, notes
        # unset is a choice (INFO; `occmon run` shows it in its banner), weak a misconfiguration
        assert said[0].levelno == (logging.INFO if password in (None, "a-panel-password-from-env")
                                   else logging.WARNING), (password, said[0].levelname)
        panel = Client(port, (PANEL, password or "a-panel-password-from-env"))
        try:
            if password != "a-panel-password-from-env":
                assert panel.refused is not None
                assert PANEL_ENV in notes[0] and "no annunciator panel account" in notes[0]
                return
            assert panel.connected, panel.refused
            assert panel.subscribe(f"{R}/annunciator") == [1]
            assert panel.subscribe(f"{R}/readings") == [128]
            push, forged, later = (f"{kind} {uuid.uuid4().hex}".encode()
                                   for kind in ("push", "forged", "later"))
            ingest = Client(port, (user, secret))
            try:
                ingest.publish(f"{R}/annunciator", push)
                panel.wait_for(push)
                panel.publish(f"{R}/annunciator", forged)
                ingest.publish(f"{R}/annunciator", later)
                panel.wait_for(later)
                assert not panel.saw(forged)
            finally:
                ingest.close()
        finally:
            panel.close()
    finally:
        asyncio.run_coroutine_threadsafe(broker.stop(), loop).result(10)
