"""``occmon broker acl``: the rules it writes, what it refuses, and Mosquitto's hash format.

Whether Mosquitto enforces the files is tested against a running Mosquitto in
test_least_privilege.py; these tests need no broker.
"""

from __future__ import annotations

import base64
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from occmon import brokeracl
from occmon.cli import main as cli
from occmon.config import load
from occmon.config.mqttauth import MissingPassword
from occmon.config.schema import SiteConfig
from tests.broker.support import R, demo_doc, environ_for
from tests.servers import missing_server

ROOT = Path(__file__).resolve().parents[2]


def config_of(tmp_path: Path, doc: dict[str, Any]) -> SiteConfig:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load(path)


def dev(doc: dict[str, Any], device_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in doc["devices"] if d["id"] == device_id)
    return found


@pytest.mark.parametrize(("a", "b", "overlap"), [
    ("a/b", "a/b", True), ("a/b", "a/c", False), ("a/+", "a/c", True),
    ("a/#", "a", True),  # '#' also matches the parent level
    ("a/#", "b/c", False), ("#", "occmon/v1/x", True), ("+/v1/x", "occmon/#", True),
    ("vendor/a/data", "vendor/+/data", True), ("vendor/a/data", "vendor/a/data/x", False),
    ("a/b/c", "a/b", False), ("+", "a/b", False),
])
def test_overlaps(a: str, b: str, overlap: bool) -> None:
    assert brokeracl.overlaps(a, b) is overlap
    assert brokeracl.overlaps(b, a) is overlap


@pytest.mark.parametrize(("topic", "pattern", "match"), [
    ("a/b", "a/b", True), ("a/b", "a/+", True), ("a/b/c", "a/+", False), ("a", "a/#", True),
    ("a/b/c", "a/#", True), ("b/c", "a/#", False), ("a/b", "a/b/c", False),
])
def test_matches(topic: str, pattern: str, match: bool) -> None:
    assert brokeracl.matches(topic, pattern) is match


@pytest.mark.parametrize(("pattern", "sub", "covered"), [
    ("a/#", "a/#", True), ("a/#", "a/b/+", True), ("a/+", "a/b", True), ("a/+", "a/#", False),
    ("a/b", "a/+", False), ("a/b", "a/b", True), ("a/b/#", "a/+/c", False), ("#", "x/#", True),
])
def test_covers(pattern: str, sub: str, covered: bool) -> None:
    assert brokeracl.covers(pattern, sub) is covered


def test_the_demo_grants_each_account_its_topics(tmp_path: Path) -> None:
    config = config_of(tmp_path, demo_doc(1883))
    grants = {g.username: g for g in brokeracl.grants(config)}
    assert list(grants) == ["occmon-gateway", "occmon-ingest", "occmon-api",
                            "occmon-annunciator", "wgas-1", "noise-dosimeter-7", "raddos-1"]
    device = grants["noise-dosimeter-7"]
    assert device.cred.password_env == "NOISE_PW"
    assert device.rules == (brokeracl.Rule("write", "vendor/noisedos/noisedos-1/data"),)
    assert grants["raddos-1"].cred.password_env == "OCCMON_MQTT_PASSWORD_RADDOS_1"
    gateway = grants["occmon-gateway"].rules
    assert brokeracl.Rule("read", "vendor/wgas/wgas-1/data") in gateway
    assert brokeracl.Rule("read", f"{R}/commands/request") in gateway
    assert not any(r.topic == f"{R}/commands/request" and r.access == "write"
                   for g in grants.values() if g.username != "occmon-api" for r in g.rules)
    text = brokeracl.acl_text(config, list(grants.values()))
    first_user = text.index("\nuser ")
    assert "topic " not in text[:first_user]  # nothing for anonymous clients
    assert "user wgas-1\ntopic write vendor/wgas/wgas-1/data\n" in text
    # the annunciator panel: reads pushes and heartbeats, writes nothing (not even a will)
    assert (f"user occmon-annunciator\ntopic read {R}/annunciator\n"
            f"topic read {R}/status/gateway\ntopic read {R}/status/ingest\n") in text
    assert not [r for r in grants["occmon-annunciator"].rules if r.access == "write"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["broker"].pop("accounts"), "broker.accounts is missing"),
    (lambda d: dev(d, "wgas-1").update(topic="occmon/v1/demo-plant/commands/request"),
     "overlaps occmon/"),
    (lambda d: dev(d, "wgas-1").update(topic="#"), "overlaps occmon/"),
    (lambda d: dev(d, "wgas-1").update(topic="+/v1/+/events/alarm"), "overlaps occmon/"),
    (lambda d: dev(d, "wgas-1").update(topic="$SYS/x"), "overlaps occmon/"),
    (lambda d: dev(d, "noisedos-1").update(topic="vendor/wgas/+/data"), "overlap, so one could"),
    (lambda d: d["broker"]["accounts"]["devices"].update(nope={}), "no MQTT device 'nope'"),
    (lambda d: d["broker"]["accounts"]["devices"].update(
        {"wgas-1": {"username": "occmon-gateway"}}), "share username 'occmon-gateway'"),
])
def test_unsafe_accounts_or_topics_are_refused(
        tmp_path: Path, change: Any, message: str) -> None:
    doc = demo_doc(1883)
    change(doc)
    try:
        config = config_of(tmp_path, doc)
    except Exception as exc:  # a clash inside accounts: is caught when the file loads
        assert message in str(exc)
        return
    with pytest.raises(brokeracl.AclError, match=message.replace("$", r"\$")):
        brokeracl.grants(config)


