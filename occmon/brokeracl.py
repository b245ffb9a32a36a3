"""``occmon broker acl CONFIG --out DIR``: least privilege on the MQTT broker.

Writes Mosquitto's ACL file (``DIR/acl``) and password file (``DIR/passwd``) for the site's
accounts (``broker.accounts``, occmon/config/mqttauth.py): each occmon role may publish and
subscribe only the topics its job needs (``ROLE_RULES``), and each vendor MQTT device may
publish only its own topic, so a sensor or vendor box that holds broker credentials cannot
forge operator commands, alarm events, point state or another device's readings.

The same rules (``grants``) drive the embedded broker of ``occmon run`` (occmon/broker.py).
Passwords come from the environment; the password file holds only PBKDF2-SHA512 hashes in
Mosquitto's own ``$7$`` format, written here without ``mosquitto_passwd``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from occmon.config.mqttauth import Credential, MissingPassword, MqttAccounts, Reader, Role
from occmon.config.schema import MqttDevice, SiteConfig

Access = Literal["read", "write"]

# What each role (and the outside annunciator panel) may do, relative to the site root
# occmon/v1/{site} ("~"). docs/topics.md has the same table for people; tests/broker checks
# it against a real Mosquitto.
ROLE_RULES: dict[Role | Reader, tuple[tuple[Access, str], ...]] = {
    "gateway": (
        ("write", "~/readings"),
        ("write", "~/readings/#"),
        ("write", "~/series/#"),  # payload v2: the series its readings name, retained
        ("write", "~/events/#"),
        ("write", "~/state/#"),
        ("write", "~/status/gateway"),
        ("write", "~/status/device/#"),
        ("write", "~/commands/result"),
        ("write", "~/annunciator"),  # its own system alarms, when ingest (the notifier) is down
        ("read", "~/commands/request"),
        ("read", "~/status/ingest"),  # ingest's heartbeat: a dead ingest is a system alarm
        # + read on every vendor device's topic (the MQTT intake), added in grants()
    ),
    "ingest": (
        ("read", "~/#"),
        ("write", "~/annunciator"),
        ("write", "~/status/ingest"),
        ("read", "$SYS/broker/uptime"),  # broker liveness: the compose health check
    ),
    "api": (
        ("write", "~/commands/request"),
        ("read", "~/commands/result"),
        ("write", "~/status/api"),
        ("read", "~/status/gateway"),  # heartbeats: /healthz judges gateway and ingest
        ("read", "~/status/ingest"),
    ),
    "notifier": (
        ("write", "~/annunciator"),
    ),
    # a control-room panel outside occmon: reads pushes, writes nothing (no will either).
    # The heartbeats carry no personal data and let it show "monitoring offline" rather
    # than a silent (all quiet looking) annunciator when the senders of pushes are down.
    "annunciator": (
        ("read", "~/annunciator"),
        ("read", "~/status/gateway"),
        ("read", "~/status/ingest"),
    ),
}

PBKDF2_ITERATIONS = 10_000  # Mosquitto reads the count from each hash; its own default is 101
SALT_BYTES = 12  # as mosquitto_passwd
MIN_PASSWORD = 12


class AclError(ValueError):
    """The site's accounts or device topics cannot be made into a safe ACL; says why and how."""


@dataclass(frozen=True)
class Rule:
    access: Access
    topic: str


@dataclass(frozen=True)
class Grant:
    """One broker account and everything it may do."""

    cred: Credential
    rules: tuple[Rule, ...]

    @property
    def username(self) -> str:
        return self.cred.username


def overlaps(a: str, b: str) -> bool:
    """Whether some topic matches both filters (MQTT semantics: ``x/#`` also matches ``x``)."""
    pa, pb = a.split("/"), b.split("/")
    for i in range(max(len(pa), len(pb))):
        if i >= len(pa) or i >= len(pb):
            longer = pa if len(pa) > len(pb) else pb
            return longer[i] == "#"
        if "#" in (pa[i], pb[i]):
            return True
        if "+" in (pa[i], pb[i]) or pa[i] == pb[i]:
            continue
        return False
    return True


def matches(topic: str, pattern: str) -> bool:
    """Whether a concrete topic is matched by a filter (``+`` one level, ``#`` the rest)."""
    tp, pp = topic.split("/"), pattern.split("/")
    for i, level in enumerate(pp):
        if level == "#":
            return True
        if i >= len(tp) or (level != "+" and level != tp[i]):
            return False
    return len(tp) == len(pp)


def covers(pattern: str, sub: str) -> bool:
    """Whether every topic a subscription filter ``sub`` matches is matched by ``pattern``."""
    pp, sp = pattern.split("/"), sub.split("/")
    for i, level in enumerate(pp):
        if level == "#":
            return True
        if i >= len(sp):
            return False
        if level == "+":
            if sp[i] == "#":
                return False
            continue
        if sp[i] != level:
            return False
    return len(sp) == len(pp)


def accounts_of(config: SiteConfig) -> MqttAccounts:
    if config.broker is None or config.broker.accounts is None:
        raise AclError(
            "broker.accounts is missing: the ACL is per account. Add `accounts: {}` under "
            "`broker:` for the default accounts (occmon-gateway, occmon-ingest, occmon-api, "
            "one per vendor MQTT device), see docs/topics.md")
    return config.broker.accounts


