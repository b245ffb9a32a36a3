"""The log throttle with an injected clock: one line per key per interval, repeats counted."""

from __future__ import annotations

import logging

import pytest

from gateway.logthrottle import OVERFLOW_KEY, Throttle, ThrottledLog, ThrottleFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_admitted_repeats_counted_and_reported_after_the_interval() -> None:
    clock = Clock()
    throttle = Throttle(60.0, clock=clock)
    assert throttle.admit("a") == 0
    outcomes = []
    for _ in range(999):
        clock.now += 0.05  # 999 repeats within 49.95 s
        outcomes.append(throttle.admit("a"))
    assert outcomes == [None] * 999
    assert throttle.pending() == {"a": 999}
    clock.now = 1000.0 + 60.0
    assert throttle.admit("a") == 999  # the next line says how many were left out
    assert throttle.pending() == {}
    assert throttle.admit("a") is None
    assert throttle.suppressed_total == 1000


def test_keys_are_independent() -> None:
    clock = Clock()
    throttle = Throttle(60.0, clock=clock)
    assert throttle.admit(("dev-1", "timeout")) == 0
    assert throttle.admit(("dev-2", "timeout")) == 0
    assert throttle.admit(("dev-1", "modbus-exception")) == 0
    assert throttle.admit(("dev-1", "timeout")) is None


def test_distinct_keys_are_bounded() -> None:
    """Topics come from the network: 10,000 distinct ones share one overflow key."""
    clock = Clock()
    throttle = Throttle(60.0, clock=clock, max_keys=8)
    admitted = [throttle.admit(f"topic/{i}") for i in range(10_000)]
    # 8 keys, then one line for the overflow key; everything else is counted
    assert sum(1 for a in admitted if a is not None) == 9
    assert len(throttle.pending()) <= 9
    assert throttle.pending()[OVERFLOW_KEY] == 10_000 - 9
    clock.now += 61  # stale keys with nothing pending are forgotten to make room
    assert throttle.admit("topic/new") == 0


@pytest.mark.parametrize("bad", [(0.0, 1), (-1.0, 1), (60.0, 0)])
def test_bad_settings(bad: tuple[float, int]) -> None:
    with pytest.raises(ValueError):
        Throttle(bad[0], max_keys=bad[1])


def test_throttled_log_writes_one_line_and_then_the_count(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = ThrottledLog(logging.getLogger("occmon.test.throttle"), Throttle(60.0, clock=clock))
    with caplog.at_level(logging.WARNING, "occmon.test.throttle"):
        for i in range(1000):  # 1000 errors over 100 s: two intervals
            clock.now = 1000.0 + i / 10
            log.warning(("dev-1", "timeout"), "device %s: %s", "dev-1", f"timeout {i}")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "device dev-1: timeout 0",
        "device dev-1: timeout 600 [599 more like this in the last 60 s not logged]",
    ]


def test_filter_masks_numbers_so_ids_do_not_defeat_it(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    logger = logging.getLogger("occmon.test.library")
    flt = ThrottleFilter(Throttle(60.0, clock=clock))
    logger.addFilter(flt)
    try:
        with caplog.at_level(logging.ERROR, "occmon.test.library"):
            for tid in range(500):
                logger.error("request ask for transaction_id=%d but got id=%d", tid, tid + 1)
            logger.error("another error")
            clock.now += 60
            logger.error("request ask for transaction_id=%d but got id=%d", 9, 10)
    finally:
        logger.removeFilter(flt)
    assert [r.getMessage() for r in caplog.records] == [
        "request ask for transaction_id=0 but got id=1",
        "another error",
        "request ask for transaction_id=9 but got id=10 "
        "[499 more like this in the last 60 s not logged]",
    ]


def test_burst_admits_several_per_interval_and_due_reports_the_rest_once() -> None:
    clock = Clock()
    throttle = Throttle(60.0, clock=clock, burst=3)
    assert [throttle.admit("k") for _ in range(5)] == [0, 0, 0, None, None]
    assert throttle.due() == {}  # the interval has not passed yet
    clock.now += 60
    assert throttle.due() == {"k": 2}
    assert throttle.due() == {}
    assert throttle.admit("k") == 0  # a fresh window


def test_a_late_modbus_answer_is_filed_at_debug_and_counted() -> None:
    """pymodbus warns of an answer whose request already timed out; the hub counted that
    timeout, so the warning is demoted (counted) and a terminal shows it once, not twice."""
    import logging

    from gateway.logthrottle import demote_library

    logger = logging.getLogger("pymodbus.logging.demote-test")
    seen: list[tuple[int, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.levelno, record.getMessage()))

    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        found = demote_library(logger.name, "without a corresponding request")
        assert demote_library(logger.name, "without a corresponding request") is found  # once
        logger.warning("ERROR: received pdu without a corresponding request, IGNORING")
        logger.warning("Connection to (127.0.0.1, 5020) lost")
    finally:
        logger.removeHandler(handler)
    assert seen == [(logging.WARNING, "Connection to (127.0.0.1, 5020) lost")]
    assert found.demoted == 1
