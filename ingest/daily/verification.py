"""Verify the records store: the ledger's chain and seals, and every projection row.

The ledger is the truth; ``daily_records``, ``exceedances`` (with the rectification status
its step entries set) and ``day_closures`` (day closes and signatures) are projections an
inspector reads. One pass over the ledger walks the chain (``ledger.Chain``), checks the
seal of every day close and signature (``ledger.check_seal``), and replays what each
projection must hold; then every projection row is compared with it. A row the ledger does
not account for is *added*, a current ledger entry without its row is *missing*, a row that
differs is *edited*, each named by table, key and what differs. ``occmon records verify``
and ``GET /api/v1/ledger/verify`` both call ``run`` (through ``RecordsStore.verify``).

Seals: an unsealed close or signature written before the ledger's first sealed one is a
ledger from before site keys: a warning (``unsigned``), an error with ``require_signed``. An
unsealed one after a sealed one is an error (``missing-signature``): the site seals every
close once it has a key, so a gap is a close made without it, or a forged one.

Memory: the replay keeps one small item per current record and exceedance (as many as the
projections hold), never the entries' content; rows are joined to their entries in SQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ingest.workers import registry
from occmon import ledger

STEP_KINDS = ("action", "recheck", "close")
RECORD_KINDS = ("daily-record", "job-record")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where (table and key), what (a code), and what differs."""

    table: str  # ledger | daily_records | exceedances | day_closures | anchor |
    #             worker_rows | instrument_rows | assignment_rows
    key: str
    problem: str  # broken-chain | added | missing | edited | unsigned | missing-signature |
    #               bad-signature | unchecked | truncated | anchor-mismatch | bad-anchor
    detail: str
    error: bool = True

    def message(self) -> str:
        return f"{self.table} {self.key}: {self.problem}: {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "problem": self.problem,
                "detail": self.detail, "severity": "error" if self.error else "warning",
                "message": self.message()}


