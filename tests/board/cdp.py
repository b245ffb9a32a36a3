"""Headless Chromium driven over the DevTools protocol: a viewport, a page, its layout, a PNG.

What the floor sees depends on the layout, not on the HTML alone: this loads the page at a
phone's or a desktop's size, lists every element that reaches beyond the viewport, records
every URL the page requested (an offline plant has no internet), and keeps screenshots.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.board.dom import chromium

# every element whose box reaches past the viewport's right edge (or starts left of it)
OVERFLOW_JS = """(() => {
  const w = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > w + 0.5 || r.left < -0.5) {
      wide.push({tag: el.tagName, id: el.id, cls: el.className && el.className.baseVal
                 !== undefined ? el.className.baseVal : el.className,
                 left: r.left, right: r.right});
    }
  }
  return JSON.stringify({viewport: w, inner: window.innerWidth,
                         scroll: document.documentElement.scrollWidth,
                         height: document.documentElement.scrollHeight, wide: wide,
                         html: document.documentElement.outerHTML});
})()"""


@dataclass
class Shot:
    html: str
    viewport: int
    scroll_width: int
    wide: list[dict[str, Any]]
    requests: list[str]
    png: Path
    full_png: Path


class _Session:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self.events.append(msg)

    async def until(self, method: str, timeout: float = 30.0) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            self.events.append(msg)
            if msg.get("method") == method:
                return
        raise TimeoutError(method)


async def _shoot(ws_url: str, url: str, width: int, height: int, mobile: bool,
                 out: Path) -> Shot:
    async with websockets.connect(ws_url, max_size=64 * 2**20) as ws:
        s = _Session(ws)
        await s.call("Network.enable")
        await s.call("Page.enable")
        await s.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                     deviceScaleFactor=1, mobile=mobile)
        await s.call("Page.navigate", url=url)
        await s.until("Page.loadEventFired")
        await asyncio.sleep(0.3)  # layout settles (fonts)
        found = json.loads((await s.call("Runtime.evaluate", expression=OVERFLOW_JS,
                                         returnByValue=True))["result"]["value"])
        png = out.with_suffix(".png")
        shot = await s.call("Page.captureScreenshot", format="png")
        png.write_bytes(base64.b64decode(shot["data"]))
        full = out.with_name(out.name + "-full.png")
        whole = await s.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                             clip={"x": 0, "y": 0, "width": width,
                                   "height": max(found["height"], height), "scale": 1})
        full.write_bytes(base64.b64decode(whole["data"]))
        requests = [e["params"]["request"]["url"] for e in s.events
                    if e.get("method") == "Network.requestWillBeSent"]
        return Shot(found["html"], found["viewport"], found["scroll"], found["wide"],
                    requests, png, full)


def screenshot(url: str, out: Path, *, width: int, height: int, mobile: bool) -> Shot:
    """Load ``url`` at ``width`` x ``height`` in headless Chromium; PNGs next to ``out``."""
    profile = out.parent / f"{out.name}-profile"
    port_file = profile / "DevToolsActivePort"
    # a profile used before (a shot taken again) still names the port of the Chromium that
    # wrote it, which is gone: wait for this one's own
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", "--remote-debugging-port=0",
         "--remote-allow-origins=*", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            assert proc.poll() is None, "chromium exited"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t["type"] == "page")
        return asyncio.run(_shoot(page["webSocketDebuggerUrl"], url, width, height, mobile, out))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
