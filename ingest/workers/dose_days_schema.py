"""The stored day doses' tables and the triggers that keep them exact (``dose_days``).

A row is one local day of one device's cumulative series: derived data, recomputable from
the readings at any time, so it is not ledgered. The triggers on ``readings`` delete, for
the reading's device, every stored day that ends after the reading's time whenever a
reading of the quantity is stored, replaced (ingest's upsert of a replayed or corrected
reading is an UPDATE) or deleted: that day changed, and the next day with readings may
have a new baseline. Live readings fall in open days, which are never stored, so the
delete finds nothing; a late one invalidates from its day on. The triggers live in the
store file, so they fire in whichever process writes the reading.
"""

from __future__ import annotations

QUANTITY = "hp10"  # attribution.DOSE_QUANTITY (a test holds them equal)
TRIGGERS = ("day_doses_reading_in", "day_doses_reading_changed", "day_doses_reading_out")

_FORGET = ("DELETE FROM day_doses WHERE device = {r}.device AND quantity = {r}.quantity "
           "AND day_end > {r}.time;")

DAY_DOSE_TABLES: tuple[str, ...] = (
    """CREATE TABLE day_doses (
        device TEXT NOT NULL,
        quantity TEXT NOT NULL,
        day_end REAL NOT NULL,
        day TEXT NOT NULL,
        day_start REAL NOT NULL,
        dose REAL,
        first_at REAL,
        last_at REAL,
        prior_at REAL,
        prior_value REAL,
        PRIMARY KEY (device, quantity, day_end)
    ) WITHOUT ROWID""",
    """CREATE TABLE day_dose_sources (
        device TEXT NOT NULL,
        quantity TEXT NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (device, quantity)
    ) WITHOUT ROWID""",
    f"""CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON readings
        WHEN NEW.quantity = '{QUANTITY}'
        BEGIN {_FORGET.format(r="NEW")} END""",
    f"""CREATE TRIGGER {TRIGGERS[1]} AFTER UPDATE ON readings
        WHEN OLD.quantity = '{QUANTITY}' OR NEW.quantity = '{QUANTITY}'
        BEGIN {_FORGET.format(r="OLD")} {_FORGET.format(r="NEW")} END""",
    f"""CREATE TRIGGER {TRIGGERS[2]} AFTER DELETE ON readings
        WHEN OLD.quantity = '{QUANTITY}'
        BEGIN {_FORGET.format(r="OLD")} END""",
)
