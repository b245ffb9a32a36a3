"""Dead-letter rows as the store keeps them: bounded in size, in age and in number.

A dead letter is kept so an integrator can fix the sender, not as an archive: each payload
is cut to ``store.dead_letters.max_payload_bytes`` (the message then says how large it
was), text fields are cut and made storable (a lone surrogate from a JSON escape would make
SQLite refuse the row, and a refused dead letter would stall ingest), and rows older than
``max_age_days`` or beyond the newest ``max_rows`` are deleted, counted as
``dead-letters-deleted``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ingest.records import DeadLetter
from occmon.config.dead_letters import DeadLetterSettings

DAY = 86_400.0
MAX_MESSAGE = 4_096  # characters of the explanation kept
MAX_FIELD = 1_024  # characters of a topic, code, site or source kept

_DELETE_OLD = "DELETE FROM dead_letters WHERE received < ?"
_DELETE_SURPLUS = "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?"
_COUNT_DELETED = """
INSERT INTO counters (name, value) VALUES ('dead-letters-deleted', ?)
ON CONFLICT (name) DO UPDATE SET value = value + excluded.value
"""


def storable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters and encodable as UTF-8 (surrogates escaped)."""
    cut = text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
    try:
        cut.encode("utf-8")
    except UnicodeEncodeError:
        cut = cut.encode("utf-8", "backslashreplace").decode("utf-8")
    return cut


def row(letter: DeadLetter, settings: DeadLetterSettings) -> tuple[Any, ...]:
    """The INSERT parameters of one letter, its payload cut to ``max_payload_bytes``."""
    payload = bytes(letter.payload)
    message = letter.message
    if len(payload) > settings.max_payload_bytes:
        message += (f" [payload cut: first {settings.max_payload_bytes} of "
                    f"{len(payload)} bytes kept]")
        payload = payload[: settings.max_payload_bytes]
    return (
        letter.received,
        storable(letter.site, MAX_FIELD),
        storable(letter.source, MAX_FIELD),
        storable(letter.topic, MAX_FIELD),
        storable(letter.code, MAX_FIELD),
        storable(message, MAX_MESSAGE),
        payload,
    )


def delete_surplus(conn: sqlite3.Connection, settings: DeadLetterSettings) -> int:
    """Keep only the newest ``max_rows`` letters (by id: cheap enough for every write)."""
    return _counted(conn, conn.execute(_DELETE_SURPLUS, (settings.max_rows,)).rowcount)


def delete_old(conn: sqlite3.Connection, settings: DeadLetterSettings, now: float) -> int:
    """Delete letters received more than ``max_age_days`` before ``now`` (a table scan:
    the store runs it when opened and then hourly)."""
    cutoff = now - settings.max_age_days * DAY
    return _counted(conn, conn.execute(_DELETE_OLD, (cutoff,)).rowcount)


def _counted(conn: sqlite3.Connection, deleted: int) -> int:
    if deleted > 0:
        conn.execute(_COUNT_DELETED, (deleted,))
    return max(deleted, 0)
