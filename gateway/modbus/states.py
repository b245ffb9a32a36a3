"""Instrument states (NAMUR NE 107) read from a device's status words, enums and bit fields.

A gas detector in a bump test passes test gas; in calibration it passes zero and span gas;
in inhibit it may force its output to zero. None of that is the air the workers breathe, so
a profile says which register values mean which state, and a reading taken in any state but
``normal`` is not a good reading. A state is written ``category`` or ``category:detail``:

============================  =========================================  =======================
category (NE 107)             examples                                   reading
============================  =========================================  =======================
``normal``                    measuring                                  good
``maintenance-required``      calibration due, filter change             uncertain, value kept
``out-of-specification``      sensor overload, over range                bad, no value
``check-function``            inhibit, warm-up, bump test, calibration   bad, no value
``failure``                   instrument fault, heartbeat stopped        bad, no value
============================  =========================================  =======================

A reading's reason is the state itself (``check-function:bump-test``). When several states
hold at once the worst wins, in NE 107's order failure > check-function > out of
specification > maintenance required. ``StateJudge`` compiles a profile's fields once so a
poll costs a shift and a mask per field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NORMAL = "normal"
MAINTENANCE = "maintenance-required"
OUT_OF_SPEC = "out-of-specification"
CHECK_FUNCTION = "check-function"
FAILURE = "failure"
CATEGORIES: tuple[str, ...] = (NORMAL, MAINTENANCE, OUT_OF_SPEC, CHECK_FUNCTION, FAILURE)
# NE 107's order of importance: a higher rank hides a lower one
RANK: dict[str, int] = {category: rank for rank, category in enumerate(CATEGORIES)}
STATE_PATTERN = re.compile(
    r"^(normal|maintenance-required|out-of-specification|check-function|failure)"
    r"(:[a-z0-9][a-z0-9-]*)?$"
)
UNKNOWN_STATE = "failure:unknown-state"
HEARTBEAT_STOPPED = "failure:heartbeat-stopped"
CHECK_FUNCTION_TIMEOUT = "failure:check-function-timeout"  # profile's check_function_limit
# the status register's read was refused (Modbus exception): the state is not known, so the
# value must not pass as good (it may be test gas)
STATUS_UNREADABLE = "failure:status-unreadable"
# Check-function details that are an activity worth its own instrument event.
ACTIVITIES: tuple[str, ...] = ("bump-test", "calibration")

# Plain status_bits meanings of the older profiles, as NE 107 states. ``fault`` keeps its
# own reason (``sensor-fault``); meanings not listed (pre-alarm, alarm) are information.
MEANING_STATES: dict[str, str] = {
    "warm-up": "check-function:warm-up",
    "inhibit": "check-function:inhibit",
    "calibration": "check-function:calibration",
    "zero-calibration": "check-function:zero-calibration",
    "span-calibration": "check-function:span-calibration",
    "bump-test": "check-function:bump-test",
    "calibration-due": "maintenance-required:calibration-due",
    "maintenance": "maintenance-required",
    "filter-change": "maintenance-required:filter-change",
    "overload": "out-of-specification:overload",
    "over-range": "out-of-specification:over-range",
}


def category(state: str) -> str:
    """``check-function`` of ``check-function:bump-test``."""
    return state.split(":", 1)[0]


def is_state(text: str) -> bool:
    return STATE_PATTERN.match(text) is not None


def meaning_state(meaning: str) -> str | None:
    """The state a status bit's meaning stands for, or None if it is information only."""
    if is_state(meaning):
        return meaning
    return MEANING_STATES.get(meaning)


def worst(states: Iterable[str]) -> str:
    """The most important of ``states`` (``normal`` if there are none)."""
    found = NORMAL
    rank = 0
    for state in states:
        r = RANK[category(state)]
        if r > rank:
            found, rank = state, r
    return found


def activity(state: str) -> str | None:
    """The test a check-function state belongs to: ``calibration`` (zero, span, pre-, post-)
    or ``bump-test``; None for inhibit, warm-up and the rest."""
    if category(state) != CHECK_FUNCTION or ":" not in state:
        return None
    detail = state.split(":", 1)[1]
    for name in ACTIVITIES:
        if name in detail:
            return name
    return None


def outcome(state: str) -> str | None:
    """``passed`` / ``failed`` when the state says how a test ended (XNX 16-19), else None."""
    for result in ("passed", "failed"):
        if state.endswith(f"-{result}"):
            return result
    return None


def bit_range(bits: int | str | None, width_bits: int) -> tuple[int, int]:
    """(lowest bit, number of bits) of ``6``, ``"0-3"`` or None (the whole register)."""
    if bits is None:
        return 0, width_bits
    if isinstance(bits, int):
        return bits, 1
    low_text, _, high_text = bits.partition("-")
    low = int(low_text)
    high = int(high_text) if high_text else low
    if high < low:
        raise ValueError(f"bits {bits!r}: the high bit comes second (e.g. 0-3)")
    return low, high - low + 1


@dataclass(frozen=True, slots=True)
class CompiledField:
    """One field of one register: where its bits sit and what its values mean."""

    register: str
    shift: int
    mask: int
    values: Mapping[int, str]
    default: str
    heartbeat: float | None


class StateJudge:
    """The state of each value of a device, from the decoded words of one poll.

    ``fields`` apply to the values named in ``targets`` (None: every value of the device).
    A heartbeat field or register is judged for staleness: a value that has not changed for
    its ``heartbeat`` seconds means the instrument's processor has stopped
    (``failure:heartbeat-stopped``), even if the Modbus interface still answers.
    """

    def __init__(self, groups: list[tuple[frozenset[str] | None, list[CompiledField]]]) -> None:
        self.groups = groups
        self._seen: dict[tuple[str, int, int], tuple[int, float]] = {}  # field -> value, since

    def __bool__(self) -> bool:
        return bool(self.groups)

    def judge(self, values: Mapping[str, float | int], now: float) -> list[
        tuple[frozenset[str] | None, str]
    ]:
        """(targets, state) for every group whose state is not normal this poll."""
        out = []
        for targets, fields in self.groups:
            states = []
            for f in fields:
                raw = values.get(f.register)
                if raw is None:
                    if f.heartbeat is None:
                        states.append(STATUS_UNREADABLE)
                    continue
                value = (int(raw) >> f.shift) & f.mask
                if f.heartbeat is not None:
                    key = (f.register, f.shift, f.mask)
                    seen = self._seen.get(key)
                    if seen is None or seen[0] != value:
                        self._seen[key] = (value, now)
                    elif now - seen[1] >= f.heartbeat:
                        states.append(HEARTBEAT_STOPPED)
                    continue
                state = f.values.get(value, f.default)
                if state != NORMAL:
                    states.append(state)
            if states:
                out.append((targets, worst(states)))
        return out
