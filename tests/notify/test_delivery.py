"""Pushes over real sockets: webhooks to a local HTTP server, mail to aiosmtpd, MQTT."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from email.message import EmailMessage
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.notify import DeliveryRecord, Notifier, build_senders
from occmon import topics
from occmon.mqttclient import stop_loop
from tests.notify.servers import http_sink, smtp_sink
from tests.notify.support import (
    POINTS,
    Clock,
    Log,
    config,
    fault_raised,
    raised,
    ventilation_failure,
)
from tests.servers import Mosquitto

SECRET = "SECtest0123456789"


def notifier(cfg: Any, log: Log, clock: Clock | None = None, **env: str) -> Notifier:
    senders = build_senders(cfg.channels, env, annunciator_topic="unused", publish=None,
                            clock_ms=lambda: int(time.time() * 1000))
    return Notifier(cfg, senders, site="demo-plant", points=POINTS,
                    clock=clock or time.time, on_delivery=log)


def test_three_webhook_formats_delivered_and_dingtalk_signature_verified() -> None:
    with http_sink(SECRET) as sink:
        cfg = config([
            {"id": "hook", "type": "webhook", "url": sink.url("/hook"), "token_env": "TOKEN"},
            {"id": "wecom", "type": "wecom", "url_env": "WECOM_URL"},
            {"id": "ding", "type": "dingtalk", "url": sink.url("/dingtalk?access_token=abc"),
             "secret_env": "DING_SECRET"},
        ])
        log = Log()
        note = notifier(cfg, log, TOKEN="t0k", WECOM_URL=sink.url("/wecom?key=k1"),
                        DING_SECRET=SECRET)
        try:
            note.submit(raised("desulf-h2s-1"))
            assert log.wait(lambda: len(log.records) == 3)
        finally:
            note.stop()
    assert {r.status for r in log.records} == {"sent"}
    (hook,) = sink.of("/hook")
    assert hook.headers["Authorization"] == "Bearer t0k"
    assert hook.body["version"] == 1 and hook.body["site"] == "demo-plant"
    (alarm,) = hook.body["alarms"]
    assert (alarm["alarm_id"], alarm["level"], alarm["value"], alarm["setpoint"]) == (
        "desulf-h2s-1:process", "high_alarm", 25.0, 20.0)
    assert alarm["name_zh"] == "脱硫泵房硫化氢" and alarm["area"] == "desulf"
    (wecom,) = sink.of("/wecom")
    assert wecom.query == {"key": "k1"}
    assert wecom.body["msgtype"] == "markdown"
    assert "脱硫泵房硫化氢" in wecom.body["markdown"]["content"]
    (ding,) = sink.of("/dingtalk")
    assert sink.signature_ok == [True]
    assert ding.query["access_token"] == "abc"
    assert abs(int(ding.query["timestamp"]) / 1000 - time.time()) < 3600
    assert ding.body["msgtype"] == "markdown" and set(ding.body["markdown"]) == {"title", "text"}
    assert "@13800000001" in ding.body["markdown"]["text"]
    # the delivery log never carries the token-bearing query string
    assert all("?" not in r.target for r in log.records)


def test_wrong_dingtalk_secret_is_refused_and_not_retried() -> None:
    with http_sink(SECRET) as sink:
        cfg = config([{"id": "ding", "type": "dingtalk", "url": sink.url("/dingtalk?a=1"),
                       "secret_env": "S"}])
        log = Log()
        note = notifier(cfg, log, S="wrong-secret")
        try:
            note.submit(raised("desulf-h2s-1"))
            assert log.wait(lambda: len(log.records) == 1)
        finally:
            note.stop()
    (record,) = log.records
    assert (record.status, record.code) == ("gave-up", "robot-310000")
    assert sink.signature_ok == [False]


def test_retry_with_backoff_after_500() -> None:
    with http_sink() as sink:
        sink.statuses["/hook"] = [500, 503]
        cfg = config([{"id": "hook", "type": "webhook", "url": sink.url("/hook")}])
        log = Log()
        clock = Clock(1000.0)
        note = notifier(cfg, log, clock)
        try:
            note.submit(raised("desulf-h2s-1"))
            assert log.wait(lambda: len(log.records) == 1)
            note.pump(1000.4)  # first retry due at +0.5 s
            note.drain()
            assert len(log.records) == 1
            clock.now = 1000.5
            note.pump()
            assert log.wait(lambda: len(log.records) == 2)
            clock.now = 1001.4  # second retry due 1 s after the second failure
            note.pump()
            note.drain()
            assert len(log.records) == 2
            clock.now = 1001.5
            note.pump()
            assert log.wait(lambda: len(log.records) == 3)
        finally:
            note.stop()
    assert [(r.status, r.code, r.attempt) for r in log.records] == [
        ("failed", "http-500", 1), ("failed", "http-503", 2), ("sent", "", 3)]
    assert len(sink.of("/hook")) == 3
    assert note.counters["notify.sent"] == 1 and note.counters["notify.failed.http-500"] == 1


def test_a_hanging_endpoint_does_not_block_other_channels() -> None:
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)  # accepts connections, never answers
    try:
        with http_sink() as sink:
            cfg = config([
                {"id": "dead", "type": "webhook", "timeout": 6.0,
                 "url": f"http://127.0.0.1:{hang.getsockname()[1]}/hook"},
                {"id": "wecom", "type": "wecom", "url": sink.url("/wecom")},
            ])
            log = Log()
            note = notifier(cfg, log)
            try:
                note.submit(raised("desulf-h2s-1"))
                assert log.wait(lambda: bool(log.of("wecom")), timeout=5.0)
                assert log.of("dead") == []  # still waiting on its own thread
                assert log.wait(lambda: bool(log.of("dead")), timeout=20.0)
            finally:
                note.stop()
    finally:
        hang.close()
    assert log.of("wecom")[0].status == "sent"
    assert log.of("dead")[0].status == "failed" and log.of("dead")[0].code == "http-error"


def test_email_to_a_real_smtp_server_in_both_languages() -> None:
    with smtp_sink() as (port, mails):
        cfg = config([{"id": "mail", "type": "email", "port": port,
                       "sender": "occmon@plant.example"}])
        log = Log()
        note = notifier(cfg, log)
        try:
            note.submit(raised("ammonia-nh3-1", value=22.0))
            assert log.wait(lambda: len(log.records) == 1)
        finally:
            note.stop()
    assert log.records[0].status == "sent" and log.records[0].target == "li@plant.example"
    (mail,) = mails
    assert mail.recipients == ["li@plant.example"]
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "高报报警: 储罐区氨 / HIGH ALARM RAISED: Tank farm NH3"
    assert parsed["X-Occmon-Alarms"] == "ammonia-nh3-1:process"
    body = parsed.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "测量值 22 mg/m3" in text and "value 22 mg/m3" in text


def test_escalation_to_the_next_group_after_the_delay() -> None:
    with smtp_sink() as (port, mails):
        cfg = config(
            [{"id": "mail", "type": "email", "port": port, "sender": "occmon@plant.example"}],
            groups=[{"id": "shift", "contacts": ["li"], "channels": ["mail"]},
                    {"id": "managers", "contacts": ["boss"], "channels": ["mail"]}],
            escalation=[{"group": "shift", "after": 0}, {"group": "managers", "after": 300}])
        log = Log()
        clock = Clock(1000.0)
        note = notifier(cfg, log, clock)
        try:
            note.submit(raised("desulf-h2s-1", time=1000.0))
            ammonia = raised("ammonia-nh3-1", time=1000.0)
            note.submit(ammonia)
            assert log.wait(lambda: len(log.records) == 2)
            clock.now = 1299.0
            note.pump()
            note.drain()
            assert len(log.records) == 2
            # ammonia is acknowledged in time: only H2S escalates
            note.submit({**ammonia, "event": "acknowledged", "time": 1200.0})
            clock.now = 1300.0
            note.pump()
            assert log.wait(lambda: len(log.records) == 3)
        finally:
            note.stop()
    escalated = log.records[2]
    assert (escalated.group, escalated.step, escalated.alarm_ids) == (
        "managers", 1, ("desulf-h2s-1:process",))
    assert mails[2].recipients == ["boss@plant.example"]
    assert "[ESCALATION]" in email.message_from_bytes(mails[2].data)["Subject"]
    assert note.open_alarms() == ["desulf-h2s-1:process"]


def test_follow_ups_of_one_area_within_the_window_share_one_message() -> None:
    with http_sink() as sink:
        cfg = config([{"id": "hook", "type": "webhook", "url": sink.url("/hook")}],
                     group_window=30)
        log = Log()
        clock = Clock(1000.0)
        note = notifier(cfg, log, clock)
        try:
            note.submit(raised("desulf-h2s-1"))  # first push: at once
            clock.now = 1005.0
            note.submit(raised("desulf-h2s-2"))  # first push of another alarm: at once too
            note.submit(raised("ammonia-nh3-1"))  # other area: at once
            assert log.wait(lambda: len(log.records) == 3)
            clock.now = 1006.0  # re-raises of latched alarms: follow-ups, they wait
            note.submit({**raised("desulf-h2s-1"), "occurrence": 2})
            note.submit({**raised("desulf-h2s-2"), "occurrence": 2})
            clock.now = 1034.9  # the window restarted with the push at 1005
            note.pump()
            note.drain()
            assert len(log.records) == 3
            clock.now = 1035.0
            note.pump()
            assert log.wait(lambda: len(log.records) == 4)
        finally:
            note.stop()
    bodies = [[a["alarm_id"] for a in r.body["alarms"]] for r in sink.of("/hook")]
    assert sorted(bodies[:3]) == sorted([["desulf-h2s-1:process"], ["desulf-h2s-2:process"],
                                         ["ammonia-nh3-1:process"]])
    assert bodies[3] == ["desulf-h2s-1:process", "desulf-h2s-2:process"]
    last = sink.of("/hook")[3].body
    assert "(+1 more)" in last["title"]["en"]
    assert [a["occurrence"] for a in last["alarms"]] == [2, 2]


def test_a_sensor_fault_window_does_not_hold_back_the_high_alarm_or_the_fan_failures() -> None:
    """Issue 13: the fan-fails scenario, with the notifier's clock standing still."""
    with http_sink() as sink:
        cfg = config([{"id": "hook", "type": "webhook", "url": sink.url("/hook")}],
                     group_window=30)
        log = Log()
        clock = Clock(1000.0)
        note = notifier(cfg, log, clock)
        try:
            note.submit(fault_raised("desulf-h2s-2", time=1000.0))  # opens desulf's window
            assert log.wait(lambda: len(log.records) == 1)
            for n, (at, body) in enumerate([
                    (1002.0, raised("desulf-h2s-1", time=1002.0)),
                    (1010.0, ventilation_failure("primary", time=1010.0)),
                    (1016.0, ventilation_failure("standby", time=1016.0))], start=2):
                clock.now = at
                note.submit(body)  # no pump: it must leave from submit itself
                assert log.wait(lambda: len(log.records) == n, timeout=5.0)  # noqa: B023
                assert log.records[-1].time == at
        finally:
            note.stop()
    alarms = [r.body["alarms"][0] for r in sink.of("/hook")]
    assert [(a["alarm_id"], a["level"], a["kind"]) for a in alarms] == [
        ("desulf-h2s-2:fault", None, "fault"),
        ("desulf-h2s-1:process", "high_alarm", "process"),
        ("desulf-exhaust:primary:ventilation-failure", "high_alarm", "external"),
        ("desulf-exhaust:standby:ventilation-failure", "high_alarm", "external")]
    assert "no further fan" in alarms[3]["cause"] and alarms[3]["area"] == "desulf"


