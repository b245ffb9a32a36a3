"""A daily record states the unit its figures are in: the agent's own for a concentration.

Oxygen is measured in %vol (GB/T 50493-2019 5.5.2, the catalogue's row), so its record's
min/max are %vol figures; a record saying mg/m3 would misstate them by a unit, on the board
and in the printed record alike.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ingest.daily import query
from ingest.daily.close import close_day
from ingest.daily.store import RecordsStore
from occmon.model import Quality, Reading
from tests.records.support import DAY, local, site_config, site_doc, write


def test_oxygen_record_is_in_percent_by_volume_and_dust_in_mg_per_m3(tmp_path: Path) -> None:
    doc = site_doc(tmp_path)
    doc["points"].append({"id": "tank-o2", "name": {"zh": "罐区氧气", "en": "Tank O2"},
                          "area": "desulf", "agent": "oxygen"})
    doc["devices"].append({**doc["devices"][1], "id": "o2-1", "topic": "v/o2-1"})
    doc["sensors"].append({"id": "o1", "point": "tank-o2", "device": "o2-1", "field": "v",
                           "unit": "%vol"})
    config = site_config(tmp_path, doc)
    write(config, [Reading(point="tank-o2", agent="oxygen", time=local(DAY, h), value=v,
                           unit="%vol", quality=Quality.GOOD, quantity="concentration")
                   for h, v in ((9, 20.9), (10, 19.8), (11, 20.7))])
    close_day(config.store.path, config, DAY, now=local(DAY + dt.timedelta(days=1), 0, 30))
    with RecordsStore(config.store.path, readonly=True) as store:
        rows = query.daily_records(store.conn, query.Filters(day_from=DAY.isoformat(),
                                                             day_to=DAY.isoformat()))
    by_key = {r["key"]: r for r in rows}
    oxygen = by_key[f"tank-o2|{DAY.isoformat()}|"]
    assert oxygen["unit"] == "%vol"
    assert (oxygen["min"], oxygen["max"]) == (19.8, 20.9)
    assert by_key[f"mill-dust|{DAY.isoformat()}|"]["unit"] == "mg/m3"
