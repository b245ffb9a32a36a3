"""The one closing rule: a day may be closed (or signed) once it has ended in the site's time
zone plus ``records.close_grace_min``; the day closer follows it and repairs early closes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ingest.daily import query
from ingest.daily.close import close_day, compute_day
from ingest.daily.closing import (
    DayOpen,
    DayOutOfRange,
    closing_window,
    is_open,
    last_closable,
    require_ended,
)
from ingest.daily.store import Conflict, RecordsStore
from ingest.daily.worker import DayCloser
from occmon.config import ConfigError
from tests.records.support import DAY, dust_day, local, site_config, site_doc, write

NEXT = DAY + dt.timedelta(days=1)
LATER = DAY + dt.timedelta(days=5)


@pytest.mark.parametrize(("day", "now", "grace_min", "open_"), [
    (DAY, local(DAY, 10), 15, True),  # the running day
    (LATER, local(DAY, 10), 15, True),  # a future day
    (DAY, local(NEXT, 0, 0), 15, True),  # just ended: the grace for late data runs
    (DAY, local(NEXT, 0, 14, 59), 15, True),
    (DAY, local(NEXT, 0, 15), 15, False),  # 00:00 + 15 min: closable
    (DAY, local(NEXT, 0, 0), 0, False),  # no grace: closable at midnight
    (DAY, local(NEXT, 2), 180, True),  # a 3 h grace
    (DAY - dt.timedelta(days=30), local(DAY, 10), 15, False),  # a past day
])
def test_the_rule_table(day: dt.date, now: float, grace_min: float, open_: bool) -> None:
    window = closing_window(day, "Asia/Shanghai", grace_min * 60)
    assert window.is_open(now) is open_


def test_a_dst_day_ends_at_its_own_midnight() -> None:
    """Europe/Berlin 2026-03-29 has 23 h: it ends 2026-03-30 00:00 CEST, 22:00 UTC."""
    window = closing_window(dt.date(2026, 3, 29), "Europe/Berlin", 0)
    assert window.ends_at == dt.datetime(2026, 3, 29, 22, tzinfo=dt.UTC).timestamp()


def test_refusal_names_day_zone_and_when(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    with pytest.raises(DayOpen) as err:
        require_ended(config, DAY, local(DAY, 9, 30))
    text = str(err.value)
    assert err.value.code == "day-open" and text.startswith("day-open: day 2026-05-12")
    assert "Asia/Shanghai (now 2026-05-12T09:30:00+08:00)" in text
    assert "from 2026-05-13T00:15:00+08:00" in text and "close_grace_min = 15 min" in text
    assert last_closable(config, local(NEXT, 0, 10)) == DAY - dt.timedelta(days=1)
    assert last_closable(config, local(NEXT, 0, 15)) == DAY


@pytest.mark.parametrize("day", [dt.date(1, 1, 1), dt.date(1969, 12, 31), dt.date(9999, 12, 31)])
def test_a_day_no_reading_can_have_is_bad_input_not_an_open_day(day: dt.date) -> None:
    with pytest.raises(DayOutOfRange, match=f"day {day} is out of range"):
        closing_window(day, "Asia/Shanghai", 900)


def test_grace_is_configurable_and_validated(tmp_path: Path) -> None:
    doc = site_doc(tmp_path)
    doc["records"]["close_grace_min"] = 120
    config = site_config(tmp_path, doc)
    assert is_open(config, DAY, local(NEXT, 1, 59)) and not is_open(config, DAY, local(NEXT, 2))
    doc["records"]["close_grace_min"] = -5
    with pytest.raises(ConfigError, match="close_grace_min"):
        site_config(tmp_path, doc)


def test_close_day_refuses_an_open_day_before_touching_the_store(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    with pytest.raises(DayOpen):
        close_day(config.store.path, config, DAY, now=local(NEXT, 0, 5))
    assert not config.store.path.exists()  # nothing opened, nothing created


def test_the_day_closer_waits_for_the_grace_and_for_close_after(tmp_path: Path) -> None:
    doc = site_doc(tmp_path)
    doc["records"]["close_after"] = "00:00"  # the schedule alone would close at midnight
    config = site_config(tmp_path, doc)
    write(config, dust_day())
    closer = DayCloser(config)
    assert closer.due(local(DAY, 23, 59)) == []
    assert closer.due(local(NEXT, 0, 10)) == []  # the rule: 15 min of grace
    assert closer.due(local(NEXT, 0, 15)) == [DAY]
    doc["records"]["close_after"] = "01:00"
    late = DayCloser(site_config(tmp_path, doc))
    assert late.due(local(NEXT, 0, 30)) == []  # the rule allows, the schedule waits
    assert late.due(local(NEXT, 1)) == [DAY]


def test_an_early_close_is_closed_again_and_cannot_be_signed(tmp_path: Path) -> None:
    """A day closed at 10:00 by an occmon without the rule (the old route did it): the 10:10
    surge never reached its records. After the day ends, the closer closes it again: the
    surge's exceedance and the corrected records are written, with a new day-close."""
    config = site_config(tmp_path)
    readings = dust_day()
    write(config, [r for r in readings if r.time < local(DAY, 10)])
    with RecordsStore(config.store.path) as store:  # the old, rule-less path
        early = compute_day(store.conn, config, DAY)
        store.apply_day(config.site.id, early.day, early.drafts, early.events, local(DAY, 10))
        window = require_ended(config, DAY, local(NEXT, 1))
        with pytest.raises(Conflict, match="closed before it had ended"):
            store.sign(str(DAY), "王安全", local(NEXT, 1), window.closable_from)
    write(config, [r for r in readings if r.time >= local(DAY, 10)])
    closer = DayCloser(config)
    assert closer.due(local(DAY, 12)) == []  # still open: not touched
    assert closer.due(local(NEXT, 0, 31)) == [DAY]
    (result,) = closer.tick(local(NEXT, 0, 31))
    assert result.corrected > 0 and result.new == 1  # the surge's peak exceedance
    assert closer.due(local(NEXT, 0, 32)) == []
    with RecordsStore(config.store.path) as store:
        closure = query.closure(store.conn, str(DAY))
        assert closure is not None and closure["closed_at"] == local(NEXT, 0, 31)
        store.sign(str(DAY), "王安全", local(NEXT, 9), window.closable_from)
        kinds = [k for (k,) in store.conn.execute("SELECT kind FROM ledger ORDER BY seq")]
        assert store.verify().ok
    assert kinds.count("day-close") == 2 and kinds[-1] == "signature"
