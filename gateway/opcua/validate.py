"""Checks of the OPC UA devices that need the file system: run by ``occmon config check``.

The schema (``occmon.config.opcua``) checks the endpoint's form, node id syntax and that a
secured channel names its certificate and key; only here is it known whether those files
exist, so a missing certificate fails at ``config check`` and not at the first connect.
"""

from __future__ import annotations

import os
from pathlib import Path

from occmon.config.opcua import OpcUaDevice
from occmon.config.problems import ConfigProblem
from occmon.config.schema import SiteConfig


def check(config: SiteConfig, config_file: Path) -> list[ConfigProblem]:
    """Every certificate or key file an OPC UA device names must be readable, and its trust
    list must hold at least one certificate, every file of it a certificate."""
    problems: list[ConfigProblem] = []
    for index, device in enumerate(config.devices):
        if not isinstance(device, OpcUaDevice):
            continue
        security = device.security
        for key, path in (("certificate", security.certificate),
                          ("private_key", security.private_key),
                          ("server_certificate", security.server_certificate)):
            if path is not None and not os.access(path, os.R_OK):
                problems.append(ConfigProblem(
                    config_file, f"devices[{index}].security.{key}",
                    f"device {device.id!r}: {path} does not exist or is not readable",
                    "install the file there (occmon reads it as the gateway's user) or "
                    "correct the path"))
        if security.trust:
            from gateway.opcua.trust import TrustListError, load  # asyncua: only if used

            try:
                load(security.trust)
            except TrustListError as exc:
                problems.append(ConfigProblem(
                    config_file, f"devices[{index}].security.trust",
                    f"device {device.id!r}: {exc}",
                    "put the CA or server certificates (PEM or DER) there, readable by the "
                    "gateway's user, or correct the paths"))
    return problems
