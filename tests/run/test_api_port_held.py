"""The API's port is held from the moment ``occmon run`` starts its parts.

Ingest and the gateway open client connections before the API binds; the kernel gives each a
local port from the ephemeral range, and a configured API port in that range could be handed
out, so the API failed to bind after everything else had started (uvicorn then exited with its
own status 3). Holding the bound socket takes the port out of the kernel's choices."""

from __future__ import annotations

import asyncio
import errno
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from occmon.config.schema import SiteConfig
from occmon.run import Options, load_checked, start_system
from tests.broker.support import finish_loop_tasks
from tests.run.support import demo_config


@pytest.mark.slow
def test_the_api_port_is_taken_before_ingest_connects_and_served_after(tmp_path: Path) -> None:
    path, api_port = demo_config(tmp_path)
    config = load_checked(path)
    tried: list[int] = []

    def while_starting(_running: SiteConfig) -> None:
        # ingest is connected now; the gateway and the API are not started yet
        other = socket.socket()
        try:
            other.bind(("127.0.0.1", api_port))
            tried.append(0)
        except OSError as exc:
            tried.append(exc.errno or -1)
        finally:
            other.close()

    async def scenario() -> bytes:
        system, banner = await start_system(config, Options(path, quiet=True), while_starting)
        try:
            assert f"http://127.0.0.1:{api_port}/api/v1/points" in banner
            url = f"http://127.0.0.1:{api_port}/healthz"

            def get() -> bytes:
                try:
                    with urllib.request.urlopen(url, timeout=10) as answer:
                        return bytes(answer.read())
                except urllib.error.HTTPError as refused:  # 503 while peers settle: served
                    return bytes(refused.read())

            return await asyncio.to_thread(get)
        finally:
            await system.stop()
            await finish_loop_tasks()  # the broker's client handlers, before the loop closes

    body = asyncio.run(scenario())
    assert tried == [errno.EADDRINUSE]  # held while ingest started
    assert b'"status"' in body  # and then served by the API on that socket
    freed = socket.socket()  # released when the system stopped: a restart can listen there
    freed.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        freed.bind(("127.0.0.1", api_port))
        freed.listen()
    finally:
        freed.close()
