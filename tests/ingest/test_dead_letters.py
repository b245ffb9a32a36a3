"""Dead letters in the real SQLite store: payloads cut to size, old and surplus rows deleted,
and no letter the store could refuse (a refused dead letter would stall ingest)."""

from __future__ import annotations

import time
from pathlib import Path

from ingest.reader import StoreReader
from ingest.records import DeadLetter
from ingest.store import SqliteStore
from occmon.config.dead_letters import DeadLetterSettings

DAY = 86_400.0


def letter(i: int, received: float, payload: bytes = b"{}", message: str = "bad") -> DeadLetter:
    return DeadLetter(received, f"occmon/v1/demo-plant/readings/{i}", "malformed-json", message,
                      payload, site="demo-plant")


def test_a_large_payload_is_cut_and_the_letter_says_so(tmp_path: Path) -> None:
    settings = DeadLetterSettings(max_payload_bytes=1_000)
    store = SqliteStore(tmp_path / "occmon.db", dead_letters=settings)
    big = bytes(range(256)) * 40  # 10,240 bytes
    store.write_dead_letters([letter(0, time.time(), big), letter(1, time.time(), b"small")])
    store.close()
    with StoreReader(tmp_path / "occmon.db") as reader:
        cut, small = sorted(reader.dead_letters(), key=lambda d: d.topic)
    assert cut.payload == big[:1_000]
    assert cut.message == "bad [payload cut: first 1000 of 10240 bytes kept]"
    assert (small.payload, small.message) == (b"small", "bad")


def test_text_the_database_cannot_encode_is_escaped_not_refused(tmp_path: Path) -> None:
    """A JSON escape can carry a lone surrogate into a message; SQLite refuses to encode it."""
    store = SqliteStore(tmp_path / "occmon.db")
    text = "bad \ud800 text" + "x" * 10_000  # 4 + 1 + 5 + 10,000 = 10,010 characters
    store.write_dead_letters([letter(0, time.time(), message=text)])
    store.close()
    with StoreReader(tmp_path / "occmon.db") as reader:
        (stored,) = reader.dead_letters()
    assert stored.message.startswith("bad \\ud800 text")
    assert len(stored.message) < 4_200 and stored.message.endswith("(10010 characters)")


def test_rows_past_the_cap_go_oldest_first_and_are_counted(tmp_path: Path) -> None:
    settings = DeadLetterSettings(max_rows=100)
    store = SqliteStore(tmp_path / "occmon.db", dead_letters=settings)
    now = time.time()
    for start in range(0, 150, 50):
        store.write_dead_letters([letter(i, now, payload=str(i).encode())
                                  for i in range(start, start + 50)])
    store.close()
    with StoreReader(tmp_path / "occmon.db") as reader:
        kept = sorted(int(d.payload) for d in reader.dead_letters(limit=1_000))
        deleted = reader.counters()["dead-letters-deleted"]
    assert kept == list(range(50, 150))  # 150 written, the newest 100 kept
    assert deleted == 50


def test_letters_older_than_the_retention_are_deleted_when_the_store_opens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "occmon.db"
    now = time.time()
    store = SqliteStore(path)
    ages = [1.0, 29.0, 31.0, 400.0]  # days
    store.write_dead_letters([letter(i, now - age * DAY) for i, age in enumerate(ages)])
    store.close()
    with StoreReader(path) as reader:
        assert len(reader.dead_letters()) == 4  # the age check ran at open, before these

    SqliteStore(path, dead_letters=DeadLetterSettings(max_age_days=30)).close()
    with StoreReader(path) as reader:
        left = sorted(d.topic for d in reader.dead_letters())
        deleted = reader.counters()["dead-letters-deleted"]
    assert left == ["occmon/v1/demo-plant/readings/0", "occmon/v1/demo-plant/readings/1"]
    assert deleted == 2  # the 31- and the 400-day letter
