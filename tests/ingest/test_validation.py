"""The ingest core against the site file: each bad reading, event or payload shape gets its
own code, and the good readings of the same batch are kept. Pure: no broker, no store."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.handler import handle
from ingest.validate import Validator
from occmon import payload as wire
from occmon import topics
from occmon.model import iso_utc
from tests.ingest.helpers import SITE, T0, site_config

NOW = T0 + 3_600.0  # the receive time every message below is judged against
READINGS = topics.readings(SITE)


@pytest.fixture(scope="module")
def check(tmp_path_factory: pytest.TempPathFactory) -> Validator:
    return Validator.from_config(site_config(tmp_path_factory.mktemp("site")))


def item(**change: Any) -> dict[str, Any]:
    """One good H2S reading a minute before NOW, with ``change`` applied."""
    doc: dict[str, Any] = {"point": "desulf-h2s-1", "agent": "h2s", "time": iso_utc(NOW - 60),
                           "value": 3.5, "unit": "mg/m3", "quality": "good",
                           "quantity": "concentration"}
    doc.update(change)
    return doc


def batch(*items: dict[str, Any]) -> bytes:
    return json.dumps({"v": 1, "site": SITE, "readings": list(items)}).encode()


BAD_READINGS = [
    ("implausible-value", item(value=-5)),
    ("implausible-value", item(value=1e308)),
    ("unit-mismatch", item(unit="ppm")),
    ("unknown-point", item(point="nowhere-1")),
    ("agent-mismatch", item(agent="nh3")),
    ("quantity-mismatch", item(quantity="laeq", unit="dB(A)", value=70.0)),
    ("too-old", item(time="0001-01-01T00:00:00Z")),
    ("too-old", item(time="1970-01-01T00:00:00Z")),
    ("clock-skew", item(time="3000-01-01T00:00:00Z")),
    ("clock-skew", item(time=iso_utc(NOW + 3_600))),
]


@pytest.mark.parametrize(("code", "doc"), BAD_READINGS)
def test_each_bad_reading_is_a_dead_letter_with_its_code(
    check: Validator, code: str, doc: dict[str, Any]
) -> None:
    message = batch(doc)
    outcome = handle(check, READINGS, message, NOW)
    assert outcome.readings == []
    (letter,) = outcome.dead_letters
    assert (letter.code, letter.payload, letter.topic) == (code, message, READINGS)
    assert letter.message.startswith(f"1 of 1 readings rejected ({code}): readings[0]")
    assert outcome.counts[f"dead-letter:{code}"] == 1


def test_good_readings_of_every_kind_pass(check: Validator) -> None:
    """The site's own shapes: an alias agent (ammonia -> nh3), noise, dose, a bad reading."""
    docs = [
        item(),
        item(point="ammonia-nh3-1", agent="nh3"),
        item(point="ammonia-nh3-1", agent="ammonia"),  # the site file's spelling
        item(point="mill-noise-1", agent="noise", quantity="laeq", unit="dB(A)", value=88.0),
        item(point="mill-noise-1", agent="noise", quantity="lcpeak", unit="dB(C)", value=120.0),
        item(point="ndt-worker-dose", agent="ionising-radiation", quantity="dose_rate",
             unit="uSv/h", value=2.5),
        item(value=None, quality="bad", reason="device-offline"),
        item(time=iso_utc(NOW + 4)),  # within trust.max_future_skew (5 s)
    ]
    outcome = handle(check, READINGS, batch(*docs), NOW)
    assert outcome.dead_letters == []
    assert len(outcome.readings) == len(docs)
    assert outcome.counts["readings"] == len(docs)


def test_a_mixed_batch_keeps_the_good_and_letters_the_bad_once_per_code(
    check: Validator,
) -> None:
    docs = [item(time=iso_utc(NOW - 60 + i)) for i in range(4)]
    docs[1] = item(value=-5)
    docs[3] = item(value=-7)
    docs.append(item(unit="ppm"))
    message = batch(*docs)
    outcome = handle(check, READINGS, message, NOW)
    assert [r.time for r in outcome.readings] == [NOW - 60, NOW - 58]
    letters = {d.code: d for d in outcome.dead_letters}
    assert set(letters) == {"implausible-value", "unit-mismatch"}
    # each letter holds what was not stored: the readings of its code, as they were sent
    assert json.loads(letters["implausible-value"].payload) == {
        "v": 1, "site": SITE, "readings": [docs[1], docs[3]]}
    assert json.loads(letters["unit-mismatch"].payload) == {
        "v": 1, "site": SITE, "readings": [docs[4]]}
    assert message not in {d.payload for d in letters.values()}
    bad = letters["implausible-value"].message
    assert bad.startswith("2 of 5 readings rejected") and "readings[1]" in bad
    assert "readings[3]" in bad
    assert outcome.counts["rejected-readings:implausible-value"] == 2
    assert outcome.counts["readings"] == 2