@dataclass
class Report:
    """What ``verify`` found; ``ok`` when no finding is an error (warnings may remain)."""

    entries: int
    head_seq: int
    head_sha256: str
    broken: ledger.Broken | None
    findings: list[Finding] = field(default_factory=list)
    sealed: int = 0
    unsigned: int = 0

    @property
    def ok(self) -> bool:
        return not any(f.error for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.error]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.error]

    def add(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    def as_dict(self) -> dict[str, Any]:
        b = self.broken
        return {
            "ok": self.ok, "entries": self.entries, "head_seq": self.head_seq,
            "head_sha256": self.head_sha256, "sealed": self.sealed, "unsigned": self.unsigned,
            "broken": None if b is None else {
                "seq": b.seq, "kind": b.kind, "point": b.point, "day": b.day,
                "problem": b.problem, "message": b.message()},
            "errors": [f.as_dict() for f in self.errors],
            "warnings": [f.as_dict() for f in self.warnings],
        }


def record_key(kind: str, body: dict[str, Any]) -> str | None:
    """The ``daily_records`` key of a record's content (``close._point_day``,
    ``jobs.job_drafts``); None when the content does not say (an older job record)."""
    day = body.get("day")
    if kind == "job-record":
        agent = body.get("agent")
        if not isinstance(agent, dict) or "job" not in body or "kind" not in agent:
            return None
        fraction = agent.get("fraction") if agent.get("kind") == "dust" else None
        name = f"{agent.get('id')}:{fraction}" if fraction else f"{agent.get('id')}"
        return f"job:{body['job']}/{name}|{day}|"
    if "point" not in body:
        return None
    return f"{body['point']}|{day}|{body.get('shift') or ''}"


def _agent(body: dict[str, Any]) -> Any:
    agent = body.get("agent")
    return agent.get("id") if isinstance(agent, dict) else agent


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _content_diff(row: str, entry: ledger.Entry) -> str:
    """Which content fields differ (row vs ledger), for the message."""
    try:
        mine, theirs = json.loads(row), entry.body()
    except ValueError:
        return f"content is not JSON; the ledger's is {entry.label()}"
    if not isinstance(mine, dict):
        return f"content is not an object; the ledger's is {entry.label()}"
    keys = sorted(set(mine) | set(theirs))
    diffs = [f"{k}: row {_short(mine.get(k))}, ledger {_short(theirs.get(k))}"
             for k in keys if mine.get(k) != theirs.get(k)]
    shown = "; ".join(diffs[:4]) + ("; ..." if len(diffs) > 4 else "")
    return f"content differs from {entry.label()} ({shown or 'formatting only'})"


@dataclass
class _Replay:
    """What the projections must hold, from one pass over the ledger."""

    records: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # seq->kind,key
    events: dict[int, str] = field(default_factory=dict)  # current seq -> exceedance id
    status: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    closures: dict[str, dict[str, Any]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    sealed: int = 0
    unsigned: int = 0
    first_sealed: int | None = None
    registry: registry.Attested = field(default_factory=dict)  # what registry entries attest

    def feed(self, e: ledger.Entry, body: dict[str, Any], key: Ed25519PublicKey | None,
             require_signed: bool) -> None:
        if e.kind in RECORD_KINDS:
            self.records[e.seq] = (e.kind, record_key(e.kind, body))
        elif e.kind == "exceedance":
            self.events[e.seq] = str(body.get("id"))
            self.status[str(body.get("id"))] = ("open", None)
        elif e.kind == "correction":
            self._correction(e, body)
        elif e.kind in STEP_KINDS and "exceedance" in body:
            self.status[str(body["exceedance"])] = (str(body.get("to")), e.seq)
        elif e.kind == "registry":
            where, what = registry.attestation(body, e.seq)
            self.registry[where] = what
        if e.kind in ledger.SEALED_KINDS:
            self._seal(e, key, require_signed)
        if e.kind == "day-close":
            self.closures[e.day] = {
                "site": e.site, "closed_at": e.time, "close_seq": e.seq,
                "close_sha256": e.entry_sha256, "records": body.get("records"),
                "exceedances": body.get("exceedances"), "signed_by": None,
                "signed_at": None, "signature_seq": None}
        elif e.kind == "signature":
            closure = self.closures.get(e.day)
            if closure is not None and closure["close_seq"] == body.get("close_seq"):
                closure.update(signed_by=body.get("signer"), signed_at=body.get("signed_at"),
                               signature_seq=e.seq)

    def _correction(self, e: ledger.Entry, body: dict[str, Any]) -> None:
        ref = e.ref if e.ref is not None else -1
        if ref in self.records:
            kind, _old = self.records.pop(ref)
            self.records[e.seq] = (kind, record_key(kind, body))
        elif ref in self.events:
            ex_id = self.events.pop(ref)
            self.events[e.seq] = ex_id
            status, status_seq = self.status.get(ex_id, ("open", None))
            if body.get("withdrawn"):
                self.status[ex_id] = ("withdrawn", status_seq)
            elif status == "withdrawn":
                self.status[ex_id] = ("open", None)
        else:
            self.findings.append(Finding(
                "ledger", f"entry {e.seq}", "bad-correction",
                f"{e.label()} corrects entry {e.ref}, which is not a current record or "
                "exceedance"))

    def _seal(self, e: ledger.Entry, key: Ed25519PublicKey | None,
              require_signed: bool) -> None:
        found = ledger.check_seal(e, key)
        name = f"entry {e.seq}"
        code, why = found or ("", "")
        if code != "unsigned" and self.first_sealed is None:
            self.first_sealed = e.seq  # sealed from here on, good seal or not
        if found is None:
            self.sealed += 1
            return
        if code == "unsigned":
            self.unsigned += 1
            if self.first_sealed is not None:
                self.findings.append(Finding(
                    "ledger", name, "missing-signature",
                    f"{e.label()} is not sealed, but entry {self.first_sealed} and later "
                    "closes are: it was written without the site's ledger key"))
            else:
                self.findings.append(Finding("ledger", name, "unsigned",
                                             f"{e.label()}: {why}", error=require_signed))
        elif code == "unchecked":
            self.findings.append(Finding("ledger", name, "unchecked", f"{e.label()}: {why}",
                                         error=False))
        else:
            self.findings.append(Finding("ledger", name, code, f"{e.label()}: {why}"))


def _compare(table: str, key: str, pairs: Iterable[tuple[str, Any, Any]]) -> list[Finding]:
    out = []
    for column, row, want in pairs:
        if row != want:
            out.append(Finding(table, repr(key), "edited",
                               f"{column} is {_short(row)}, the ledger says {_short(want)}"))
    return out


def _check_rows(conn: sqlite3.Connection, table: str, rows: Iterable[tuple[Any, ...]],
                expected: dict[str, int], columns: Any) -> list[Finding]:
    """``rows`` of ``table`` (key, seq, content, the projected columns...) against the
    ledger; ``expected`` is key -> current seq. ``columns(row, entry, body)`` gives
    (column, row value, ledger value) for every projected column."""
    out: list[Finding] = []
    seen: set[str] = set()
    for row in rows:
        key, seq, content = str(row[0]), row[1], row[2]
        want = expected.get(key)
        if want is None:
            named = f"entry {seq}" if seq is not None else "no entry"
            out.append(Finding(table, repr(key), "added",
                               f"the ledger has no such row (the row names {named})"))
            continue
        seen.add(key)
        entry = ledger.get(conn, want)
        if entry is None:  # the chain walk reports the entry itself
            continue
        if seq != want:
            out.append(Finding(table, repr(key), "edited",
                               f"seq is {seq}, the ledger's current entry is {entry.label()}"))
        if content != entry.content:
            out.append(Finding(table, repr(key), "edited", _content_diff(content, entry)))
        try:
            body = entry.body()
        except ValueError:
            continue
        out += _compare(table, key, columns(row, entry, body))
    for key, seq in expected.items():
        if key not in seen:
            entry = ledger.get(conn, seq)
            label = entry.label() if entry else f"entry {seq}"
            out.append(Finding(table, repr(key), "missing",
                               f"the ledger's {label} has no row: it was deleted"))
    return out


def _record_columns(row: tuple[Any, ...], e: ledger.Entry,
                    body: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    _key, _seq, _content, kind, site, area, point, agent, day, shift, verdict, root = row
    pairs = [("kind", kind, root), ("site", site, e.site), ("point", point, body.get("point")),
             ("agent", agent, _agent(body)), ("day", day, e.day),
             ("shift", shift, body.get("shift") or ""),
             ("verdict", verdict, body.get("verdict_en"))]
    if "area" in body:  # a job record's area is its first step's, not in its content
        pairs.append(("area", area, body.get("area")))
    return pairs


def _records(conn: sqlite3.Connection, replay: _Replay) -> list[Finding]:
    out: list[Finding] = []
    expected: dict[str, int] = {}
    roots: dict[str, str] = {}
    for seq, (kind, key) in replay.records.items():
        entry_key = key or f"entry {seq}"
        if entry_key in expected:
            out.append(Finding("ledger", f"entry {seq}", "duplicate",
                               f"record {entry_key!r} is also entry {expected[entry_key]}",
                               error=False))
        expected[entry_key], roots[entry_key] = seq, kind
    rows = ((*r, roots.get(str(r[0]))) for r in conn.execute(
        "SELECT key, seq, content, kind, site, area, point, agent, day, shift, verdict "
        "FROM daily_records ORDER BY key"))
    out += _check_rows(conn, "daily_records", rows, expected, _record_columns)
    return out


def _event_columns(status: dict[str, tuple[str, int | None]]) -> Any:
    def columns(row: tuple[Any, ...], e: ledger.Entry,
                body: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        (ex_id, _seq, _content, site, area, point, agent, typ, day, start, end, peak, limit,
         ratio, st, st_seq) = row
        want_status, want_seq = status.get(ex_id, ("open", None))
        return [("site", site, e.site), ("area", area, body.get("area")),
                ("point", point, body.get("point")), ("agent", agent, _agent(body)),
                ("type", typ, body.get("type")), ("day", day, e.day),
                ("start", start, body.get("start")), ("end", end, body.get("end")),
                ("peak", peak, body.get("peak")), ("limit_value", limit, body.get("limit")),
                ("ratio", ratio, body.get("ratio")), ("status", st, want_status),
                ("status_seq", st_seq, want_seq)]
    return columns


def _events(conn: sqlite3.Connection, replay: _Replay) -> list[Finding]:
    expected = {ex_id: seq for seq, ex_id in replay.events.items()}
    rows = conn.execute(
        "SELECT id, seq, content, site, area, point, agent, type, day, start, end, peak, "
        "limit_value, ratio, status, status_seq FROM exceedances ORDER BY id")
    return _check_rows(conn, "exceedances", rows, expected, _event_columns(replay.status))


CLOSURE_COLUMNS = ("site", "closed_at", "close_seq", "close_sha256", "records", "exceedances",
                   "signed_by", "signed_at", "signature_seq")


def _closures(conn: sqlite3.Connection, replay: _Replay) -> list[Finding]:
    out: list[Finding] = []
    seen: set[str] = set()
    for row in conn.execute(f"SELECT day, {', '.join(CLOSURE_COLUMNS)} FROM day_closures "
                            "ORDER BY day"):
        day = str(row[0])
        want = replay.closures.get(day)
        if want is None:
            out.append(Finding("day_closures", repr(day), "added",
                               "the ledger has no day-close for this day"))
            continue
        seen.add(day)
        out += _compare("day_closures", day,
                        ((c, v, want[c]) for c, v in zip(CLOSURE_COLUMNS, row[1:], strict=True)))
    for day, want in replay.closures.items():
        if day not in seen:
            out.append(Finding("day_closures", repr(day), "missing",
                               f"the ledger's day-close entry {want['close_seq']} has no row: "
                               "it was deleted"))
    return out


def run(conn: sqlite3.Connection, key: Ed25519PublicKey | None, *,
        require_signed: bool = False) -> Report:
    """The chain, the seals, then every projection row against the ledger."""
    chain = ledger.Chain()
    replay = _Replay()
    head_seq = 0
    try:
        ledger.head(conn)
    except sqlite3.Error as exc:
        return Report(0, 0, ledger.GENESIS, None, [Finding(
            "ledger", "(table)", "unreadable", f"the ledger cannot be read: {exc}")])
    unreadable: Finding | None = None
    try:
        for e in ledger.entries(conn):
            chain.feed(e)
            head_seq = e.seq
            try:
                body = e.body()
            except ValueError:
                continue  # content that is not JSON fails its content hash, or was forged so
            if isinstance(body, dict):
                replay.feed(e, body, key, require_signed)
    except (ValueError, TypeError) as exc:  # a column rewritten with a value of another type
        unreadable = Finding("ledger", f"entry {head_seq + 1}", "unreadable",
                             f"the entry after seq {head_seq} cannot be read: {exc}")
    walked = chain.result()
    last_seq, last_sha = ledger.head(conn)
    report = Report(walked.entries, last_seq, last_sha, walked.broken,
                    sealed=replay.sealed, unsigned=replay.unsigned)
    if unreadable is not None:
        report.findings.append(unreadable)
    if walked.broken is not None:
        report.findings.append(Finding("ledger", f"entry {walked.broken.seq}", "broken-chain",
                                       walked.broken.message()))
    report.add(replay.findings)
    for table, check in (("daily_records", _records), ("exceedances", _events),
                         ("day_closures", _closures)):
        try:
            report.add(check(conn, replay))
        except sqlite3.Error as exc:  # a projection table dropped or altered
            report.add([Finding(table, "(table)", "unreadable",
                                f"the projection cannot be read: {exc}")])
    report.add(_registries(conn, replay))
    return report


def _registries(conn: sqlite3.Connection, replay: _Replay) -> list[Finding]:
    """The worker, instrument and assignment rows against the digests their ``registry``
    entries hold (``ingest.workers.registry.check_rows``)."""
    try:
        if not registry.tables_exist(conn):  # a store that never had a registry is fine
            return [] if not replay.registry else [Finding(
                "worker_rows", "(table)", "missing", f"the ledger attests "
                f"{len(replay.registry)} registry rows, but the registry tables are gone")]
        return [Finding(table, repr(f"row {ident}"), problem, detail)
                for table, ident, problem, detail in registry.check_rows(conn, replay.registry)]
    except sqlite3.Error as exc:  # a registry table dropped or altered
        return [Finding("worker_rows", "(table)", "unreadable",
                        f"the registries cannot be read: {exc}")]
