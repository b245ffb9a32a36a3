"""The embedded broker drops a delivery to a connection already closing on any event loop:
uvloop's transport raises where asyncio's drops, and amqtt logged that as a failed task with
a traceback on stops of ``occmon run`` (which runs on uvloop)."""

from __future__ import annotations

import asyncio

import pytest
from amqtt.adapters import StreamWriterAdapter

from occmon import eventloop
from occmon.broker import _Writer


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_write_after_the_peer_closed_is_dropped(loop: eventloop.EventLoopChoice) -> None:
    async def main() -> list[str]:
        accepted: list[asyncio.StreamWriter] = []
        server = await asyncio.start_server(lambda _r, w: accepted.append(w), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.close()
        await asyncio.sleep(0.02)  # the connection is gone, not only closing
        outcomes = []
        for adapter in (_Writer(writer), StreamWriterAdapter(writer)):
            try:
                adapter.write(b"\x30\x00")  # a PINGRESP: any packet
                outcomes.append("dropped")
            except RuntimeError:
                outcomes.append("raised")
        for peer in accepted:
            peer.close()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)  # the closed handles go before the loop closes
        return outcomes

    ours, amqtts = eventloop.run(main(), loop)
    assert ours == "dropped"
    assert amqtts == ("raised" if loop == "uvloop" else "dropped")  # what it guards against
