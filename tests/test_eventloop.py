"""``gateway.event_loop`` (occmon/eventloop.py): which loop each choice runs on, what happens
where uvloop cannot be imported, and how a wrong value in the site file is reported."""

from __future__ import annotations

import asyncio
import logging
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from occmon import eventloop
from occmon.cli import main
from occmon.config import parse
from tests.test_config import _mutate


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def _no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError


def test_each_choice_runs_on_its_loop() -> None:
    assert eventloop.run(_loop_module(), "asyncio").startswith("asyncio")
    assert eventloop.run(_loop_module(), "uvloop").startswith("uvloop")
    assert eventloop.run(_loop_module(), "auto").startswith("uvloop")  # installed here
    assert eventloop.running_loop_name() is None  # outside any loop


def test_auto_without_uvloop_runs_on_asyncio_and_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _no_uvloop(monkeypatch)
    caplog.set_level(logging.INFO, logger="occmon.eventloop")
    assert eventloop.run(_loop_module(), "auto").startswith("asyncio")
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warned and "uvloop not installed" in warned[0].getMessage()


def test_uvloop_required_but_missing_is_a_clear_error_and_runs_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _no_uvloop(monkeypatch)
    ran: list[bool] = []

    async def body() -> None:
        ran.append(True)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(eventloop.EventLoopUnavailable) as caught:
            eventloop.run(body(), "uvloop")
    assert "gateway.event_loop" in str(caught.value) and "asyncio" in str(caught.value)
    assert not ran


def test_the_gateway_command_exits_2_naming_the_key_when_uvloop_is_required_but_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    doc = _mutate("gateway", {"event_loop": "uvloop",
                              "queue_path": str(tmp_path / "queue.db")})
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    _no_uvloop(monkeypatch)
    assert main(["gateway", str(site)]) == 2
    err = capsys.readouterr().err
    assert "occmon gateway:" in err and "gateway.event_loop is uvloop" in err
    assert not (tmp_path / "queue.db").exists()  # nothing started


def test_a_wrong_loop_name_in_the_site_file_names_the_key() -> None:
    file = Path("plant.yaml")
    config, problems = parse(_mutate("gateway", {"event_loop": "libuv"}), file)
    assert config is None
    hits = [p for p in problems if p.key == "gateway.event_loop"]
    assert hits, [str(p) for p in problems]
    assert "uvloop" in hits[0].message and "asyncio" in hits[0].message and hits[0].fix
