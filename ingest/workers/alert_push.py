"""Dose alerts to people: ingest claims the alerts waiting in the store's outbox
(``dose_alerts``) and hands them to a notifier built from the site's ``notify:`` channels,
and once a day, at the day close, judges the files of electronic-dosimeter wearers.

**The same channels as alarm pushes, a notifier of its own.** The senders, contacts, groups,
retries and the delivery log are ``notify:``'s (``ingest.notify``); the notifier instance is
apart from the gas alarms' so a dose alert never opens a grouping window a gas alarm's
follow-up would wait behind, and never escalates (a dose alert is not acknowledged at the
alarm engine). It tells one group: ``personal_dose.push_group``, else the group of the
first escalation step. A dose alert is **not** put on ``events/alarm``: the alarm history
feeds the public board, and personal data never reaches it.

**What a push says** (``personal_dose.push``, default ``employee``): the employee number
(never the name or the national ID), the quantity, the window and the threshold reached;
a pregnancy's or an under-18 limit only as "special limit" (the limit would tell which).
``full`` adds the doses and the scope; ``minimal`` names neither worker nor dose, only that
an alert waits at ``GET /api/v1/dose-alerts``. Every push channel (a chat group, the
annunciator topic) is taken as seen by others.

**Once, across restarts.** An alert is claimed in the store (``claimed_by``: this ingest's
client id) before it is handed over, and done when a channel reports it sent (or every
attempt failed: ``gave-up``). A claim not done is taken again by the same worker after a
restart at once, by another worker after ``lease`` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ingest.daily.windows import zone
from ingest.daily.worker import scheduled_last
from ingest.notify import DeliveryRecord, EscalationStep, Notifier, build_senders
from ingest.schema import connect
from ingest.store import SqliteStore
from ingest.workers import dose_alerts
from ingest.workers.schema import migrate
from occmon import topics
from occmon.config.schema import SiteConfig

log = logging.getLogger("occmon.ingest.dose_alerts")
PREFIX = "dose-alert:"
QUANTITY = {"hp10": ("有效剂量 Hp(10)", "effective dose Hp(10)"),
            "hp3": ("眼晶状体 Hp(3)", "lens of the eye Hp(3)"),
            "hp007": ("皮肤/四肢 Hp(0.07)", "skin/extremities Hp(0.07)")}
SCOPE = {"year": ("年剂量", "annual"), "five-years": ("5年剂量", "5-year"),
         "under-18": ("16-18岁限值", "under-18"), "pregnancy": ("孕期限值", "pregnancy"),
         "period": ("监测周期", "monitoring period")}
SPECIAL = ("under-18", "pregnancy")


def body(alert: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """The alarm event body the notifier takes (``Notice.from_event``) for a stored alert,
    with only what ``mode`` allows. Its id names the alert row, never the worker."""
    level = f"dose_{alert['level']}"
    out: dict[str, Any] = {"alarm_id": f"{PREFIX}{alert['id']}", "event": "raised",
                           "kind": "dose", "level": level, "time": alert["entered"],
                           "state": "active-unacknowledged", "unit": "mSv", "value": None,
                           "setpoint": None, "occurrence": 1}
    if mode == "minimal":
        out.update(point="个人剂量 personal dose",
                   cause="个人剂量档案有新提醒 / a personal dose file has a new alert: "
                         "GET /api/v1/dose-alerts")
        return out
    qz, qe = QUANTITY.get(alert["quantity"], (alert["quantity"],) * 2)
    sz, se = SCOPE.get(alert["scope"], (alert["scope"],) * 2)
    window = alert["first"] if alert["first"] == alert["last"] else (
        f"{alert['first']}..{alert['last']}")
    out["point"] = alert["employee"]  # the employee number
    exceeded = alert["level"] == "exceeded"
    if alert["level"] == "investigate":
        what = (f"{window} {qz} 超过调查水平 / {qe} above the investigation level "
                f"({alert['source']})")
    elif alert["scope"] in SPECIAL and mode != "full":
        pct = "" if exceeded else f"{float(alert['threshold']):.0%}"
        reached_zh, reached_en = ("超过", "over") if exceeded else (f"达到 {pct}", f"at {pct} of")
        what = (f"{qz} {reached_zh} 特殊限值 / {qe} {reached_en} a special limit "
                "(详见档案 / see the dose file)")
    else:
        limit = float(alert["limit_msv"])
        if exceeded:
            what = (f"{window} {sz}{qz} > {limit:g} mSv / {se} {qe} over the limit "
                    f"({alert['source']})")
            out["setpoint"] = limit
        else:
            frac = float(alert["threshold"])
            what = (f"{window} {sz}{qz} ≥ {frac:.0%} × {limit:g} mSv / {se} {qe} at "
                    f"{frac:.0%} of its limit ({alert['source']})")
            out["setpoint"] = round(frac * limit, 6)
    if mode == "full":
        out["value"] = alert["dose_msv"]
        if alert["level"] == "investigate":
            out["setpoint"] = alert["limit_msv"]
    out["cause"] = what
    return out


class DoseAlertPush:
    """Beside one ingest worker: a thread that pushes waiting dose alerts every
    ``interval`` s and judges EPD wearers' files when a day closes."""

    def __init__(self, config: SiteConfig, publish: Callable[[str, bytes, int], None], *,
                 worker_id: str, store_path: Path | None = None, interval: float = 5.0,
                 lease: float = 120.0, environ: Mapping[str, str] = os.environ,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.path = Path(store_path or config.store.path)
        self.worker_id, self.interval, self.lease = worker_id, interval, lease
        self.mode = config.personal_dose.push
        self._clock = clock
        self._lock = threading.Lock()
        self._handed: set[int] = set()  # claimed and handed over by this process
        self._epd_day: dt.date | None = None
        self._migrated = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.notifier: Notifier | None = None
        self._log: SqliteStore | None = None
        notify = config.notify
        if notify is None:
            return
        group = config.personal_dose.push_group or notify.escalation[0].group
        if group not in {g.id for g in notify.groups}:
            raise ValueError(f"personal_dose.push_group: no group {group!r} in notify.groups;"
                             f" one of {sorted(g.id for g in notify.groups)}")
        senders = build_senders(notify.channels, environ,
                                annunciator_topic=topics.annunciator(config.site.id),
                                publish=publish, clock_ms=lambda: int(clock() * 1000))
        mine = notify.model_copy(update={"escalation": [EscalationStep(group=group, after=0)]})
        self._log = SqliteStore(self.path)
        self.notifier = Notifier(mine, senders, site=config.site.id,
                                 timezone=config.site.timezone, clock=clock,
                                 on_delivery=self._delivered)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self.notifier is not None:
            self.notifier.start()
        self._thread = threading.Thread(target=self._run, name="dose-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self.notifier is not None:
            self.notifier.stop()
        if self._log is not None:
            with self._lock:
                self._log.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(self._clock())
            except Exception:  # retried next tick; never in ingest's way
                self.errors += 1
                log.exception("dose alerts: tick failed; retrying in %.0f s", self.interval)
            self._stop.wait(self.interval)

    # -- work -------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        conn = connect(self.path)
        try:
            if not self._migrated:
                migrate(conn)
                self._migrated = True
            if self.notifier is not None:  # what waits first: a file that fails to judge
                for alert in self._claim(conn, now):  # below must not hold it up
                    self.notifier.submit(body(alert, self.mode), now)
            self._day_close(conn, now)
        finally:
            conn.close()

    def _day_close(self, conn: Any, now: float) -> None:
        """Once per closed day (the records' schedule, ``records.close_after``), and at
        start: judge every EPD wearer's file (their months grow with the readings)."""
        close_after = self.config.records.close_after if self.config.records else "00:30"
        day = scheduled_last(now, self.config.site.timezone, close_after)
        if day == self._epd_day:
            return
        today = dt.datetime.fromtimestamp(now, zone(self.config.site.timezone)).date()
        for employee in dose_alerts.epd_wearers(conn):
            try:
                raised = dose_alerts.evaluate(conn, self.config, employee, now=now,
                                              today=today, trigger="epd-day-close",
                                              by="ingest")
            except Exception:  # one file that fails to judge never blinds the others
                self.errors += 1
                log.exception("dose alerts: the file of %s was not judged", employee)
                continue
            if raised:
                log.info("dose alerts raised for %s: %d", employee, len(raised))
        self._epd_day = day

    def _claim(self, conn: Any, now: float) -> list[dict[str, Any]]:
        rows = conn.execute("SELECT alert, claimed_by, claimed_at FROM dose_alert_pushes "
                            "WHERE done IS NULL ORDER BY alert").fetchall()
        out = []
        for alert, by, at in rows:
            mine = by == self.worker_id and alert not in self._handed
            if by is not None and not mine and at is not None and at > now - self.lease:
                continue
            cur = conn.execute(
                "UPDATE dose_alert_pushes SET claimed_by = ?, claimed_at = ?, status = "
                "'claimed' WHERE alert = ? AND done IS NULL AND (claimed_by IS NULL OR "
                "claimed_by = ? OR claimed_at <= ?)",
                (self.worker_id, now, alert, self.worker_id, now - self.lease))
            if cur.rowcount != 1 or alert in self._handed:
                continue
            row = dose_alerts.stored_row(conn, int(alert))
            if row is not None:
                self._handed.add(int(alert))
                out.append(row)
        return out

    def _delivered(self, record: DeliveryRecord) -> None:
        """The delivery log (``deliveries``, as alarm pushes), and the outbox: done at the
        first channel that sent it, or when an attempt gave up."""
        ids = [int(a[len(PREFIX):]) for a in record.alarm_ids if a.startswith(PREFIX)]
        try:
            with self._lock:
                if self._log is not None:
                    self._log.write_deliveries([record])
            if record.status == "failed" or not ids:
                return
            conn = connect(self.path)
            try:
                for ident in ids:
                    conn.execute(
                        "UPDATE dose_alert_pushes SET done = ?, status = ? WHERE alert = ? "
                        "AND (done IS NULL OR (status = 'gave-up' AND ? = 'sent'))",
                        (record.time, record.status, ident, record.status))
            finally:
                conn.close()
        except Exception:  # the push went out; only its record is lost
            self.errors += 1
            log.exception("dose alerts: delivery record of %s not written", ids)
