"""Plant A of the records tests, with a closed day and an open exceedance, served over HTTP.

Its broker points at a port nothing listens on: alarm commands meet the real command client
and its real 503 ``gateway-unreachable``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from api.app import create_app
from ingest.daily.close import close_day
from occmon.config.schema import SiteConfig
from tests.api.serve import serve
from tests.records.support import DAY, dust_day, local, site_config, site_doc, write
from tests.safety.rig import command_keys
from tests.servers import free_port


@dataclass
class RecordsSite:
    config: SiteConfig
    url: str


@contextmanager
def records_site(tmp_path: Path) -> Iterator[RecordsSite]:
    doc = site_doc(tmp_path)
    doc["broker"] = {"host": "127.0.0.1", "port": free_port()}  # no broker there
    doc["security"] = command_keys(tmp_path)  # signed commands: the gateway's absence answers
    config = site_config(tmp_path, doc)
    write(config, dust_day())
    close_day(config.store.path, config, DAY, now=local(DAY + dt.timedelta(days=1), 0, 30))
    app = create_app(config, config.store.path)
    try:
        with serve(app) as url:
            yield RecordsSite(config, url)
    finally:
        commands = getattr(app.state, "gateway_commands", None)
        if commands is not None:
            commands.stop()
