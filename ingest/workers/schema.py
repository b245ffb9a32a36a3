"""The registries' tables and their own migrations, in the site store.

Like ``ingest.schema``: each migration is a list of statements and a new table or column is
a new entry at the end, never an edit. The version lives in its own row of
``module_versions`` (module ``workers``), so these migrations never collide with the store's
numbered ones. Every table is append-only: a correction is a new row whose ``corrects`` names
the row it replaces; the current state is the rows nothing corrects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ingest.schema import migrate as migrate_store
from ingest.workers.dose_days_schema import DAY_DOSE_TABLES
from occmon import ledger

MODULE = "workers"
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE worker_rows (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            employee TEXT NOT NULL,
            name TEXT NOT NULL,
            sex TEXT NOT NULL,
            birth_date TEXT NOT NULL,
            job TEXT NOT NULL,
            category TEXT NOT NULL,
            joined TEXT,
            left_on TEXT,
            id_hash TEXT,
            entered REAL NOT NULL,
            entered_by TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            corrects INTEGER REFERENCES worker_rows (id),
            seq INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX worker_rows_by_employee ON worker_rows (employee, id)",
        "CREATE UNIQUE INDEX worker_rows_corrected_once ON worker_rows (corrects)",
        """CREATE TABLE instrument_rows (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            serial TEXT NOT NULL,
            type TEXT NOT NULL,
            device TEXT,
            quantities TEXT NOT NULL,
            calibrated TEXT,
            calibration_due TEXT,
            entered REAL NOT NULL,
            entered_by TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            corrects INTEGER REFERENCES instrument_rows (id),
            seq INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX instrument_rows_by_serial ON instrument_rows (serial, id)",
        "CREATE UNIQUE INDEX instrument_rows_corrected_once ON instrument_rows (corrects)",
        """CREATE TABLE assignment_rows (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            instrument TEXT NOT NULL,
            worker TEXT NOT NULL,
            start REAL NOT NULL,
            end REAL,
            position TEXT NOT NULL,
            void INTEGER NOT NULL DEFAULT 0,
            entered REAL NOT NULL,
            entered_by TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            corrects INTEGER REFERENCES assignment_rows (id),
            seq INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX assignment_rows_by_worker ON assignment_rows (worker, start)",
        "CREATE INDEX assignment_rows_by_instrument ON assignment_rows (instrument, start)",
        "CREATE UNIQUE INDEX assignment_rows_corrected_once ON assignment_rows (corrects)",
    ),
    (  # the personal dose file (ingest.workers.doses): period results, as reported
        """CREATE TABLE dose_rows (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            employee TEXT NOT NULL,
            dosimeter TEXT NOT NULL,
            start TEXT NOT NULL,
            end TEXT NOT NULL,
            hp10 TEXT NOT NULL,
            hp007 TEXT NOT NULL DEFAULT '',
            hp3 TEXT NOT NULL DEFAULT '',
            mdl_msv REAL,
            lab TEXT NOT NULL DEFAULT '',
            report TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            method TEXT NOT NULL DEFAULT '',
            void INTEGER NOT NULL DEFAULT 0,
            entered REAL NOT NULL,
            entered_by TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            corrects INTEGER REFERENCES dose_rows (id),
            seq INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX dose_rows_by_employee ON dose_rows (employee, start)",
        "CREATE UNIQUE INDEX dose_rows_corrected_once ON dose_rows (corrects)",
        """CREATE TABLE investigation_rows (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            employee TEXT NOT NULL,
            period TEXT NOT NULL,
            findings TEXT NOT NULL,
            entered REAL NOT NULL,
            entered_by TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            corrects INTEGER REFERENCES investigation_rows (id),
            seq INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX investigation_rows_by_employee ON investigation_rows (employee, period)",
        "CREATE UNIQUE INDEX investigation_rows_corrected_once ON investigation_rows (corrects)",
        """CREATE TABLE pregnancy_rows (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            employee TEXT NOT NULL,
            declared TEXT NOT NULL,
            ended TEXT,
            entered REAL NOT NULL,
            entered_by TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            corrects INTEGER REFERENCES pregnancy_rows (id),
            seq INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX pregnancy_rows_by_employee ON pregnancy_rows (employee, declared)",
        "CREATE UNIQUE INDEX pregnancy_rows_corrected_once ON pregnancy_rows (corrects)",
    ),
    (  # dose alerts (ingest.workers.dose_alerts): raised once per key, ledgered, pushed
        """CREATE TABLE dose_alert_rows (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,
            employee TEXT NOT NULL,
            scope TEXT NOT NULL,
            quantity TEXT NOT NULL,
            first TEXT NOT NULL,
            last TEXT NOT NULL,
            threshold TEXT NOT NULL,
            level TEXT NOT NULL,
            dose_msv REAL NOT NULL,
            limit_msv REAL NOT NULL,
            source TEXT NOT NULL,
            period TEXT,
            trigger TEXT NOT NULL,
            entered REAL NOT NULL,
            entered_by TEXT NOT NULL,
            seq INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE UNIQUE INDEX dose_alert_rows_key ON dose_alert_rows (key)",
        "CREATE INDEX dose_alert_rows_by_employee ON dose_alert_rows (employee, id)",
        # the push outbox: not ledgered (it changes); one row per alert
        """CREATE TABLE dose_alert_pushes (
            alert INTEGER PRIMARY KEY REFERENCES dose_alert_rows (id),
            claimed_by TEXT,
            claimed_at REAL,
            done REAL,
            status TEXT NOT NULL DEFAULT 'pending'
        )""",
    ),
    DAY_DOSE_TABLES,
)
VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The registries were written by a newer occmon; refuse rather than corrupt them."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the registries to VERSION (and make sure the ledger exists) in one write
    transaction on an autocommit connection (``ingest.schema.connect``); the version found.
    The store's own tables first: the stored day doses' triggers watch ``readings``."""
    migrate_store(conn)
    return migrate_module(conn, MODULE, MIGRATIONS, name="workers",
                          also=lambda: ledger.ensure(conn))


def migrate_module(conn: sqlite3.Connection, module: str,
                   migrations: tuple[tuple[str, ...], ...], *, name: str,
                   also: Callable[[], None] | None = None) -> int:
    """Run ``module``'s migrations not yet applied (its row in ``module_versions``), and
    ``also``, in one write transaction; the version found. A store written by a newer occmon
    is refused (``SchemaTooNew``) rather than corrupted."""
    version = len(migrations)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS module_versions "
                     "(module TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM module_versions WHERE module = ?",
                           (module,)).fetchone()
        found = int(row[0]) if row else 0
        if found > version:
            raise SchemaTooNew(f"{name} schema {found} is newer than this occmon's ({version})")
        for statements in migrations[found:]:
            for statement in statements:
                conn.execute(statement)
        if also is not None:
            also()
        conn.execute("INSERT INTO module_versions (module, version) VALUES (?, ?) "
                     "ON CONFLICT (module) DO UPDATE SET version = excluded.version",
                     (module, version))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