def test_a_malformed_reading_costs_only_itself(check: Validator) -> None:
    outcome = handle(check, READINGS, batch(item(value="high"), item()), NOW)
    assert len(outcome.readings) == 1
    (letter,) = outcome.dead_letters
    assert letter.code == "wrong-type"
    assert json.loads(letter.payload)["readings"] == [item(value="high")]


def test_a_message_rejected_whole_for_one_reason_is_kept_verbatim(check: Validator) -> None:
    message = batch(item(value=-1), item(value=-2))
    (letter,) = handle(check, READINGS, message, NOW).dead_letters
    assert (letter.code, letter.payload) == ("implausible-value", message)
    mixed = batch(item(value=-1), item(unit="ppm"))  # two reasons: a batch for each
    letters = {d.code: d for d in handle(check, READINGS, mixed, NOW).dead_letters}
    assert json.loads(letters["unit-mismatch"].payload)["readings"] == [item(unit="ppm")]
    assert json.loads(letters["implausible-value"].payload)["readings"] == [item(value=-1)]


def test_events_states_and_statuses_get_the_time_window(check: Validator) -> None:
    def event_at(when: str) -> bytes:
        return json.dumps({"v": 1, "site": SITE, "time": when, "level": "alarm"}).encode()

    cases = [
        (topics.events(SITE, "alarm"), event_at("3000-01-01T00:00:00Z"), "clock-skew"),
        (topics.events(SITE, "alarm"), event_at("1970-01-01T00:00:00Z"), "too-old"),
        (f"occmon/v1/{SITE}/state/desulf-h2s-1", event_at(iso_utc(NOW + 3_600)), "clock-skew"),
        (topics.device_status(SITE, "gas-panel-1"),
         json.dumps({"online": True, "time": "3000-01-01T00:00:00Z"}).encode(), "clock-skew"),
    ]
    for topic, body, code in cases:
        outcome = handle(check, topic, body, NOW)
        assert [d.code for d in outcome.dead_letters] == [code], topic
        assert not outcome.events and not outcome.states
    fine = handle(check, topics.events(SITE, "alarm"), event_at(iso_utc(NOW - 1)), NOW)
    assert [e.time for e in fine.events] == [NOW - 1]


def nested(depth: int) -> bytes:
    return b'{"v":1,"site":"demo-plant","readings":' + b"[" * depth + b"]" * depth + b"}"


def test_deep_nesting_is_refused_before_the_parser_recurses(check: Validator) -> None:
    poison = nested(100_000)
    assert 190_000 < len(poison) < 210_000
    outcome = handle(check, READINGS, poison, NOW)
    assert [d.code for d in outcome.dead_letters] == ["too-deep"]
    # the limit is exact: the object is one level, so MAX_DEPTH - 1 arrays still parse
    at_limit = handle(check, READINGS, nested(wire.MAX_DEPTH - 1), NOW)
    assert [d.code for d in at_limit.dead_letters] == ["wrong-type"]  # parsed, then judged
    over = handle(check, READINGS, nested(wire.MAX_DEPTH), NOW)
    assert [d.code for d in over.dead_letters] == ["too-deep"]


def test_brackets_inside_strings_neither_hide_nor_fake_depth() -> None:
    limit = 4
    fake = json.dumps({"reason": "[[[[[[[[[[{{{{{{{{"}).encode()
    assert not wire.nesting_depth_over(fake, limit)
    # real nesting 6, with "]" in strings that would cancel each "[" if strings counted
    hidden = ('["]",' * 5 + '["]"' + "]" * 6).encode()
    assert json.loads(hidden)  # valid JSON, 6 deep
    assert wire.nesting_depth_over(hidden, limit)
    escaped = ('["\\"]",' * 5 + '["\\"]"' + "]" * 6).encode()  # strings holding an escaped quote
    assert json.loads(escaped)
    assert wire.nesting_depth_over(escaped, limit)
    assert not wire.nesting_depth_over(escaped, 6)
    unclosed = b"[" * 10  # never balanced: still judged by its openers
    assert wire.nesting_depth_over(unclosed, limit)


