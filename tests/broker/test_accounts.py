"""``broker.accounts`` and ``Broker.login``: whose login each client uses, from where."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from occmon.config.mqttauth import MissingPassword, MqttAccounts, default_env, device_login, login
from occmon.config.schema import Broker


def test_without_accounts_every_role_uses_the_shared_login() -> None:
    broker = Broker(username="occmon", password="shared-secret")
    for role in ("gateway", "ingest", "api", "notifier"):
        assert broker.login(role) == ("occmon", "shared-secret")  # type: ignore[arg-type]
    assert device_login(broker, "wgas-1") == {"username": "occmon", "password": "shared-secret"}
    assert login(None, "api") == {"username": None, "password": None}


def test_each_role_logs_in_with_its_own_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCCMON_MQTT_PASSWORD_GATEWAY", "gw-password-123")
    monkeypatch.setenv("OCCMON_MQTT_PASSWORD_INGEST", "in-password-456")
    monkeypatch.setenv("API_BROKER_PW", "api-password-789")
    monkeypatch.setenv("OCCMON_MQTT_PASSWORD_WGAS_1", "wgas-password-0")
    broker = Broker(username="occmon", password="shared-secret", accounts=MqttAccounts(
        api={"username": "api-7", "password_env": "API_BROKER_PW"}))  # type: ignore[arg-type]
    assert broker.login("gateway") == ("occmon-gateway", "gw-password-123")
    assert broker.login("api") == ("api-7", "api-password-789")
    # no notifier of its own: the pushes go out on ingest's client, with ingest's account
    assert broker.login("notifier") == ("occmon-ingest", "in-password-456")
    assert login(broker, "ingest") == {"username": "occmon-ingest", "password": "in-password-456"}
    assert device_login(broker, "wgas-1") == {"username": "wgas-1",
                                              "password": "wgas-password-0"}


def test_a_missing_password_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCCMON_MQTT_PASSWORD_GATEWAY", raising=False)
    monkeypatch.setenv("OCCMON_MQTT_PASSWORD_API", "")
    broker = Broker(accounts=MqttAccounts())
    with pytest.raises(MissingPassword, match=r"\$OCCMON_MQTT_PASSWORD_GATEWAY, which is not set"):
        broker.login("gateway")
    with pytest.raises(MissingPassword, match=r"\$OCCMON_MQTT_PASSWORD_API"):  # empty = unset
        broker.login("api")


def test_per_run_passwords_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCCMON_MQTT_PASSWORD_GATEWAY", "from-the-environment")
    accounts = MqttAccounts().with_passwords({"occmon-gateway": "made-for-this-run"})
    assert Broker(accounts=accounts).login("gateway") == ("occmon-gateway", "made-for-this-run")
    assert Broker(accounts=MqttAccounts()).login("gateway")[1] == "from-the-environment"


@pytest.mark.parametrize("accounts", [
    {"gateway": {"password": "plain-text"}},  # a password never sits in the site file
    {"gateway": {"username": "has space"}},
    {"gateway": {"username": "wild/#"}},
    {"api": {"password_env": "1BAD"}},
    {"ingest": {"username": "occmon-gateway"}},
    {"devices": {"wgas-1": {"username": "occmon-api"}}},
    {"operator": {}},
])
def test_bad_accounts_are_refused_at_load(accounts: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Broker(accounts=accounts)  # type: ignore[arg-type]


def test_default_variable_names() -> None:
    assert default_env("gateway") == "OCCMON_MQTT_PASSWORD_GATEWAY"
    assert default_env("wgas-1") == "OCCMON_MQTT_PASSWORD_WGAS_1"
    assert default_env("gas.panel_2") == "OCCMON_MQTT_PASSWORD_GAS_PANEL_2"
