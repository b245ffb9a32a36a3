"""The optional-filter WHERE clause, run against a real SQLite table."""

from __future__ import annotations

import sqlite3

from ingest.where import where


def rows(*conditions: tuple[str, object]) -> list[tuple[str, str, float]]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE r (point TEXT, quantity TEXT, time REAL)")
    db.executemany("INSERT INTO r VALUES (?, ?, ?)", [
        ("p1", "a", 0.0), ("p1", "a", 1.0), ("p1", "b", 0.5), ("p2", "a", 2.0)])
    clause, args = where(*conditions)
    found = db.execute(f"SELECT * FROM r WHERE {clause} ORDER BY point, quantity, time",
                       args).fetchall()
    db.close()
    return found


def test_unset_filters_are_left_out_and_none_set_matches_all() -> None:
    assert where(("point = ?", None), ("time >= ?", None)) == ("1 = 1", [])
    assert len(rows()) == 4
    assert rows(("point = ?", "p1"), ("quantity = ?", None)) == [
        ("p1", "a", 0.0), ("p1", "a", 1.0), ("p1", "b", 0.5)]


def test_a_zero_is_a_filter_and_a_tuple_fills_a_row_value() -> None:
    assert rows(("time > ?", 0.0), ("point = ?", "p1")) == [("p1", "a", 1.0), ("p1", "b", 0.5)]
    assert rows(("point = ?", "p1"), ("(quantity, time) > (?, ?)", ("a", 0.0))) == [
        ("p1", "a", 1.0), ("p1", "b", 0.5)]