@pytest.mark.server
def test_mqtt_annunciator_through_real_mosquitto(mosquitto: Mosquitto) -> None:
    got: list[bytes] = []
    arrived = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="annunciator-panel")

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        got.append(bytes(msg.payload))
        arrived.set()

    subscribed = threading.Event()
    sub.on_message = on_message
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.connect(mosquitto.host, mosquitto.port)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="ingest")
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    topic = topics.annunciator("demo-plant")
    try:
        sub.subscribe(topic, qos=1)
        assert subscribed.wait(10)

        def publish(t: str, payload: bytes, qos: int) -> None:
            pub.publish(t, payload, qos=qos).wait_for_publish(timeout=10)

        cfg = config([{"id": "panel", "type": "mqtt"}])
        senders = build_senders(cfg.channels, {}, annunciator_topic=topic, publish=publish,
                                clock_ms=lambda: 0)
        log = Log()
        note = Notifier(cfg, senders, site="demo-plant", points=POINTS, on_delivery=log)
        try:
            note.submit(raised("desulf-h2s-1"))
            assert arrived.wait(10)
            assert log.wait(lambda: len(log.records) == 1)
        finally:
            note.stop()
    finally:
        for client in (sub, pub):
            stop_loop(client)
            client.disconnect()
    body = json.loads(got[0])
    assert body["alarms"][0]["alarm_id"] == "desulf-h2s-1:process"
    record: DeliveryRecord = log.records[0]
    assert (record.kind, record.target, record.status) == ("mqtt", topic, "sent")

