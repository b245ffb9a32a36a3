"""Drive fans for the safety tests: the site's fans as an ABB ACS580 and an Inovance MD500.

The run sequences are those the profiles' headers document (ABB Drives profile control word;
MD500 command 2000H); hex values are as the manuals print them."""

from __future__ import annotations

import copy
from typing import Any

ACS580_DRIVE: dict[str, Any] = {
    "run": [{"value": 0x0476, "confirm": {"word": "status_word", "bit": 0}},  # RDY_ON
            {"value": 0x047F, "confirm": {"word": "status_word", "bit": 1}}],  # RDY_RUN
    "stop": [{"value": 0x047E}],  # OFF1: ramp stop
    "reset": [{"value": 0x04F6}],  # bit 7 rising edge
    "running": {"word": "status_word", "bit": 2},  # RDY_REF
    "fault": {"word": "status_word", "bit": 3},  # TRIPPED
    "step_timeout": 1.0,
}
MD500_DRIVE: dict[str, Any] = {
    "run": [{"target": "frequency_setting", "value": 10000}, {"value": 1}],  # 100 %, forward
    "stop": [{"value": 6}],  # decelerate to stop
    "reset": [{"value": 7}],
    "running": {"word": "run_state", "values": [1, 2]},
    "fault": {"word": "fault_code", "nonzero": True},
    "read_back": False,  # 2000H is write-only
    "step_timeout": 1.0,
}
PROFILES = {"acs580": "abb-acs580", "md500": "inovance-md500"}
COMMANDS = {"acs580": "control_word", "md500": "command"}
DRIVES = {"acs580": ACS580_DRIVE, "md500": MD500_DRIVE}


def drive_fan(device: str, kind: str) -> dict[str, Any]:
    return {"device": device, "run_command": COMMANDS[kind],
            "drive": copy.deepcopy(DRIVES[kind])}


def with_drives(doc: dict[str, Any], fan: str, standby: str) -> dict[str, Any]:
    """``doc`` (``rig.site_doc``) with fan-1 and fan-2 as drives of the kinds given."""
    doc = copy.deepcopy(doc)
    for device in doc["devices"]:
        kind = {"fan-1": fan, "fan-2": standby}.get(device["id"])
        if kind is not None:
            device["profile"] = PROFILES[kind]
    unit = doc["ventilation"]["units"][0]
    unit["fan"], unit["standby"] = drive_fan("fan-1", fan), drive_fan("fan-2", standby)
    return doc
