"""Typed errors of the thresholds library.

Each carries enough to write a specific message at the shell (``occmon assess`` exits 2 with it);
none of them is raised after partial work, so a caller can retry with corrected input.
"""

from __future__ import annotations


class ThresholdsError(Exception):
    """Base of every error this package raises on purpose."""


class CatalogueError(ThresholdsError):
    """The packaged catalogue file is malformed; the message names the row id and the field."""


class UnknownAgent(ThresholdsError, LookupError):
    """No agent (or more than one) matches a name, id or CAS number.

    ``suggestions`` lists close matches (ids) so a shell can print "did you mean ...".
    """

    def __init__(self, query: str, suggestions: tuple[str, ...] = (), reason: str = "") -> None:
        self.query = query
        self.suggestions = suggestions
        message = reason or f"unknown agent {query!r}"
        if suggestions:
            message += "; did you mean: " + ", ".join(suggestions)
        super().__init__(message)


class UnitError(ThresholdsError, ValueError):
    """A unit string is unknown, or cannot be converted for this agent (e.g. ppm of a dust)."""
