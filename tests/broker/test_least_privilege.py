"""Who may publish what, tried on a real Mosquitto (generated passwd + ACL) and on the
embedded broker with the same rules.

Mosquitto drops an unauthorised MQTT 3.1.1 publish silently (it still sends the PUBACK), so
each case is judged by watchers that must or must not receive it: the ingest account, which
reads every topic of the site, and the gateway account, which reads the vendor devices'
topics. After each attempt both watchers wait for a sentinel published after it; a message
the broker let through would have reached them before the sentinel.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest

from tests.broker.support import Client, R, SecuredBroker

pytestmark = pytest.mark.server

GATEWAY, INGEST, API = "occmon-gateway", "occmon-ingest", "occmon-api"
WGAS, NOISE = "wgas-1", "noise-dosimeter-7"  # noisedos-1's account is renamed in the test
WGAS_TOPIC, NOISE_TOPIC, RAD_TOPIC = ("vendor/wgas/wgas-1/data", "vendor/noisedos/noisedos-1/data",
                                      "vendor/raddos/raddos-1/data")

# (account, topic, retain, may publish)
CASES = [
    # a vendor device: its own topic and nothing else
    (WGAS, WGAS_TOPIC, False, True),
    (NOISE, NOISE_TOPIC, False, True),
    (WGAS, NOISE_TOPIC, False, False),  # another device's topic
    (WGAS, f"{R}/commands/request", False, False),  # an operator command
    (WGAS, f"{R}/readings", False, False),
    (WGAS, f"{R}/readings/desulf-h2s-1", False, False),  # another point's readings
    (WGAS, f"{R}/events/alarm", False, False),
    (WGAS, f"{R}/events/ventilation", False, False),
    (WGAS, f"{R}/state/desulf-h2s-1", True, False),
    (WGAS, f"{R}/status/gateway", True, False),
    (WGAS, f"{R}/status/device/wgas-1", True, False),
    (WGAS, f"{R}/annunciator", False, False),
    (WGAS, "occmon/v1/other-site/commands/request", False, False),
    # the gateway: readings, events, state, its status and command results
    (GATEWAY, f"{R}/readings", False, True),
    (GATEWAY, f"{R}/readings/desulf-h2s-1", False, True),
    (GATEWAY, f"{R}/events/alarm", False, True),
    (GATEWAY, f"{R}/events/audit", False, True),
    (GATEWAY, f"{R}/state/desulf-h2s-1", True, True),
    (GATEWAY, f"{R}/status/gateway", True, True),
    (GATEWAY, f"{R}/commands/result", False, True),
    (GATEWAY, f"{R}/commands/request", False, False),
    (GATEWAY, f"{R}/annunciator", False, True),  # its own system alarms when ingest is down
    (GATEWAY, WGAS_TOPIC, False, False),  # cannot speak for a device
    # ingest: annunciator pushes and its heartbeat
    (INGEST, f"{R}/annunciator", False, True),
    (INGEST, f"{R}/status/ingest", True, True),
    (INGEST, f"{R}/events/alarm", False, False),
    (INGEST, f"{R}/commands/request", False, False),
    (INGEST, f"{R}/readings", False, False),
    # the API: operator commands and its heartbeat
    (API, f"{R}/commands/request", False, True),
    (API, f"{R}/status/api", True, True),
    (API, f"{R}/commands/result", False, False),
    (API, f"{R}/events/alarm", False, False),
    (API, f"{R}/state/desulf-h2s-1", True, False),
]


class Watchers:
    """The ingest and gateway accounts subscribed to all they may read, plus sentinels."""

    def __init__(self, broker: SecuredBroker) -> None:
        self.port = broker.port
        self.broker = broker
        self.ingest = Client(broker.port, broker.login(INGEST))
        assert self.ingest.subscribe(f"{R}/#") == [1]
        self.gateway = Client(broker.port, broker.login(GATEWAY))
        for topic in (WGAS_TOPIC, NOISE_TOPIC, RAD_TOPIC, f"{R}/commands/request"):
            assert self.gateway.subscribe(topic) == [1], topic
        self.sentinel_site = Client(broker.port, broker.login(GATEWAY))
        self.sentinel_vendor = Client(broker.port, broker.login("raddos-1"))
        self._n = itertools.count()

    def settle(self) -> None:
        """Publish a sentinel to each watcher and wait until both arrived."""
        n = next(self._n)
        site, vendor = f"sentinel-site-{n}".encode(), f"sentinel-vendor-{n}".encode()
        self.sentinel_site.publish(f"{R}/events/sentinel", site)
        self.sentinel_vendor.publish(RAD_TOPIC, vendor)
        self.ingest.wait_for(site)
        self.gateway.wait_for(vendor)

    def saw(self, payload: bytes) -> bool:
        return self.ingest.saw(payload) or self.gateway.saw(payload)

    def close(self) -> None:
        for client in (self.ingest, self.gateway, self.sentinel_site, self.sentinel_vendor):
            client.close()


@pytest.fixture(scope="module")
def watchers(secured: SecuredBroker) -> Iterator[Watchers]:
    w = Watchers(secured)
    yield w
    w.close()


@pytest.mark.parametrize(("account", "topic", "retain", "allowed"), CASES)
def test_publish_is_delivered_only_when_the_account_may(
        secured: SecuredBroker, watchers: Watchers, account: str, topic: str, retain: bool,
        allowed: bool) -> None:
    payload = f"{account} -> {topic} {uuid.uuid4().hex}".encode()
    client = Client(secured.port, secured.login(account))
    try:
        assert client.connected, client.refused
        client.publish(topic, payload, retain=retain)
        watchers.settle()
    finally:
        client.close()
    assert watchers.saw(payload) is allowed, (
        f"{secured.kind}: {account} publishing on {topic}: expected "
        f"{'delivery' if allowed else 'no delivery'}")
    if retain and not allowed:  # nothing was kept for a later subscriber either
        late = Client(secured.port, secured.login(INGEST))
        try:
            late.subscribe(topic)
            watchers.settle()
            assert payload not in late.payloads()
        finally:
            late.close()


def test_a_device_reads_nothing_not_even_with_wildcards(
        secured: SecuredBroker, watchers: Watchers) -> None:
    """Mosquitto may grant the SUBACK and filter each message by the read rules; amqtt
    refuses the subscription (128). Either way no command, reading or other device's
    message may reach the device, while the watchers get them (positive control)."""
    device = Client(secured.port, secured.login(WGAS))
    try:
        for topic in (f"{R}/#", f"{R}/commands/request", "#", "+/+/+/+", NOISE_TOPIC):
            codes = device.subscribe(topic)
            assert codes in ([1], [128]), codes
            if secured.kind == "embedded":
                assert codes == [128], topic
        command, reading, noise = (f"{kind} {uuid.uuid4().hex}".encode()
                                   for kind in ("command", "reading", "noise"))
        for account, topic, payload in ((API, f"{R}/commands/request", command),
                                        (GATEWAY, f"{R}/readings", reading),
                                        (NOISE, NOISE_TOPIC, noise)):
            sender = Client(secured.port, secured.login(account))
            sender.publish(topic, payload)
            sender.close()
        watchers.settle()
        assert watchers.gateway.saw(command) and watchers.ingest.saw(reading)
        assert watchers.gateway.saw(noise)
        assert device.payloads() == [], f"{secured.kind}: the device read {device.messages}"
    finally:
        device.close()


def test_a_wildcard_wider_than_the_rules_brings_nothing_more(
        secured: SecuredBroker, watchers: Watchers) -> None:
    """The API reads command results; ``commands/+`` must not hand it the requests too."""
    api = Client(secured.port, secured.login(API))
    try:
        for topic in (f"{R}/commands/+", "occmon/v1/+/commands/result"):
            api.subscribe(topic)
        request = f"request {uuid.uuid4().hex}".encode()
        result = f"result {uuid.uuid4().hex}".encode()
        other = Client(secured.port, secured.login(API))
        other.publish(f"{R}/commands/request", request)
        other.close()
        gateway = Client(secured.port, secured.login(GATEWAY))
        gateway.publish(f"{R}/commands/result", result)
        gateway.close()
        watchers.settle()
        assert watchers.ingest.saw(request) and watchers.ingest.saw(result)
        assert not api.saw(request), secured.kind
        if secured.kind == "mosquitto":  # granted, and filtered per message
            api.wait_for(result)
    finally:
        api.close()


def test_anonymous_and_wrong_passwords_are_refused(secured: SecuredBroker) -> None:
    anonymous = Client(secured.port, None)
    wrong = Client(secured.port, (GATEWAY, secured.passwords[GATEWAY] + "x"))
    other = Client(secured.port, (GATEWAY, secured.passwords[WGAS]))  # a device's password
    unknown = Client(secured.port, ("intruder", "whatever-password"))
    right = Client(secured.port, secured.login(GATEWAY))
    try:
        for client in (anonymous, wrong, other, unknown):
            assert client.refused is not None, f"{secured.kind}: a bad login was accepted"
            assert not client.connected
        assert right.connected, right.refused
    finally:
        for client in (anonymous, wrong, other, unknown, right):
            client.close()


def test_a_device_will_cannot_forge_a_command(
        secured: SecuredBroker, watchers: Watchers) -> None:
    """A will is a publish the broker makes for the client when it vanishes: same rules."""
    payload = f"will {uuid.uuid4().hex}".encode()
    device = Client(secured.port, secured.login(WGAS),
                    will=(f"{R}/commands/request", payload))
    if device.connected:  # a broker may also refuse such a CONNECT outright: safe too
        device.vanish()
    watchers.settle()
    # positive control: a will on the device's own topic, sent after the forged one
    control = f"control will {uuid.uuid4().hex}".encode()
    honest = Client(secured.port, secured.login(NOISE), will=(NOISE_TOPIC, control))
    assert honest.connected, honest.refused
    honest.vanish()
    watchers.gateway.wait_for(control)
    watchers.settle()
    assert not watchers.saw(payload), f"{secured.kind}: a device's will reached the gateway"
    device.close()
    honest.close()


def test_a_device_cannot_take_over_ingests_session(
        secured: SecuredBroker, watchers: Watchers) -> None:
    """Same client id, persistent session: the device must not inherit ingest's reading
    subscription or the messages queued for it."""
    ingest = Client(secured.port, secured.login(INGEST), client_id="ingest-under-test",
                    clean=False)
    assert ingest.subscribe(f"{R}/#") == [1]
    ingest.close()
    queued = f"queued {uuid.uuid4().hex}".encode()
    gateway = Client(secured.port, secured.login(GATEWAY))
    gateway.publish(f"{R}/readings", queued)
    gateway.close()
    thief = Client(secured.port, secured.login(WGAS), client_id="ingest-under-test",
                   clean=False)
    try:
        later = f"later {uuid.uuid4().hex}".encode()
        watchers.sentinel_site.publish(f"{R}/readings", later)
        watchers.settle()
        assert watchers.ingest.saw(later)  # positive control
        assert not thief.saw(queued) and not thief.saw(later), secured.kind
    finally:
        thief.close()
