"""Which calibration date a daily record's instrument states: a table of (site file date,
last calibration event, day) -> (calibrated, due, current, source), on Plant A's g1
(GT-2000, interval 365 days by default; the site file's date set per row)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ingest.daily.spec import instruments_on, point_spec
from tests.records.support import site_config, site_doc

D = dt.date
ROWS = [
    # site file, event (date), day -> calibrated, due, current, source (None: site file)
    (D(2025, 1, 1), D(2026, 5, 12), D(2026, 5, 12),
     "2026-05-12", "2027-05-12", True, "event"),   # the later event dates it
    (D(2026, 3, 1), D(2026, 2, 1), D(2026, 5, 12),
     "2026-03-01", "2027-03-01", True, None),      # the site file's date is later
    (D(2026, 3, 1), D(2026, 3, 1), D(2026, 5, 12),
     "2026-03-01", "2027-03-01", True, None),      # the same day: the site file stays
    (D(2025, 1, 1), D(2026, 5, 13), D(2026, 5, 12),
     "2025-01-01", "2026-01-01", False, None),     # after the day: not that day's
    (None, D(2025, 5, 1), D(2026, 5, 12),
     "2025-05-01", "2026-05-01", False, "event"),  # no site-file date; a year is 365 days
    (None, None, D(2026, 5, 12), None, None, False, None),
]


@pytest.mark.parametrize(("typed", "event", "day", "calibrated", "due", "current", "source"),
                         ROWS)
def test_calibration_source(tmp_path: Path, typed: dt.date | None, event: dt.date | None,
                            day: dt.date, calibrated: str | None, due: str | None,
                            current: bool, source: str | None) -> None:
    doc = site_doc(tmp_path)
    g1 = next(s for s in doc["sensors"] if s["id"] == "g1")
    g1["instrument"]["calibrated"] = typed.isoformat() if typed else None
    config = site_config(tmp_path, doc)
    spec = point_spec(config, next(p for p in config.points if p.id == "pump-h2s"))
    (inst,) = instruments_on(spec, day, {"g1": (event, "ev-1")} if event else {})
    assert (inst["calibrated"], inst["calibration_due"], inst["calibration_current"]) \
        == (calibrated, due, current)
    assert inst.get("calibration_source") == source
    assert inst.get("calibration_event") == ("ev-1" if source == "event" else None)


def test_the_due_date_counts_the_configured_interval_from_the_event(tmp_path: Path) -> None:
    doc = site_doc(tmp_path)
    g1 = next(s for s in doc["sensors"] if s["id"] == "g1")
    g1["instrument"]["calibration_interval_days"] = 180
    config = site_config(tmp_path, doc)
    spec = point_spec(config, next(p for p in config.points if p.id == "pump-h2s"))
    (inst,) = instruments_on(spec, D(2026, 5, 20), {"g1": (D(2026, 5, 12), "ev-1")})
    # 12 May + 180 days: 19 to 31 May, +30 +31 +31 +30 +31 = 172 to 31 Oct, +8 = 8 Nov
    assert inst["calibration_due"] == "2026-11-08"
