"""`occmon dashboards push`: the exact HTTP requests grafana-client sends, against a local
HTTP server playing Grafana (no Grafana can run here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards.build import build_boards
from dashboards.cli import main
from occmon.config import load


@dataclass
class FakeGrafana:
    """Records requests; the folder exists once it was created."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    folders: set[str] = field(default_factory=set)
    fail_dashboards: int = 0


def _handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            entry = {"method": self.command, "path": self.path,
                     "headers": {k.lower(): v for k, v in self.headers.items()},
                     "body": json.loads(raw) if raw else None}
            state.requests.append(entry)
            return entry

        def do_GET(self) -> None:
            self._record()
            uid = self.path.rsplit("/", 1)[-1]
            if self.path.startswith("/api/folders/") and uid in state.folders:
                self._reply(200, {"uid": uid, "title": "occmon"})
            else:
                self._reply(404, {"message": "folder not found"})

        def do_POST(self) -> None:
            entry = self._record()
            if self.path == "/api/folders":
                state.folders.add(entry["body"]["uid"])
                self._reply(200, {"uid": entry["body"]["uid"], "title": entry["body"]["title"]})
            elif self.path == "/api/dashboards/db":
                if state.fail_dashboards:
                    self._reply(403, {"message": "Access denied"})
                    return
                uid = entry["body"]["dashboard"]["uid"]
                self._reply(200, {"status": "success", "uid": uid, "version": 1})
            else:
                self._reply(404, {"message": "not found"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    state = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_push_creates_the_folder_then_overwrites_every_board(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["push", "examples/demo-plant.yaml", "--url", grafana.url, "--token", "glsa_x"])
    assert code == 0, capsys.readouterr().err
    expected = build_boards(load("examples/demo-plant.yaml"))
    calls = [(r["method"], r["path"]) for r in grafana.requests]
    assert calls[:2] == [("GET", "/api/folders/occmon"), ("POST", "/api/folders")]
    assert calls[2:] == [("POST", "/api/dashboards/db")] * len(expected)
    assert grafana.requests[1]["body"] == {"title": "occmon", "uid": "occmon"}
    for request, board in zip(grafana.requests[2:], expected.values(), strict=True):
        assert request["headers"]["authorization"] == "Bearer glsa_x"
        assert request["headers"]["content-type"].startswith("application/json")
        body = request["body"]
        assert body["overwrite"] is True and body["folderUid"] == "occmon"
        assert body["dashboard"] == {**board, "id": None}
    assert "pushed 6 dashboards" in capsys.readouterr().out

    grafana.requests.clear()  # second push: the folder exists now, nothing is created
    assert main(["push", "examples/demo-plant.yaml", "--url", grafana.url,
                 "--token", "glsa_x"]) == 0
    assert [r["path"] for r in grafana.requests].count("/api/folders") == 0


def test_push_reports_grafanas_refusal(
    grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]
) -> None:
    grafana.fail_dashboards = 1
    code = main(["push", "examples/demo-plant.yaml", "--url", grafana.url, "--token", "t"])
    assert code == 1
    assert "Access denied" in capsys.readouterr().err


def test_push_needs_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    assert main(["push", "examples/demo-plant.yaml", "--token", ""]) == 2
    assert "no token" in capsys.readouterr().err
