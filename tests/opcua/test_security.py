"""A secured panel: Basic256Sha256 SignAndEncrypt with a username whose password comes from
the environment. Real certificates, a real asyncua server that offers nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from occmon.model import Quality
from tests.opcua.helpers import RecordingSink, intake_for, panel_site, until
from tests.opcua.server import OpcUaServer, make_certificate

GATEWAY_URI = "urn:occmon:gateway:plant-a"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OpcUaServer, Path]]:
    folder = tmp_path_factory.mktemp("pki")
    server = OpcUaServer(certificate=make_certificate(folder, "panel", "urn:test:panel"),
                         users={"occmon-gateway": "s3cret-from-env"})
    server.start()
    try:
        yield server, folder
    finally:
        server.stop()


def _run(server: OpcUaServer, folder: Path, env: dict[str, str], *,
         pinned: str | None = "panel-cert.der", wait_for_value: bool = True) -> RecordingSink:
    cert, key = make_certificate(folder, "gateway", GATEWAY_URI)
    security = {"policy": "Basic256Sha256", "mode": "SignAndEncrypt",
                "certificate": str(cert), "private_key": str(key)}
    if pinned is not None:
        security["server_certificate"] = str(folder / pinned)
    config = panel_site(server.endpoint, security=security, username="occmon-gateway",
                        password_env="PANEL_PASSWORD", timeout=1.0)
    sink = RecordingSink()

    async def main() -> None:
        intake = intake_for(config, env=env)
        await intake.start(sink)
        try:
            assert await until(lambda: bool(sink.statuses))
            if wait_for_value and sink.statuses[0].online:
                await asyncio.to_thread(server.set, "H2S", 2.0)
                assert await until(lambda: any(r.raw_value == 2.0 for r in sink.of("p1-h2s")))
        finally:
            await intake.stop()

    asyncio.run(main())
    return sink


def test_values_flow_over_a_signed_and_encrypted_channel(
        secured: tuple[OpcUaServer, Path]) -> None:
    sink = _run(*secured, env={"PANEL_PASSWORD": "s3cret-from-env"})
    assert [s.online for s in sink.statuses] == [True]
    got = next(r for r in sink.of("p1-h2s") if r.raw_value == 2.0)
    assert got.quality is Quality.GOOD


def test_a_wrong_password_keeps_the_device_offline(secured: tuple[OpcUaServer, Path]) -> None:
    sink = _run(*secured, env={"PANEL_PASSWORD": "guess"})
    assert [s.online for s in sink.statuses] == [False]
    assert sink.statuses[0].reason == "opcua-bad:BadUserAccessDenied"


def test_an_unset_password_variable_is_named_as_the_reason(
        secured: tuple[OpcUaServer, Path]) -> None:
    sink = _run(*secured, env={})
    assert [(s.online, s.reason) for s in sink.statuses] == [(False, "login-missing")]


def test_without_a_pinned_certificate_the_endpoint_s_is_used(
        secured: tuple[OpcUaServer, Path]) -> None:
    sink = _run(*secured, env={"PANEL_PASSWORD": "s3cret-from-env"}, pinned=None)
    assert [s.online for s in sink.statuses] == [True]


def test_a_server_that_is_not_the_pinned_one_is_refused(
        secured: tuple[OpcUaServer, Path]) -> None:
    server, folder = secured
    make_certificate(folder, "impostor", "urn:test:impostor")  # what the gateway expects
    sink = _run(server, folder, env={"PANEL_PASSWORD": "s3cret-from-env"},
                pinned="impostor-cert.der")
    assert [s.online for s in sink.statuses] == [False]
    assert not sink.got or all(r.quality is Quality.BAD for r in sink.got)
