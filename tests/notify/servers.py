"""Real local servers that receive pushes: an HTTP webhook sink and an SMTP sink (aiosmtpd)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.servers import free_port


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    received: float = 0.0  # time.time() when the body had been read


@dataclass
class HttpSink:
    """Records every POST; ``statuses[path]`` lists status codes to answer first (then 200).

    Paths under ``/dingtalk`` check the signature as DingTalk does: a wrong one gets
    ``{"errcode": 310000}``.
    """

    port: int
    dingtalk_secret: str = ""
    requests: list[Request] = field(default_factory=list)
    statuses: dict[str, list[int]] = field(default_factory=dict)
    signature_ok: list[bool] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def of(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def verify_dingtalk(self, query: dict[str, str]) -> bool:
        """Independent check of the signature: decode and compare the HMAC digests."""
        timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
        expected = hmac.new(self.dingtalk_secret.encode(),
                            f"{timestamp}\n{self.dingtalk_secret}".encode(),
                            hashlib.sha256).digest()
        try:
            given = base64.b64decode(sign, validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, expected)


def _handler(sink: HttpSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parsed.query))  # decodes the sign once
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"null")
            received = time.time()
            with sink.lock:
                sink.requests.append(Request(parsed.path, query, dict(self.headers), body,
                                             received))
                queue = sink.statuses.get(parsed.path, [])
                status = queue.pop(0) if queue else 200
            answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
            if parsed.path.startswith("/dingtalk") and sink.dingtalk_secret:
                ok = sink.verify_dingtalk(query)
                sink.signature_ok.append(ok)
                if not ok:
                    answer = {"errcode": 310000, "errmsg": "sign not match"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def http_sink(dingtalk_secret: str = "") -> Iterator[HttpSink]:
    sink = HttpSink(free_port(), dingtalk_secret)
    server = ThreadingHTTPServer(("127.0.0.1", sink.port), _handler(sink))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes


class _Collector:
    def __init__(self) -> None:
        self.mails: list[Mail] = []

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink() -> Iterator[tuple[int, list[Mail]]]:
    collector = _Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, collector.mails
    finally:
        controller.stop()
