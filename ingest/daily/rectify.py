"""The rectification loop of an exceedance (整改闭环), h11-style: one table, no I/O.

open -> action recorded (who, what, when) -> re-check (a later compliant period of the same
point) -> closed. An illegal step raises ``IllegalStep`` and changes nothing. A recomputation
that no longer finds the exceedance withdraws it (a correction entry), from any state.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["open", "actioned", "rechecked", "closed", "withdrawn"]
Step = Literal["action", "recheck", "close"]
STATUSES: tuple[str, ...] = ("open", "actioned", "rechecked", "closed", "withdrawn")
STATUS_ZH = {"open": "待整改", "actioned": "已整改待复查", "rechecked": "复查合格",
             "closed": "已闭环", "withdrawn": "已撤销"}

# (status, step) -> next status. Every transition of the loop is here.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("open", "action"): "actioned",
    ("actioned", "action"): "actioned",
    ("actioned", "recheck"): "rechecked",
    ("rechecked", "action"): "actioned",  # more work after a re-check needs a new re-check
    ("rechecked", "close"): "closed",
}


class IllegalStep(ValueError):
    def __init__(self, status: str, step: str) -> None:
        allowed = sorted(s for (st, s) in TRANSITIONS if st == status)
        hint = f"allowed now: {', '.join(allowed)}" if allowed else "it is final"
        super().__init__(f"cannot {step} an exceedance that is {status} ({hint})")
        self.status, self.step = status, step


def next_status(status: str, step: str) -> str:
    try:
        return TRANSITIONS[(status, step)]
    except KeyError:
        raise IllegalStep(status, step) from None
