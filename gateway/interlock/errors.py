"""Typed errors for illegal interlock commands; raising one changes nothing."""

from __future__ import annotations


class InterlockError(Exception):
    code = "interlock-error"

    def __init__(self, unit: str, message: str) -> None:
        super().__init__(message)
        self.unit = unit


class UnknownUnit(InterlockError):
    code = "unknown-unit"


class AlreadyInMode(InterlockError):
    code = "already-in-mode"


class NotOverridden(InterlockError):
    code = "not-overridden"


class ResetNotAllowed(InterlockError):
    code = "reset-not-allowed"


class MissingWho(InterlockError):
    """A manual override or reset must say who and why: it goes into the ventilation log."""

    code = "missing-who-or-why"
