"""Below-detection results in payloads (issue: ND, <0.05, <LOD accepted, recorded as
below-LOD, entering the metrics as LOD x 0.5 by thresholds.lod's documented rule)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.app import build_bindings
from gateway.mqtt.intake import below_lod
from gateway.mqtt.mapping import extract
from ingest.handler import handle
from ingest.validate import Validator
from occmon import topics
from occmon.config.schema import MqttDevice, SiteConfig
from occmon.model import Quality, iso_utc
from tests.ingest.helpers import SITE, T0, site_config

NOW = T0 + 3_600.0


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> SiteConfig:
    return site_config(tmp_path_factory.mktemp("lod"))


def reading_doc(value: Any, **extra: Any) -> dict[str, Any]:
    return {"point": "desulf-h2s-1", "agent": "h2s", "time": iso_utc(NOW - 60),
            "value": value, "unit": "mg/m3", "quality": "good",
            "quantity": "concentration", **extra}


def ingest(config: SiteConfig, *docs: dict[str, Any]) -> Any:
    body = json.dumps({"v": 1, "site": SITE, "readings": list(docs)}).encode()
    return handle(Validator.from_config(config), topics.readings(SITE), body, NOW)


def test_a_less_than_result_enters_as_half_its_limit(config: SiteConfig) -> None:
    out = ingest(config, reading_doc("<0.05"))
    (r,) = out.readings
    # LOD x 0.5 = 0.05 x 0.5 = 0.025 mg/m3; the limit itself is kept as what was reported
    assert r.value == pytest.approx(0.025) and r.raw_value == pytest.approx(0.05)
    assert r.quality is Quality.UNCERTAIN and r.reason == "below-lod"
    assert not out.dead_letters


def test_nd_takes_its_limit_from_raw_or_is_a_dead_letter(config: SiteConfig) -> None:
    (r,) = ingest(config, reading_doc("ND", raw={"value": 0.2, "unit": "mg/m3"})).readings
    assert r.value == pytest.approx(0.1) and r.reason == "below-lod"  # 0.2 x 0.5
    out = ingest(config, reading_doc("<LOD"))
    assert not out.readings
    assert [d.code for d in out.dead_letters] == ["lod-unknown"]


def test_other_text_is_still_a_wrong_type(config: SiteConfig) -> None:
    out = ingest(config, reading_doc("high"))
    assert not out.readings and [d.code for d in out.dead_letters] == ["wrong-type"]


def test_the_gateway_takes_a_vendor_nd_with_the_sensors_detection_limit(
        config: SiteConfig) -> None:
    device = config.device("wgas-1")
    assert isinstance(device, MqttDevice)
    binding = build_bindings(config)["w1-h2s"]  # unit ppm, H2S 34.08 g/mol
    sample = extract(json.dumps({"gas": {"h2s": "<0.4"}, "ts": int(NOW * 1000)}).encode(),
                     device.mapping, NOW)
    assert sample.below_lod == {"h2s": "<0.4"} and not sample.problems
    r = below_lod(binding, sample.below_lod["h2s"], sample.time, "ppm")
    # 0.4 ppm x 0.5 = 0.2 ppm = 0.2 x 34.08 / 24.04 mg/m3 (GBZ 2.1 reference conditions)
    assert r.value == pytest.approx(0.2 * 34.08 / 24.04, rel=1e-3)
    assert r.quality is Quality.UNCERTAIN and r.reason == "below-lod"
    assert r.raw_value == pytest.approx(0.4) and r.raw_unit == "ppm"
    with pytest.raises(ValueError, match="no limit is known"):
        below_lod(binding, "ND", NOW, "ppm")  # the demo sensor declares no detection_limit
    limited = binding.sensor.model_copy(update={"detection_limit": 0.1})
    nd = below_lod(type(binding)(limited, binding.point, binding.agent, binding.reference),
                   "ND", NOW, "ppm")
    assert nd.raw_value == pytest.approx(0.1) and nd.reason == "below-lod"


def test_the_payload_docs_describe_below_detection_values() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "topics.md").read_text()
    assert "below-lod" in docs and "lod-unknown" in docs
