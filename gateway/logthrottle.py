"""Log a repeated error once per interval, with the count of the repeats it stood for.

A Modbus peer that times out every poll, or a sensor that publishes malformed JSON ten
times a second, would otherwise write the same line forever (a misbehaving peer once grew
the gateway log by 3 MB in 11 minutes), burying the one line that matters and filling the
edge box's disk. The counters keep every occurrence; the log keeps one line per key per
``interval``, and the next line for that key says how many were left out.

``Throttle`` is the rule, pure apart from its injected clock. ``ThrottledLog`` writes our
own lines through it; ``ThrottleFilter`` applies it to a library's logger (pymodbus logs a
pre-formatted error for every timeout and stray frame), keyed on the message with its
numbers masked, so ``transaction_id=5`` and ``transaction_id=6`` count as one error.

Keys come partly from the network (MQTT topics), so their number is bounded: past
``max_keys`` live keys, new ones share one overflow key.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

INTERVAL = 60.0  # seconds between two lines for one key
MAX_KEYS = 512
OVERFLOW_KEY = ("(too many distinct errors)",)


@dataclass(slots=True)
class _Window:
    started: float
    admitted: int = 1
    suppressed: int = 0


class Throttle:
    """Admits the first ``burst`` occurrences of a key per ``interval``; counts the rest."""

    def __init__(self, interval: float = INTERVAL, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_KEYS, burst: int = 1) -> None:
        if interval <= 0 or max_keys < 1 or burst < 1:
            raise ValueError("interval must be > 0, max_keys and burst >= 1")
        self.interval = interval
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[Hashable, _Window] = {}
        self.suppressed_total = 0

    def admit(self, key: Hashable) -> int | None:
        """None: suppress this occurrence. An int: log it now; the int is how many
        occurrences of ``key`` were suppressed since its last line."""
        now = self._clock()
        window = self._windows.get(key)
        if window is None and len(self._windows) >= self._max_keys:
            self._prune(now)
            if len(self._windows) >= self._max_keys:
                key = OVERFLOW_KEY
                window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(now)
            return 0
        if now - window.started >= self.interval:
            repeats, window.started, window.suppressed = window.suppressed, now, 0
            window.admitted = 1
            return repeats
        if window.admitted < self.burst:
            window.admitted += 1
            return 0
        window.suppressed += 1
        self.suppressed_total += 1
        return None

    def pending(self) -> dict[Hashable, int]:
        """Keys with suppressed occurrences not yet reported in a line."""
        return {k: w.suppressed for k, w in self._windows.items() if w.suppressed}

    def due(self) -> dict[Hashable, int]:
        """Suppressed counts whose interval has passed with no occurrence since to report
        them; each is returned once (the caller writes the summary) and its key forgotten."""
        now = self._clock()
        out = {k: w.suppressed for k, w in self._windows.items()
               if w.suppressed and now - w.started >= self.interval}
        for key in out:
            del self._windows[key]
        return out

    def _prune(self, now: float) -> None:
        """Forget keys whose window has passed with nothing suppressed (nothing to report)."""
        for key in [k for k, w in self._windows.items()
                    if now - w.started >= self.interval and not w.suppressed]:
            del self._windows[key]


def _suffix(repeats: int, interval: float) -> str:
    return f" [{repeats} more like this in the last {interval:g} s not logged]"


class ThrottledLog:
    """``log.warning`` with a key: one line per key per interval, repeats counted."""

    def __init__(self, logger: logging.Logger, throttle: Throttle | None = None) -> None:
        self.logger = logger
        self.throttle = throttle or Throttle()

    def log(self, level: int, key: Hashable, msg: str, *args: object,
            exc_info: bool = False) -> bool:
        """Log unless ``key`` was logged within the interval; True if a line was written."""
        if not self.logger.isEnabledFor(level):
            return False
        repeats = self.throttle.admit(key)
        if repeats is None:
            return False
        if repeats:
            msg += _suffix(repeats, self.throttle.interval).replace("%", "%%")
        self.logger.log(level, msg, *args, exc_info=exc_info, stacklevel=2)
        return True

    def warning(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, msg, *args)

    def exception(self, key: Hashable, msg: str, *args: object) -> bool:
        """An error with its traceback: worth one line per interval, never one per poll."""
        return self.log(logging.ERROR, key, msg, *args, exc_info=True)


_NUMBERS = re.compile(r"\d+")


class ThrottleFilter(logging.Filter):
    """A logging filter for a library's logger: identical messages (numbers masked) once
    per interval, the next one carrying the count of those dropped."""

    def __init__(self, throttle: Throttle | None = None) -> None:
        super().__init__()
        self.throttle = throttle or Throttle()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return True
        repeats = self.throttle.admit((record.name, record.levelno, _NUMBERS.sub("#", text)))
        if repeats is None:
            return False
        if repeats:
            record.msg, record.args = text + _suffix(repeats, self.throttle.interval), None
        return True


def throttle_library(name: str, interval: float = INTERVAL) -> ThrottleFilter:
    """Install (once) a ``ThrottleFilter`` on the logger ``name``; returns it."""
    logger = logging.getLogger(name)
    for existing in logger.filters:
        if isinstance(existing, ThrottleFilter):
            return existing
    found = ThrottleFilter(Throttle(interval))
    logger.addFilter(found)
    return found


class DemoteFilter(logging.Filter):
    """Files a library's records that contain ``text`` at DEBUG instead of their level, and
    counts them: for messages whose event occmon already counts and reports itself (a late
    Modbus answer after its request timed out is the hub's ``timeout``, counted and logged
    there), so a terminal does not show the same failure twice."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.demoted = 0

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            found = self.text in record.getMessage()
        except Exception:
            return True
        if found and record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            self.demoted += 1
        return True


def demote_library(name: str, text: str) -> DemoteFilter:
    """Install (once per ``text``) a ``DemoteFilter`` on the logger ``name``; returns it.
    Installed before the throttle, so a demoted record never takes a throttle slot."""
    logger = logging.getLogger(name)
    for existing in logger.filters:
        if isinstance(existing, DemoteFilter) and existing.text == text:
            return existing
    found = DemoteFilter(text)
    logger.filters.insert(0, found)
    return found
