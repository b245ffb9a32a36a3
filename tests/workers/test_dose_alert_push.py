"""Dose alerts pushed through real parts: a real Mosquitto, ingest with its dose-alert push
(``ingest.workers.alert_push``) on notify's channels, an annunciator panel subscribed over
MQTT and a webhook receiver over HTTP. An alert raised while ingest is down is pushed when it
starts, once, also across a restart; a push names the worker by employee number only."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.schema import connect
from ingest.schema import migrate as migrate_store
from ingest.subscriber import Ingest
from ingest.workers import dose_alerts, doses, registry
from ingest.workers.alert_push import body
from ingest.workers.schema import migrate
from occmon.config.notify import NotifyConfig
from occmon.config.schema import SiteConfig
from tests.notify.annunciator import Annunciator
from tests.notify.servers import HttpSink, http_sink
from tests.servers import Mosquitto, wait_for
from tests.workers.site import A, config

pytestmark = pytest.mark.server

SITE = "demo-plant"
TODAY = dt.date(2026, 12, 1)
NATIONAL_ID = "11010119900304123X"
HEADER = "employee,dosimeter,start,end,hp10,hp007,hp3,mdl_msv,lab,report\n"


def with_pushes(site: SiteConfig, sink: HttpSink) -> SiteConfig:
    notify = NotifyConfig.model_validate({
        "channels": [{"id": "annunciator", "type": "mqtt"},
                     {"id": "rpo", "type": "webhook", "url": sink.url("/rpo")},
                     {"id": "ops", "type": "webhook", "url": sink.url("/ops")}],
        "contacts": [{"id": "lead", "name": "值班长"}, {"id": "rso", "name": "辐射安全员"}],
        "groups": [{"id": "control-room", "contacts": ["lead"], "channels": ["ops"]},
                   {"id": "radiation", "contacts": ["rso"],
                    "channels": ["annunciator", "rpo"]}],
        "escalation": [{"group": "control-room", "after": 0}],
    })
    dose = site.personal_dose.model_copy(update={"push_group": "radiation"})
    return site.model_copy(update={"notify": notify, "personal_dose": dose})


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sqlite3.Connection]:
    monkeypatch.setenv(registry.SALT_ENV, "a-long-random-test-salt-of-this-site")
    c = connect(Path(config(tmp_path).store.path))
    migrate_store(c)
    migrate(c)
    registry.put_worker(c, registry.WorkerIn.model_validate({
        "employee": A, "name": "张三", "sex": "F", "birth_date": "1990-03-04",
        "job": "探伤工", "category": "A", "national_id": NATIONAL_ID}), site=SITE,
        by="officer", now=1.0)
    try:
        yield c
    finally:
        c.close()


def enter(conn: sqlite3.Connection, site: SiteConfig, rows: str) -> list[dict[str, object]]:
    doses.import_lab_csv(conn, HEADER + rows, site=SITE, by="officer", now=time.time(),
                         today=TODAY, factor=0.5)
    return dose_alerts.evaluate(conn, site, A, now=time.time(), today=TODAY,
                                trigger="lab-import", by="officer")


def start(site: SiteConfig, mosquitto: Mosquitto) -> Ingest:
    worker = Ingest(site, broker_host=mosquitto.host, broker_port=mosquitto.port,
                    dose_alerts=True)
    worker.start()
    assert worker.wait_ready(20), "ingest did not subscribe within 20 s"
    return worker


def test_an_alert_raised_while_ingest_is_down_is_pushed_once(
        tmp_path: Path, mosquitto: Mosquitto, store: sqlite3.Connection) -> None:
    with http_sink() as sink:
        site = with_pushes(config(tmp_path, mosquitto.port), sink)
        # 2025 Q1 and Q2 of 8 mSv: 16 of 50 reaches 0.3 x 50 = 15 (GB 18871-2002 B1.1.1.1);
        # both quarters above 5 / 4 = 1.25 (GBZ 128-2019): 3 alerts, raised with ingest down
        raised = enter(store, site, f"{A},T1,2025-01-01,2025-03-31,8,,,,lab,R1\n"
                                    f"{A},T2,2025-04-01,2025-06-30,8,,,,lab,R1\n")
        assert len(raised) == 3
        year = next(r for r in raised if r["scope"] == "year")
        alarm_id = f"dose-alert:{year['id']}"
        panel = Annunciator(mosquitto.host, mosquitto.port, SITE)
        worker = start(site, mosquitto)
        try:
            pushed = wait_for(lambda: panel.of(alarm_id), 20, "the dose alert on the panel")
            hooked = wait_for(lambda: [r for r in sink.of("/rpo") if alarm_id in
                                       [a["alarm_id"] for a in r.body["alarms"]]], 20,
                              "the dose alert at the radiation officers' webhook")
            (notice,) = [a for a in pushed[0].body["alarms"] if a["alarm_id"] == alarm_id]
            assert notice["point"] == A and notice["kind"] == "dose"
            assert notice["level"] == "dose_approaching"
            assert notice["value"] is None  # 'employee' mode: no dose figure
            assert notice["setpoint"] == pytest.approx(15.0)  # 0.3 x 50 mSv
            assert "30%" in notice["cause"] and "GB 18871-2002" in notice["cause"]
            assert hooked[0].body["title"] == {
                "zh": f"个人剂量接近限值报警: {A}",
                "en": f"PERSONAL DOSE NEARING A LIMIT RAISED: {A}"}
            for text in (str(pushed[0].body), str(hooked[0].body)):
                assert A in text
                for secret in ("张三", NATIONAL_ID, "1990-03-04"):  # the dose: value None
                    assert secret not in text, secret
            assert sink.of("/ops") == []  # the control room's group is not told
            wait_for(lambda: dose_alerts.listed(store, employee=A)[1][0]["push"] == "sent"
                     or None, 20, "the outbox marked sent")
            _total, items = dose_alerts.listed(store, employee=A)
            assert {i["push"] for i in items} == {"sent"}
            logged = store.execute("SELECT count(*) FROM deliveries WHERE alarm_ids LIKE "
                                   "'%dose-alert:%' AND status = 'sent'").fetchone()[0]
            assert logged >= 3
        finally:
            worker.stop()
        # a restart pushes nothing again
        before = len(panel.pushes)
        worker = start(site, mosquitto)
        try:
            time.sleep(2.0)  # the push thread ticks at start
            assert len(panel.pushes) == before
            # a new report while ingest runs: only the new threshold is pushed
            # Q3 15 mSv: 31 of 50 reaches 0.6 (30); run of the years on file 31 of 100: 0.3
            fresh = enter(store, site, f"{A},T3,2025-07-01,2025-09-30,15,,,,lab,R2\n")
            assert {(r["scope"], r["threshold"]) for r in fresh} == {
                ("year", "0.6"), ("five-years", "0.3"), ("period", "investigation")}
            ids = {f"dose-alert:{r['id']}" for r in fresh}
            wait_for(lambda: ids <= {a for p in panel.pushes for a in p.alarm_ids} or None,
                     20, "the new alerts on the panel")
            time.sleep(1.0)
            seen = [a for p in panel.pushes for a in p.alarm_ids]
            assert all(seen.count(i) == 1 for i in ids | {alarm_id})  # each once
        finally:
            worker.stop()
            panel.close()


def test_what_each_push_mode_says() -> None:
    alert = {"id": 7, "employee": A, "scope": "pregnancy", "quantity": "hp10",
             "first": "2025-08-16", "last": "2025-09-30", "threshold": "0.6",
             "level": "approaching", "dose_msv": 0.62, "limit_msv": 1.0,
             "source": "GB 18871-2002 6.4.2.1", "period": None, "entered": 1.0e9}
    # employee (default): a special limit is not named, its figures are not given
    e = body(alert, "employee")
    assert e["alarm_id"] == "dose-alert:7" and e["point"] == A
    assert e["value"] is None and e["setpoint"] is None
    assert "pregnan" not in str(e) and "孕" not in str(e) and "special limit" in e["cause"]
    # full: the scope and the doses
    f = body(alert, "full")
    assert f["value"] == 0.62 and "孕期" in f["cause"]
    # minimal: neither the worker nor a figure
    m = body(alert, "minimal")
    assert A not in str(m) and m["value"] is None and "/api/v1/dose-alerts" in m["cause"]