def test_a_device_named_like_a_role_account_is_refused(tmp_path: Path) -> None:
    doc = demo_doc(1883)
    dev(doc, "wgas-1")["id"] = "occmon-api"
    for sensor in doc["sensors"]:
        if sensor["device"] == "wgas-1":
            sensor["device"] = "occmon-api"
    config = config_of(tmp_path, doc)
    with pytest.raises(brokeracl.AclError, match="share username 'occmon-api'"):
        brokeracl.grants(config)


def test_missing_and_weak_passwords_are_named(tmp_path: Path) -> None:
    config = config_of(tmp_path, demo_doc(1883))
    environ = environ_for(config)
    del environ["OCCMON_MQTT_PASSWORD_API"]
    environ["NOISE_PW"] = "change-me-mqtt-noisedos-1"
    environ["OCCMON_MQTT_PASSWORD_WGAS_1"] = "short"
    accounts = brokeracl.accounts_of(config)
    with pytest.raises(MissingPassword) as caught:
        brokeracl.passwords(accounts, brokeracl.grants(config), environ)
    text = str(caught.value)
    assert "$OCCMON_MQTT_PASSWORD_API, which is not set" in text
    assert "$NOISE_PW (device 'noisedos-1')" in text
    assert "$OCCMON_MQTT_PASSWORD_WGAS_1 (device 'wgas-1')" in text
    assert "GATEWAY" not in text


def test_hash_is_mosquittos_own_format() -> None:
    """mosquitto_passwd's hash, recomputed from its salt and count, comes out identical."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        missing_server("mosquitto_passwd", "apt-get install -y mosquitto")
    assert tool is not None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pw"
        subprocess.run([tool, "-c", "-b", str(path), "alice", "s3cret-Passw0rd"], check=True)
        theirs = path.read_text().strip().split(":", 1)[1]
    _, seven, iterations, salt, _digest = theirs.split("$")
    assert seven == "7"
    ours = brokeracl.hash_password("s3cret-Passw0rd", salt=base64.b64decode(salt),
                                   iterations=int(iterations))
    assert ours == theirs
    assert brokeracl.hash_password("s3cret-Passw0rd", salt=base64.b64decode(salt),
                                   iterations=int(iterations) + 1) != theirs


def test_cli_writes_acl_and_private_passwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config_of(tmp_path, demo_doc(1883))
    for key, value in environ_for(load(tmp_path / "site.yaml")).items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    assert cli(["broker", "acl", str(tmp_path / "site.yaml"), "--out", str(out)]) == 0
    passwd = (out / "passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in passwd] == [
        "occmon-gateway", "occmon-ingest", "occmon-api", "occmon-annunciator", "wgas-1",
        "noise-dosimeter-7", "raddos-1"]
    assert all(line.split(":", 1)[1].startswith("$7$10000$") for line in passwd)
    assert stat.S_IMODE((out / "passwd").stat().st_mode) == 0o600
    assert "user occmon-api" in (out / "acl").read_text()
    monkeypatch.delenv("OCCMON_MQTT_PASSWORD_INGEST")
    again = tmp_path / "again"
    assert cli(["broker", "acl", str(tmp_path / "site.yaml"), "--out", str(again)]) == 2
    assert "$OCCMON_MQTT_PASSWORD_INGEST, which is not set" in capsys.readouterr().err
    assert not again.exists()  # nothing half-written
    assert cli(["broker", "acl", str(tmp_path / "site.yaml"), "--out", str(again),
                "--acl-only"]) == 0
    assert sorted(p.name for p in again.iterdir()) == ["acl"]


def test_the_committed_deploy_acl_is_generated_from_the_stack_site(tmp_path: Path) -> None:
    """deploy/mosquitto/acl must not drift from deploy/occmon/site.yaml."""
    config = load(ROOT / "deploy/occmon/site.yaml")
    brokeracl.write(config, tmp_path, {}, with_passwords=False)
    assert (tmp_path / "acl").read_text() == (ROOT / "deploy/mosquitto/acl").read_text()
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    for line in ("allow_anonymous false", "password_file /mosquitto/data/passwd",
                 "acl_file /mosquitto/config/acl"):
        assert f"\n{line}\n" in conf
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert "./deploy/mosquitto/acl:/mosquitto/config/acl:ro" in (
        compose["services"]["mosquitto"]["volumes"])
    env = (ROOT / ".env.example").read_text()
    for grant in brokeracl.grants(config):
        assert f"\n{grant.cred.password_env}=change-me" in env


def test_the_compose_broker_will_not_start_without_a_password_file(tmp_path: Path) -> None:
    """The mosquitto service's start command (paths moved into tmp_path): no passwd, a
    clear message and exit 1; the shell syntax of the whole command is checked too."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    command = compose["services"]["mosquitto"]["command"][0].replace("$$", "$")
    assert subprocess.run(["sh", "-n", "-c", command]).returncode == 0
    (tmp_path / "config").mkdir()
    local = re.sub(r"(?<![\w/])/mosquitto/", f"{tmp_path}/", command)
    result = subprocess.run(["sh", "-c", local], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "deploy/mosquitto/passwd is missing: run occmon broker acl" in result.stderr
