"""Which role may send which operator command: one table for the API and the gateway.

The API refuses a command its caller's role may not send before it signs anything (403);
the gateway applies the same table to the role named in the signed command, so a command
signed for a staff member is refused at the edge even if it reached the broker some other
way. Roles are those of API keys (``occmon.config.auth.Role``): a safety officer may do
everything, on-site staff may acknowledge, an inspector reads only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

from occmon.config.auth import Role

ROLES: tuple[str, ...] = get_args(Role)
_OFFICER = frozenset({"officer"})

COMMAND_ROLES: Mapping[str, frozenset[str]] = {
    "acknowledge": frozenset({"officer", "staff"}),
    "shelve": _OFFICER,
    "unshelve": _OFFICER,
    "resolve": _OFFICER,
    "out-of-service": _OFFICER,
    "in-service": _OFFICER,
    "override": _OFFICER,
    "reset": _OFFICER,
}


def refusal(role: str, command: str) -> str | None:
    """Why ``role`` may not send ``command`` (a sentence), or None if it may."""
    if role not in ROLES:
        return f"role {role!r} is not one of {list(ROLES)}"
    allowed = COMMAND_ROLES.get(command)
    if allowed is None:
        return f"command {command!r} is not one of {list(COMMAND_ROLES)}"
    if role not in allowed:
        return f"{command!r} is for {' or '.join(sorted(allowed))} only, not {role}"
    return None
