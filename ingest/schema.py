"""The embedded store's schema and its migrations, applied when a store is opened.

Each migration is a list of statements; ``schema_version`` holds how many have run. A new
column or table is a new entry at the end, never an edit of an old one, so every existing
``var/occmon.db`` upgrades in place.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE readings (
            point TEXT NOT NULL,
            quantity TEXT NOT NULL,
            time REAL NOT NULL,
            value REAL,
            unit TEXT NOT NULL,
            quality TEXT NOT NULL,
            reason TEXT,
            agent TEXT NOT NULL,
            sensor TEXT NOT NULL DEFAULT '',
            device TEXT NOT NULL DEFAULT '',
            raw_value REAL,
            raw_unit TEXT,
            received REAL NOT NULL,
            PRIMARY KEY (point, quantity, time)
        ) WITHOUT ROWID""",
        """CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received REAL NOT NULL,
            site TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'ingest',
            topic TEXT NOT NULL,
            code TEXT NOT NULL,
            message TEXT NOT NULL,
            payload BLOB NOT NULL
        )""",
        "CREATE INDEX dead_letters_by_code ON dead_letters (code, id)",
        """CREATE TABLE device_status (
            device TEXT PRIMARY KEY,
            online INTEGER NOT NULL,
            since REAL NOT NULL,
            reason TEXT,
            site TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            time REAL NOT NULL,
            site TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_kind_time ON events (kind, time)",
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID""",
    ),
    # alarm history, ventilation log and the alarm-push delivery log. Events are
    # at-least-once on the wire; the gateway's event id makes each stored once.
    (
        """CREATE TABLE alarm_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            alarm_id TEXT NOT NULL,
            point TEXT NOT NULL,
            kind TEXT NOT NULL,
            event TEXT NOT NULL,
            level TEXT,
            state TEXT NOT NULL,
            occurrence INTEGER NOT NULL DEFAULT 0,
            time REAL NOT NULL,
            user TEXT,
            site TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL
        )""",
        "CREATE INDEX alarm_events_by_alarm ON alarm_events (alarm_id, event_id)",
        "CREATE INDEX alarm_events_by_time ON alarm_events (time)",
        """CREATE TABLE ventilation_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            unit TEXT NOT NULL,
            event TEXT NOT NULL,
            state TEXT NOT NULL,
            priority TEXT NOT NULL DEFAULT 'log',
            time REAL NOT NULL,
            site TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL
        )""",
        "CREATE INDEX ventilation_log_by_unit ON ventilation_log (unit, event_id)",
        """CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time REAL NOT NULL,
            channel TEXT NOT NULL,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            alarm_ids TEXT NOT NULL,
            grp TEXT NOT NULL,
            step INTEGER NOT NULL,
            status TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            error TEXT NOT NULL DEFAULT '',
            code TEXT NOT NULL DEFAULT ''
        )""",
    ),
    # Closes of the alarm record's reconciliation once took the id of the store's newest
    # event, and ingest's ids ("ingest-...") sort after every gateway id: a close made after
    # one had been stored sorted after the alarm's later raises, which then never became its
    # current state. Each close (``source`` ingest) is given the id it gets now: the alarm's
    # latest event before it, ``~`` and the reason (``ingest.alarm_log.reconcile``).
    (
        # the latest event before it that is not a close itself (a close follows an open
        # state, never a close), so the order the rows are updated in does not matter
        """UPDATE alarm_events SET event_id = (
            SELECT MAX(p.event_id) FROM alarm_events p
            WHERE p.alarm_id = alarm_events.alarm_id AND p.id < alarm_events.id
              AND NOT (p.event = 'closed' AND instr(p.event_id, '~') > 0)
        ) || '~' || COALESCE(json_extract(body, '$.reason'), 'closed')
        WHERE event = 'closed' AND json_extract(body, '$.source') = 'ingest'
          AND instr(event_id, '~') > 0
          AND EXISTS (SELECT 1 FROM alarm_events p
                      WHERE p.alarm_id = alarm_events.alarm_id AND p.id < alarm_events.id)""",
        """UPDATE alarm_events SET body = json_set(body, '$.id', event_id)
        WHERE event = 'closed' AND json_extract(body, '$.source') = 'ingest'""",
    ),
)

VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The file was written by a newer occmon; refuse rather than corrupt it."""


def connect(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a connection in autocommit mode (we issue BEGIN/COMMIT ourselves), WAL journal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to VERSION in one write transaction; return the version found."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        found = int(row[0]) if row else 0
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (0)")
        if found > VERSION:
            raise SchemaTooNew(f"store schema {found} is newer than this occmon's ({VERSION})")
        for statements in MIGRATIONS[found:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("UPDATE schema_version SET version = ?", (VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
