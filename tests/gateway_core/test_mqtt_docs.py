"""The MQTT driver's README embeds its sample config, and the sample is a valid config."""

from __future__ import annotations

from pathlib import Path

import yaml

from occmon.config.schema import MqttDevice, Sensor
from tests.driver_docs import assert_readme_embeds_sample

FOLDER = Path(__file__).resolve().parents[2] / "gateway" / "mqtt"


def test_readme_embeds_the_sample_verbatim() -> None:
    assert_readme_embeds_sample(FOLDER)


def test_sample_validates_against_the_schema() -> None:
    data = yaml.safe_load((FOLDER / "sample.yaml").read_text(encoding="utf-8"))
    devices = [MqttDevice.model_validate(d) for d in data["devices"]]
    sensors = [Sensor.model_validate(s) for s in data["sensors"]]
    fields = {name for d in devices for name in d.mapping.fields}
    assert all(s.field in fields for s in sensors)