def test_a_too_large_payload_is_refused_unparsed(check: Validator) -> None:
    huge = batch(item(reason="x" * wire.MAX_PAYLOAD_BYTES))
    outcome = handle(check, READINGS, huge, NOW)
    assert [d.code for d in outcome.dead_letters] == ["too-large"]
    assert str(len(huge)) in outcome.dead_letters[0].message


def test_the_largest_gateway_batch_fits_the_size_limit(check: Validator) -> None:
    """gateway.publish_batch allows 10,000 readings a message: they must not be too-large."""
    docs = [item(time=iso_utc(NOW - 20_000 + i), sensor="gp1-h2s", device="gas-panel-1",
                 raw={"value": 2.5, "unit": "ppm"}) for i in range(10_000)]
    message = batch(*docs)
    assert len(message) <= wire.MAX_PAYLOAD_BYTES
    assert len(handle(check, READINGS, message, NOW).readings) == 10_000


def test_the_validator_is_built_from_the_site_file(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    check = Validator.from_config(config)
    assert set(check.points) == {p.id for p in config.points}
    assert check.points["ammonia-nh3-1"].agent == "nh3"
    assert check.points["ndt-worker-dose"].units == {"hp10": "uSv", "dose_rate": "uSv/h"}
    assert check.trust == config.trust


def test_the_depth_scan_stays_linear_on_hostile_strings(check: Validator) -> None:
    """An unterminated string of escaped quotes once made the string regex retry from every
    quote: quadratic, 17 s for 80 KB. The largest allowed payload must take well under 5 s."""
    hostile = b"[" * 20 + b'"' + b'\\"' * ((wire.MAX_PAYLOAD_BYTES - 21) // 2)
    assert len(hostile) <= wire.MAX_PAYLOAD_BYTES
    began = time.perf_counter()
    outcome = handle(check, READINGS, hostile, NOW)
    assert time.perf_counter() - began < 5
    assert [d.code for d in outcome.dead_letters] == ["too-deep"]  # 20 real openers


HOSTILE = [  # each once raised past the core (OverflowError, ValueError) instead of a code
    ("malformed-json", b'{"v":' + b"1" * 5_000 + b"}"),  # over Python's int-digit limit
    ("not-a-number", batch(item(value=10**400))),  # an int too large for a float
    ("not-a-number", batch(item(raw={"value": 10**400, "unit": "ppm"}))),
    ("wrong-type", batch(item(sensor={"id": "gp1-h2s"}))),
]


@pytest.mark.parametrize(("code", "message"), HOSTILE)
def test_hostile_numbers_get_a_code(check: Validator, code: str, message: bytes) -> None:
    outcome = handle(check, READINGS, message, NOW)
    assert [d.code for d in outcome.dead_letters] == [code]
    assert outcome.readings == []


def test_an_event_time_too_large_for_a_float_is_a_bad_time(check: Validator) -> None:
    body = b'{"v":1,"time":' + b"9" * 400 + b"}"
    outcome = handle(check, topics.events(SITE, "alarm"), body, NOW)
    assert [d.code for d in outcome.dead_letters] == ["bad-time"]


def test_a_large_rejected_batch_is_lettered_in_parts_the_size_cap_keeps_whole(
    check: Validator, tmp_path: Path
) -> None:
    """200 readings from a gateway whose clock runs ahead: every one can be republished."""
    from ingest.handler import LETTER_READINGS
    from ingest.reader import StoreReader
    from ingest.store import SqliteStore

    docs = [item(time=iso_utc(NOW + 60 + i), sensor="gp1-h2s", device="gas-panel-1",
                 raw={"value": 2.5, "unit": "ppm"}) for i in range(200)]
    message = batch(*docs)
    outcome = handle(check, READINGS, message, NOW)
    assert outcome.readings == []
    assert len(outcome.dead_letters) == 200 // LETTER_READINGS
    store = SqliteStore(tmp_path / "occmon.db")  # the default 16 KiB cap
    store.write_dead_letters(outcome.dead_letters)
    store.close()
    with StoreReader(tmp_path / "occmon.db") as reader:
        kept = [json.loads(d.payload)["readings"] for d in reader.dead_letters(limit=100)]
    assert sorted((r for part in kept for r in part), key=lambda r: r["time"]) == docs
    assert len(message) > 16_384  # the message itself would have been cut
