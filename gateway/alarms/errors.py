"""Typed errors for illegal alarm commands. Raising one leaves the engine unchanged."""

from __future__ import annotations


class AlarmError(Exception):
    """Base class; ``code`` is a stable counter key and API error code."""

    code = "alarm-error"

    def __init__(self, alarm_id: str, message: str) -> None:
        super().__init__(message)
        self.alarm_id = alarm_id


class UnknownAlarm(AlarmError):
    code = "unknown-alarm"


class UnknownPoint(AlarmError):
    code = "unknown-point"


class AlreadyAcknowledged(AlarmError):
    code = "already-acknowledged"


class ShelveNeedsExpiry(AlarmError):
    code = "shelve-needs-expiry"


class ShelveTooLong(AlarmError):
    code = "shelve-too-long"


class NotShelved(AlarmError):
    code = "not-shelved"


class AlreadyShelved(AlarmError):
    code = "already-shelved"


class IsShelved(AlarmError):
    code = "shelved"


class OutOfService(AlarmError):
    code = "out-of-service"


class InService(AlarmError):
    code = "in-service"


class StillActive(AlarmError):
    code = "still-active"


class NothingToResolve(AlarmError):
    code = "nothing-to-resolve"


class MissingWho(AlarmError):
    """Silencing an alarm (out of service) must say who and why: it goes into the record."""

    code = "missing-who-or-why"


class UnknownReasonCode(AlarmError):
    code = "unknown-reason-code"
