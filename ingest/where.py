"""The WHERE clause of a query with optional filters: one place builds it for every reader.

Each condition is a clause with ``?`` placeholders and its value; a condition whose value is
None is a filter the caller did not set and is left out. A tuple value fills several
placeholders (a row-value comparison such as a page cursor).
"""

from __future__ import annotations

from typing import Any


def where(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """``("a = ? AND b >= ?", [1, 2])``; ``"1 = 1"`` when no condition is set."""
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in conditions:
        if value is None:
            continue
        clauses.append(clause)
        if isinstance(value, tuple):
            args.extend(value)
        else:
            args.append(value)
    return " AND ".join(clauses) or "1 = 1", args
