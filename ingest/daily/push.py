"""Push a signed day to the compliance file: an HTTP endpoint and/or a folder.

The document is the day's records, exceedances, closure and signature as canonical JSON,
with its SHA-256 (also sent as the ``X-Occmon-SHA256`` header and written beside the file).
Every attempt goes into ``deliveries``: a failed POST is retried ``retries`` times with
doubling back-off, and the log says what the endpoint answered.
"""

from __future__ import annotations

import os
import time as clock
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.daily import query
from ingest.daily.store import RecordsStore
from occmon import ledger
from occmon.config.records import Push
from occmon.ledger import canonical, sha256_text


@dataclass(frozen=True, slots=True)
class Delivery:
    target: str
    ok: bool
    attempts: int
    message: str


def day_document(store: RecordsStore, day: str) -> tuple[str, str]:
    """(canonical JSON, its SHA-256) of a closed day."""
    closure = query.closure(store.conn, day)
    if closure is None:
        raise KeyError(f"day {day} is not closed")
    records = query.daily_records(store.conn, query.Filters(day_from=day, day_to=day))
    _, events = query.exceedances(store.conn, query.Filters(), limit=1_000_000)
    doc: dict[str, Any] = {"v": 1, "day": day, "site": closure["site"], "closure": closure,
                           "records": records, "exceedances": [e for e in events
                                                               if e["day"] == day]}
    # the ledger's head when the day was signed (or closed): the archive keeps an anchor
    sealed = ledger.get(store.conn, int(closure["signature_seq"] or closure["close_seq"]))
    doc["ledger_head"] = None if sealed is None else {"seq": sealed.seq,
                                                      "sha256": sealed.entry_sha256}
    text = canonical(doc)
    return text, sha256_text(text)


def _post(url: str, body: bytes, digest: str, timeout: float) -> str:
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "X-Occmon-SHA256": digest},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return f"HTTP {response.status}"


def push_day(store: RecordsStore, day: str, push: Push, *,
             sleep: Callable[[float], None] = clock.sleep,
             now: Callable[[], float] = clock.time) -> list[Delivery]:
    text, digest = day_document(store, day)
    site = query.closure(store.conn, day) or {}
    out = []
    if push.folder is not None:
        folder = Path(push.folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{site.get('site', 'site')}-{day}"
        tmp = folder / f".{name}.json.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / f"{name}.json")
        (folder / f"{name}.json.sha256").write_text(f"{digest}  {name}.json\n", encoding="utf-8")
        store.log_delivery(day, str(folder), 1, now(), True, "written", f"{name}.json", digest)
        out.append(Delivery(str(folder), True, 1, f"{name}.json"))
    if push.url is not None:
        wait, attempt, ok, message = push.backoff_s, 0, False, ""
        while attempt <= push.retries and not ok:
            attempt += 1
            try:
                status = _post(push.url, text.encode("utf-8"), digest, push.timeout_s)
                ok, message = True, status
            except urllib.error.HTTPError as exc:
                message = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, OSError) as exc:
                message = f"unreachable: {exc}"
            store.log_delivery(day, push.url, attempt, now(), ok,
                               "delivered" if ok else "failed", message, digest)
            if not ok and attempt <= push.retries:
                sleep(wait)
                wait *= 2
        out.append(Delivery(push.url, ok, attempt, message))
    return out
