"""Bad messages through the real broker: each becomes one dead letter with its own code."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ingest.handler import handle
from ingest.reader import StoreReader
from ingest.subscriber import Ingest
from ingest.validate import Validator
from occmon import topics
from occmon.config.schema import SiteConfig
from occmon.payload import encode_batch
from tests.ingest.helpers import SITE, T0, Publisher, reading, site_config
from tests.servers import wait_for

pytestmark = pytest.mark.server

H2S = topics.readings(SITE, "desulf-h2s-1")
GOOD = (
    '{"point":"desulf-h2s-1","agent":"h2s","time":"2026-05-28T00:00:00Z",'
    '"unit":"mg/m3","quality":"good",'
)

BAD = [
    ("malformed-json", H2S, b'{"v":1,"site":"demo-plant","readings":['),
    ("wrong-type", H2S, f'{{"v":1,"site":"{SITE}","readings":[{GOOD}"value":"high"}}]}}'.encode()),
    ("not-a-number", H2S, f'{{"v":1,"site":"{SITE}","readings":[{GOOD}"value":NaN}}]}}'.encode()),
    ("unknown-topic", f"occmon/v1/{SITE}/bogus/x", encode_batch(SITE, [reading("p", 0)])),
    ("bad-version", H2S, f'{{"v":2,"site":"{SITE}","readings":[{GOOD}"value":1}}]}}'.encode()),
    ("empty-batch", H2S, f'{{"v":1,"site":"{SITE}","readings":[]}}'.encode()),
    ("site-mismatch", H2S, encode_batch("other-plant", [reading("desulf-h2s-1", 0)])),
    ("point-mismatch", H2S, encode_batch(SITE, [reading("ammonia-nh3-1", 0)])),
    ("bad-time", H2S, f'{{"v":1,"site":"{SITE}","readings":[{GOOD[:-1]}}}]}}'.encode().replace(
        b"2026-05-28T00:00:00Z", b"2026-05-28 00:00"
    )),
    ("missing-field", H2S, f'{{"v":1,"site":"{SITE}"}}'.encode()),
    ("bad-status", topics.device_status(SITE, "gas-panel-1"), b'{"online":"yes"}'),
]


def test_the_payloads_are_what_their_codes_say(tmp_path: Path) -> None:
    """Guard the table itself: each bad payload fails for the reason its row names."""
    check = Validator.from_config(site_config(tmp_path))
    for code, topic, payload in BAD:
        outcome = handle(check, topic, payload, T0)
        assert [d.code for d in outcome.dead_letters] == [code], (code, payload)
        assert not outcome.readings


def test_each_bad_message_is_dead_lettered_and_the_next_good_one_stored(
    config: SiteConfig, ingest: Ingest, publisher: Publisher
) -> None:
    for _, topic, payload in BAD:
        publisher.publish(topic, payload)
    good = [reading("desulf-h2s-1", i) for i in range(3)]
    publisher.publish(H2S, encode_batch(SITE, good))

    def letters() -> list[tuple[str, str, bytes]]:
        with StoreReader(config.store.path) as reader:
            return [(d.code, d.topic, d.payload) for d in reader.dead_letters(limit=100)]

    stored = wait_for(lambda: len(letters()) == len(BAD) and letters(), what="dead letters")
    assert sorted(stored) == sorted(BAD)  # code, topic and the raw payload, byte for byte
    wait_for(lambda: ingest.counters().get("readings") == 3, what="the good batch")
    with StoreReader(config.store.path) as reader:
        assert reader.count_readings() == 3
        counts = reader.dead_letter_counts()
        persisted = reader.counters()
        (one,) = reader.dead_letters(code="not-a-number")
    assert counts == {code: 1 for code, _, _ in BAD}
    assert {k: v for k, v in persisted.items() if k.startswith("dead-letter:")} == {
        f"dead-letter:{code}": 1 for code, _, _ in BAD
    }
    assert "NaN" in one.message
    live = ingest.counters()
    assert all(live[f"dead-letter:{code}"] == 1 for code, _, _ in BAD)


def test_gateway_dead_letters_are_stored_with_their_reason(
    config: SiteConfig, ingest: Ingest, publisher: Publisher
) -> None:
    raw = b"\x00\xffnot json from a wireless sensor"
    forwarded = {
        "v": 1,
        "site": SITE,
        "source": "mqtt:wgas-1",
        "topic": "vendor/wgas/wgas-1/data",
        "reason": "unparseable",
        "message": "payload is not JSON",
        "payload_b64": base64.b64encode(raw).decode(),
        "time": "2026-05-28T00:00:00Z",
    }
    publisher.publish(topics.events(SITE, "dead-letter"), json.dumps(forwarded).encode())
    publisher.publish(topics.events(SITE, "dead-letter"), b"{not json")

    def letters() -> list[tuple[str, str, str, bytes]]:
        with StoreReader(config.store.path) as reader:
            return [(d.source, d.topic, d.code, d.payload) for d in reader.dead_letters()]

    found = wait_for(lambda: len(letters()) == 2 and letters(), what="two dead letters")
    assert ("mqtt:wgas-1", "vendor/wgas/wgas-1/data", "unparseable", raw) in found
    assert ("ingest", topics.events(SITE, "dead-letter"), "malformed-json", b"{not json") in found
