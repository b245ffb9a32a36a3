"""/docs and /redoc work on an offline plant network: every asset is served by the API.

Over real HTTP (uvicorn on a loopback port), then in headless Chromium with every host but
the API's unresolvable, so a CDN reference would leave the page blank.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from occmon.config.schema import SiteConfig
from tests.api.serve import serve
from tests.board.test_board import chromium


class _Refs(HTMLParser):
    """Every URL a page makes the browser fetch: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "redoc": "spec-url"}
        for name, value in attrs:
            if name == wanted.get(tag) and value:
                self.urls.append(value)
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline.append(data)


def refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    # URLs handed to SwaggerUIBundle in the inline script: url: '/openapi.json', ...
    for script in parser.inline:
        parser.urls += re.findall(r"""(?:url|oauth2RedirectUrl)['"]?\s*:\s*"""
                                  r"""(?:window\.location\.origin\s*\+\s*)?['"]([^'"]+)""",
                                  script)
    return parser.urls


@pytest.fixture
def api(config: SiteConfig) -> Iterator[str]:
    with serve(create_app(config, config.store.path)) as url:
        yield url


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_of_the_docs_is_served_by_the_api(api: str, page: str) -> None:
    answer = httpx.get(api + page)  # no API key: the docs are public
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    urls = refs(answer.text)
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts, f"{page} loads no script: {urls}"
    assert "/openapi.json" in urls
    assert not re.search(r"https?://", answer.text), "an absolute URL in the page"
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page}: external {url}"
        assert url.startswith("/"), url
        fetched = httpx.get(urllib.parse.urljoin(api, url))
        assert fetched.status_code == 200, f"{page}: {url} -> {fetched.status_code}"
        assert len(fetched.content) > 0
    if page == "/docs":
        assert {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css",
                "/docs/static/favicon.png", "/docs/oauth2-redirect"} <= set(urls)
    else:
        assert "/docs/static/redoc.standalone.js" in urls
        assert "fonts.googleapis" not in answer.text


def test_the_assets_are_the_real_bundles(api: str) -> None:
    js = httpx.get(api + "/docs/static/swagger-ui-bundle.js")
    assert js.headers["content-type"].split(";")[0] in ("text/javascript",
                                                       "application/javascript")
    assert len(js.content) > 500_000 and b"SwaggerUIBundle" in js.content
    css = httpx.get(api + "/docs/static/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css") and b".swagger-ui" in css.content
    redoc = httpx.get(api + "/docs/static/redoc.standalone.js")
    assert len(redoc.content) > 500_000 and b"Redoc" in redoc.content
    assert redoc.headers["content-type"].startswith("text/javascript")
    assert b"cdn.redoc.ly" not in redoc.content  # its sidebar logo would call home
    assert httpx.get(api + "/docs/static/nothing.js").status_code == 404


OFFLINE = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"  # every other host fails to resolve


def browse(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp / 'profile'}",
         # the browser's own form-autofill lookups (not the page's) stay off the log
         "--disable-features=AutofillServerCommunication",
         f"--host-resolver-rules={OFFLINE}", "--virtual-time-budget=8000", *extra, url],
        capture_output=True, text=True, timeout=120)


def page_requests(net_log: Path) -> set[str]:
    """Every URL the page asked for, from Chromium's NetLog: the requests started in the
    page's network context (its top-frame site, 127.0.0.1), which includes any third-party
    asset it would load; the browser's own background calls have no such context."""
    text = net_log.read_text(encoding="utf-8", errors="replace").rstrip()
    if not text.endswith("}"):  # a log cut at exit lacks its closing brackets
        text = text.rstrip(",") + "]}"
    doc = json.loads(text)
    start = doc["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = set()
    for event in doc.get("events", []):
        params = event.get("params") or {}
        if (event.get("type") == start
                and str(params.get("network_isolation_key", "")).startswith("http://127.0.0.1")):
            urls.add(str(params["url"]))
    return urls


def test_docs_render_the_operations_in_chromium_with_only_the_api_reachable(
        api: str, tmp_path: Path) -> None:
    spec = httpx.get(api + "/openapi.json").json()
    operations = [(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")]
    assert len(operations) > 10
    net_log = tmp_path / "netlog.json"
    dom = browse(api + "/docs", tmp_path, f"--log-net-log={net_log}", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    blocks = re.findall(r'class="opblock-summary-method">(\w+)</span>.*?'
                        r'data-path="([^"]+)"', dom.stdout, re.S)
    assert sorted(set(blocks)) == sorted(set(operations))
    assert "/api/v1/points" in dom.stdout
    urls = page_requests(net_log)
    assert {f"{api}/docs", f"{api}/docs/static/swagger-ui-bundle.js",
            f"{api}/docs/static/swagger-ui.css", f"{api}/openapi.json"} <= urls
    assert {u for u in urls if not u.startswith(api + "/")} == set()

    shot = tmp_path / "docs.png"  # the artifact: look at it in the test's tmp dir
    done = browse(api + "/docs", tmp_path, f"--screenshot={shot}", "--window-size=1280,1600",
                  "--hide-scrollbars")
    assert done.returncode == 0, done.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 30_000, "a blank page: the UI did not render"


def test_redoc_renders_in_chromium_with_only_the_api_reachable(api: str, tmp_path: Path) -> None:
    net_log = tmp_path / "netlog.json"
    dom = browse(api + "/redoc", tmp_path, f"--log-net-log={net_log}", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    urls = page_requests(net_log)
    assert {f"{api}/redoc", f"{api}/docs/static/redoc.standalone.js",
            f"{api}/openapi.json"} <= urls
    assert {u for u in urls if not u.startswith(api + "/")} == set()
    assert "/api/v1/points" in dom.stdout and "occmon" in dom.stdout
    assert 'class="api-content"' in dom.stdout or "api-info" in dom.stdout
