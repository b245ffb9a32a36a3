"""``occmon config check`` of an OPC UA device: every problem names the key and the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from asyncua import ua

from occmon.check import check_file
from occmon.config.opcua import NODE_ID, OpcUaDevice
from occmon.config.schema import Sensor
from tests.driver_docs import assert_readme_embeds_sample
from tests.opcua.helpers import panel_site

FOLDER = Path(__file__).resolve().parents[2] / "gateway" / "opcua"
BASE = panel_site("opc.tcp://127.0.0.1:4840/panel").model_dump(mode="json", by_alias=True,
                                                              exclude_unset=True)


def _check(tmp_path: Path, doc: dict[str, Any]) -> list[str]:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    config, problems = check_file(path)
    assert (config is None) == bool(problems)
    return [str(p) for p in problems]


def _device(**change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["devices"][0].update(change)
    return doc


def test_the_panel_site_passes(tmp_path: Path) -> None:
    assert _check(tmp_path, BASE) == []


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"endpoint": "http://10.0.0.1:4840"}, "devices[0]", "opc.tcp://host:4840"),
    ({"endpoint": "opc.tcp://panel:99999"}, "devices[0]", "port must be 1-65535"),
    ({"nodes": {"h2s": "ns=2;GasPanel.H2S", "co": "ns=2;i=6012"}}, "devices[0]",
     "nodes.h2s: 'ns=2;GasPanel.H2S' is not an OPC UA node id"),
    ({"nodes": {"h2s": "ns=70000;s=X", "co": "i=1"}}, "devices[0]", "above 65535"),
    ({"nodes": {"h2s": "g=1234", "co": "i=1"}}, "devices[0]", "is not an OPC UA node id"),
    ({"security": {"policy": "Basic256Sha256", "mode": "None"}}, "devices[0].security",
     "policy None needs mode None"),
    ({"security": {"policy": "Basic256Sha256", "mode": "Sign"}}, "devices[0].security",
     "needs 'certificate' and 'private_key'"),
    ({"security": {"policy": "Basic256Sha256", "mode": "Sign", "certificate": "gw.der",
                   "private_key": "/k.pem"}}, "devices[0].security.certificate",
     "must be an absolute path"),
    ({"username": "occmon"}, "devices[0]", "give both 'username' and 'password_env'"),
    ({"username": "occmon", "password_env": "hunter2!"}, "devices[0].password_env",
     "must be an environment variable name"),
    ({"publishing_interval": 0}, "devices[0].publishing_interval", "greater than or equal"),
])
def test_a_bad_device_is_named_with_key_and_fix(tmp_path: Path, change: dict[str, Any],
                                                key: str, words: str) -> None:
    problems = _check(tmp_path, _device(**change))
    assert any(f": {key}" in p and words in p for p in problems), problems


def test_each_sensor_needs_a_node_of_its_device(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["sensors"][1]["field"] = "nh3"
    del doc["sensors"][0]["field"]
    doc["sensors"][0]["register"] = "gas_ppm"
    problems = _check(tmp_path, doc)
    assert any("sensors[0].register" in p and "is OPC UA: it has nodes" in p
               for p in problems), problems
    assert any("sensors[1].field" in p and "has no node named 'nh3'" in p
               and "['co', 'h2s']" in p for p in problems), problems


def test_a_missing_certificate_file_is_found_by_config_check(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not checked here")
    doc = _device(security={"policy": "Basic256Sha256", "mode": "SignAndEncrypt",
                            "certificate": str(tmp_path / "nope.der"), "private_key": str(key)})
    problems = _check(tmp_path, doc)
    assert len(problems) == 1 and "devices[0].security.certificate" in problems[0]
    assert "does not exist" in problems[0]


@pytest.mark.parametrize("text", ["i=2253", "ns=2;s=GasPanel.H2S", "ns=3;s=a;b=c",
                                  "ns=1;g=09087E75-8E5E-499B-954F-F2A9603DB28A",
                                  "ns=4;b=M/RbKBsRVkePCePcx24oRA=="])
def test_what_the_schema_accepts_asyncua_parses(text: str) -> None:
    assert NODE_ID.match(text)
    assert ua.NodeId.from_string(text).to_string() != ""


def test_readme_embeds_the_sample_verbatim() -> None:
    assert_readme_embeds_sample(FOLDER)


def test_sample_validates_against_the_schema() -> None:
    data = yaml.safe_load((FOLDER / "sample.yaml").read_text(encoding="utf-8"))
    devices = [OpcUaDevice.model_validate(d) for d in data["devices"]]
    sensors = [Sensor.model_validate(s) for s in data["sensors"]]
    names = {name for d in devices for name in d.nodes}
    assert all(s.field in names for s in sensors) and len(sensors) == 2
