"""``broker.accounts``: one MQTT login per occmon role and per vendor MQTT device.

With one shared broker account every client may publish anything, so a sensor or a vendor
box that holds it can forge operator commands, alarm events or another device's readings.
Per-role accounts let the broker's ACL (``occmon broker acl``, occmon/brokeracl.py) give
each client only the topics its job needs.

Passwords are never in the site file: each account names the environment variable that
holds its password (default ``OCCMON_MQTT_PASSWORD_<NAME>``, e.g.
``OCCMON_MQTT_PASSWORD_GATEWAY``, ``OCCMON_MQTT_PASSWORD_WGAS_1`` for device ``wgas-1``).
Without ``accounts:`` every role logs in with ``broker.username`` / ``broker.password`` as
before.

``annunciator`` is not a role: it is the login of a control-room annunciator panel (or an
HMI screen) outside occmon that only reads the alarm pushes and the heartbeats. No occmon
component logs in as it (``login()`` takes a ``Role``), so its rules stay read-only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Literal, NamedTuple, TypedDict

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

if TYPE_CHECKING:
    from occmon.config.schema import Broker

Role = Literal["gateway", "ingest", "api", "notifier"]
ROLES: tuple[Role, ...] = ("gateway", "ingest", "api", "notifier")
Reader = Literal["annunciator"]  # an outside reader's account: never an occmon client's login
READERS: tuple[Reader, ...] = ("annunciator",)
ENV_PREFIX = "OCCMON_MQTT_PASSWORD_"

# A username goes verbatim into Mosquitto's password and ACL files: no blanks, no ':',
# no MQTT wildcards.
Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class MissingPassword(ValueError):
    """An account's password variable is unset or empty; the message names it and the fix."""


def default_env(name: str) -> str:
    """``OCCMON_MQTT_PASSWORD_`` + the role or device id, upper case, ``[^A-Z0-9]`` -> ``_``."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


class Credential(NamedTuple):
    """Who logs in (``who``: role or ``device 'id'``), as which user, with which variable."""

    who: str
    username: str
    password_env: str


class Login(TypedDict):
    """Keyword arguments of every occmon MQTT client: ``Publisher(..., **login(b, role))``."""

    username: str | None
    password: str | None


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: Username | None = Field(
        default=None, description="default: occmon-<role> for a role, the id for a device")
    password_env: EnvName | None = Field(
        default=None,
        description="variable holding the password; default OCCMON_MQTT_PASSWORD_<NAME>")


class MqttAccounts(BaseModel):
    """``broker.accounts``; ``accounts: {}`` gives every role its default account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateway: Account = Account()
    ingest: Account = Account()
    api: Account = Account()
    notifier: Account | None = Field(
        default=None,
        description="a separate notifier process; today ingest sends the annunciator pushes "
        "on its own client, so without this the notifier logs in as ingest")
    annunciator: Account | None = Field(
        default=None,
        description="a read-only login for a control-room annunciator panel: it may read the "
        "alarm pushes and the gateway and ingest heartbeats, and publish nothing")
    devices: dict[Slug, Account] = Field(
        default_factory=dict, description="vendor MQTT device id -> its account (optional)")
    # per-run passwords by username (the embedded broker's); never read from a file
    _given: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _distinct(self) -> MqttAccounts:
        seen: dict[str, str] = {}
        for cred in self.roles() + self.readers() + [self.device(d) for d in self.devices]:
            if cred.username in seen:
                raise ValueError(
                    f"{cred.who} and {seen[cred.username]} share username {cred.username!r}; "
                    "every account needs its own username (the ACL is per username)")
            seen[cred.username] = cred.who
        return self

    def role(self, role: Role) -> Credential:
        if role not in ROLES:  # e.g. "annunciator": an outside reader, never our client
            raise ValueError(f"{role!r} is not an occmon role; roles are {list(ROLES)}")
        account = getattr(self, role)
        if account is None:  # the notifier's pushes go out on ingest's client
            return self.role("ingest")
        return Credential(role, account.username or f"occmon-{role}",
                          account.password_env or default_env(role))

    def roles(self) -> list[Credential]:
        """The configured role accounts (the notifier only when it has its own)."""
        return [self.role(r) for r in ROLES if r != "notifier" or self.notifier is not None]

    def reader(self, reader: Reader, *, configured: bool = True) -> Credential | None:
        """The account of an outside reader (the annunciator panel), or None when it is not
        configured; ``configured=False`` gives its default account anyway (the embedded
        broker, which has no ``accounts:``, offers it when its variable is set)."""
        account = getattr(self, reader)
        if account is None:
            if configured:
                return None
            account = Account()
        return Credential(reader, account.username or f"occmon-{reader}",
                          account.password_env or default_env(reader))

    def readers(self) -> list[Credential]:
        """The configured outside readers' accounts."""
        return [c for c in (self.reader(r) for r in READERS) if c is not None]

    def device(self, device_id: str) -> Credential:
        account = self.devices.get(device_id, Account())
        return Credential(f"device {device_id!r}", account.username or device_id,
                          account.password_env or default_env(device_id))

    def password(self, cred: Credential, environ: Mapping[str, str] | None = None) -> str:
        """The password of ``cred``: a per-run one if given, else its variable's value."""
        if cred.username in self._given:
            return self._given[cred.username]
        value = (os.environ if environ is None else environ).get(cred.password_env, "")
        if not value:
            raise MissingPassword(
                f"broker.accounts: {cred.who} (user {cred.username!r}) takes its password "
                f"from ${cred.password_env}, which is not set; set it (see .env.example)")
        return value

    def with_passwords(self, passwords: Mapping[str, str]) -> MqttAccounts:
        """A copy whose logins use these passwords (by username) instead of the environment:
        the embedded broker's random per-run passwords, handed to the in-process clients."""
        copy = self.model_copy()
        copy._given = dict(passwords)
        return copy


def check_logins(broker: Broker | None, roles: tuple[Role, ...]) -> None:
    """Raise MissingPassword naming every unset variable of these roles: a process checks
    at start, rather than its first connect (or an operator's first command) failing."""
    problems = []
    for role in roles:
        try:
            if broker is not None:
                broker.login(role)
        except MissingPassword as exc:
            problems.append(str(exc))
    if problems:
        raise MissingPassword("\n".join(problems))


def login(broker: Broker | None, role: Role) -> Login:
    """The login of ``role`` on ``broker`` as client keyword arguments (none: anonymous)."""
    if broker is None:
        return Login(username=None, password=None)
    username, password = broker.login(role)
    return Login(username=username, password=password)


def device_login(broker: Broker | None, device_id: str) -> Login:
    """The login of a vendor MQTT device (a simulator publishing as that device)."""
    if broker is None:
        return Login(username=None, password=None)
    if broker.accounts is None:
        return Login(username=broker.username, password=broker.password)
    cred = broker.accounts.device(device_id)
    return Login(username=cred.username, password=broker.accounts.password(cred))
