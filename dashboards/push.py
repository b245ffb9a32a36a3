"""Upload boards to a running Grafana through its HTTP API (grafana-client).

The boards land in one folder (uid ``occmon``, created when missing) and overwrite the
previous version of the same uid, so a push is repeatable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError

from dashboards.build import FOLDER
from dashboards.panels import Json

MESSAGE = "occmon dashboards push"


def ensure_folder(api: Any, uid: str = FOLDER, title: str = "occmon") -> str:
    try:
        api.folder.get_folder(uid)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder(title, uid=uid)
    return uid


def push(url: str, token: str, boards: Mapping[str, Json], timeout: float = 10.0) -> list[str]:
    """Create or overwrite every board; return the uids pushed."""
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout)
    folder = ensure_folder(api)
    pushed: list[str] = []
    for board in boards.values():
        body = {"dashboard": {**board, "id": None}, "folderUid": folder,
                "overwrite": True, "message": MESSAGE}
        api.dashboard.update_dashboard(body)
        pushed.append(str(board["uid"]))
    return pushed