def _check_devices(config: SiteConfig, accounts: MqttAccounts) -> list[MqttDevice]:
    devices = [d for d in config.devices if isinstance(d, MqttDevice)]
    known = {d.id for d in devices}
    for device_id in accounts.devices:
        if device_id not in known:
            raise AclError(f"broker.accounts.devices.{device_id}: no MQTT device {device_id!r} "
                           f"in devices:; MQTT devices are {sorted(known)}")
    for i, device in enumerate(devices):
        topic = device.topic
        if topic.startswith("$") or overlaps(topic, "occmon/#"):
            raise AclError(
                f"device {device.id!r}: topic {topic!r} overlaps occmon/..., so its account "
                "could write occmon's own topics; give the device a topic outside occmon/")
        for other in devices[:i]:
            if overlaps(topic, other.topic):
                raise AclError(
                    f"devices {other.id!r} and {device.id!r}: topics {other.topic!r} and "
                    f"{topic!r} overlap, so one could publish as the other; make them disjoint")
    return devices


def grants(config: SiteConfig, accounts: MqttAccounts | None = None) -> list[Grant]:
    """Every account of the site with its rules; raises AclError naming the fix."""
    accounts = accounts or accounts_of(config)
    devices = _check_devices(config, accounts)
    root = f"occmon/v1/{config.site.id}"
    out: list[Grant] = []
    for cred in accounts.roles():
        role: Role = cred.who  # type: ignore[assignment]  # roles() names roles
        rules = [Rule(a, t.replace("~", root, 1)) for a, t in ROLE_RULES[role]]
        if role == "gateway":
            rules += [Rule("read", d.topic) for d in devices]
        out.append(Grant(cred, tuple(rules)))
    for cred in accounts.readers():
        reader: Reader = cred.who  # type: ignore[assignment]  # readers() names readers
        out.append(Grant(cred, tuple(Rule(a, t.replace("~", root, 1))
                                     for a, t in ROLE_RULES[reader])))
    out += [Grant(accounts.device(d.id), (Rule("write", d.topic),)) for d in devices]
    seen: dict[str, str] = {}
    for grant in out:
        if grant.username in seen:
            raise AclError(
                f"{grant.cred.who} and {seen[grant.username]} share username "
                f"{grant.username!r}; set broker.accounts.devices.<id>.username")
        seen[grant.username] = grant.cred.who
    return out


def acl_text(config: SiteConfig, grant_list: Sequence[Grant]) -> str:
    lines = [
        f"# Mosquitto ACL for site {config.site.id!r}: written by `occmon broker acl`; do not",
        "# edit, change the site file and generate again. No rule before the first `user`:",
        "# an anonymous client (refused anyway: allow_anonymous false) may do nothing.",
    ]
    for grant in grant_list:
        lines += ["", f"# {grant.cred.who}: password from ${grant.cred.password_env}",
                  f"user {grant.username}"]
        lines += [f"topic {r.access} {r.topic}" for r in grant.rules]
    return "\n".join(lines) + "\n"


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto's ``$7$`` hash: PBKDF2-HMAC-SHA512 over the raw salt, both base64."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def passwords(accounts: MqttAccounts, grant_list: Sequence[Grant],
              environ: Mapping[str, str]) -> dict[str, str]:
    """Username -> password from the environment; raises MissingPassword naming every gap."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for grant in grant_list:
        try:
            value = accounts.password(grant.cred, environ)
        except MissingPassword as exc:
            problems.append(str(exc))
            continue
        if len(value) < MIN_PASSWORD or value.startswith("change-me"):
            problems.append(f"${grant.cred.password_env} ({grant.cred.who}): use a random "
                            f"password of at least {MIN_PASSWORD} characters, e.g. "
                            "python -c 'import secrets; print(secrets.token_urlsafe(24))'")
            continue
        out[grant.username] = value
    if problems:
        raise MissingPassword("\n".join(problems))
    return out


def passwd_text(secrets_by_user: Mapping[str, str]) -> str:
    return "".join(f"{user}:{hash_password(pw)}\n" for user, pw in secrets_by_user.items())


def write(config: SiteConfig, out: Path, environ: Mapping[str, str],
          with_passwords: bool = True) -> list[Path]:
    """Write ``out/acl`` and (``with_passwords``) ``out/passwd`` (mode 0600); return them."""
    accounts = accounts_of(config)
    grant_list = grants(config, accounts)
    secret = passwords(accounts, grant_list, environ) if with_passwords else None
    out.mkdir(parents=True, exist_ok=True)
    acl = out / "acl"
    acl.write_text(acl_text(config, grant_list), encoding="utf-8")
    written = [acl]
    if secret is not None:
        passwd = out / "passwd"
        fd = os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(passwd_text(secret))
        os.chmod(passwd, 0o600)
        written.append(passwd)
    return written


def main(argv: list[str], environ: Mapping[str, str] | None = None) -> int:
    from occmon.config import ConfigError, load

    parser = argparse.ArgumentParser(
        prog="occmon broker acl",
        description="Mosquitto ACL and password file for the site's broker accounts")
    parser.add_argument("config", type=Path, help="site configuration (YAML)")
    parser.add_argument("--out", type=Path, required=True, help="folder for acl and passwd")
    parser.add_argument("--acl-only", action="store_true",
                        help="write only the ACL (no passwords needed)")
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
        written = write(config, args.out, os.environ if environ is None else environ,
                        with_passwords=not args.acl_only)
    except ConfigError as exc:
        print(f"occmon broker acl: invalid config:\n{exc}", file=sys.stderr)
        return 2
    except (AclError, MissingPassword) as exc:
        print(f"occmon broker acl: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0
