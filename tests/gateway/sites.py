"""Site configs for tests: the demo plant, or a golden case, with Modbus ports made free."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from occmon.config import SiteConfig, parse
from tests.servers import free_port

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-plant.yaml"


def with_free_ports(data: dict[str, Any]) -> dict[str, Any]:
    """Give every modbus-tcp device a free port on 127.0.0.1 (devices sharing a port share)."""
    ports: dict[int, int] = {}
    for device in data["devices"]:
        if device.get("protocol") == "modbus-tcp":
            old = int(device.get("port", 502))
            device["port"] = ports.setdefault(old, free_port())
            device["host"] = "127.0.0.1"
    return data


def load_site(path: Path, interval: float | None = None) -> SiteConfig:
    data = with_free_ports(yaml.safe_load(path.read_text(encoding="utf-8")))
    if interval is not None:
        for device in data["devices"]:
            if str(device.get("protocol", "")).startswith("modbus"):
                device["poll_interval"] = interval
    config, problems = parse(data, path)
    assert config is not None, "\n".join(str(p) for p in problems)
    return config


def custom_site(tmp_path: Path, profile_yaml: str, sensors: list[dict[str, Any]]) -> Path:
    """A one-device site config (device ``dev``, profile ``custom.yaml`` next to it)."""
    (tmp_path / "custom.yaml").write_text(profile_yaml, encoding="utf-8")
    data = {
        "site": {"id": "t", "name": {"zh": "测试", "en": "test"}},
        "areas": [{"id": "a", "name": {"zh": "区", "en": "area"}}],
        "points": [
            {"id": f"p-{s['id']}", "name": {"zh": "点", "en": "point"}, "area": "a",
             "agent": s.pop("agent", "h2s")}
            for s in sensors
        ],
        "devices": [
            {"id": "dev", "protocol": "modbus-tcp", "host": "127.0.0.1", "port": free_port(),
             "profile": "custom.yaml", "poll_interval": 0.2, "timeout": 0.5, "retries": 0}
        ],
        "sensors": [{"point": f"p-{s['id']}", "device": "dev", **s} for s in sensors],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def load_plain(path: Path) -> SiteConfig:
    config, problems = parse(yaml.safe_load(path.read_text(encoding="utf-8")), path)
    assert config is not None, "\n".join(str(p) for p in problems)
    return config
