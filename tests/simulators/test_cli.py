from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from occmon.config import read_yaml
from simulators.cli import main
from tests.servers import Mosquitto, wait_port
from tests.simulators.conftest import DEMO, free_ports

ROOT = Path(__file__).resolve().parents[2]


def test_list_names_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("normal-day", "h2s-leak", "dust-surge", "dead-sensor", "fan-fails"):
        assert name in out


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(DEMO), "--scenario", "meteor"]) == 2
    assert "unknown scenario 'meteor'" in capsys.readouterr().err
    assert main([str(DEMO), "--broker", "nohost"]) == 2
    assert "--broker must be HOST:PORT" in capsys.readouterr().err
    broken = tmp_path / "site.yaml"
    broken.write_text("site: {id: x}\n")
    assert main([str(broken)]) == 2
    assert "invalid config" in capsys.readouterr().err


@pytest.mark.server
def test_runs_until_sigint_and_stops_cleanly(tmp_path: Path, mosquitto: Mosquitto) -> None:
    data, _ = read_yaml(DEMO)
    modbus = [d for d in data["devices"] if d["protocol"] == "modbus-tcp"]
    for device, port in zip(modbus, free_ports(len(modbus)), strict=True):
        device["port"] = port
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, allow_unicode=True))
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.cli", str(site), "--speed", "600", "--seed", "3",
         "--broker", f"{mosquitto.host}:{mosquitto.port}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        for device in data["devices"]:
            if device["protocol"] == "modbus-tcp":
                wait_port(device["port"], timeout=30.0)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output.decode()
    assert b"scenario normal-day, speed 600, seed 3" in output


REAL = ROOT / "examples" / "real-instruments.yaml"


def test_states_lists_what_each_detector_can_say(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(REAL), "--states"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "check-function:bump-test" in lines["xnx-1"]
    assert "honeywell-xnx" in lines["xnx-1"]
    assert "(none)" in lines["polytron-1"]  # the measured-value map has no status register
    assert "drive" in lines["acs580-1"] and "drive" in lines["md500-1"]


def test_a_state_the_profile_cannot_say_is_a_clear_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(REAL), "--state", "ultima-1=check-function:bump-test"]) == 2
    err = capsys.readouterr().err
    assert "'ultima-1' (msa-ultima-x) cannot say 'check-function:bump-test'" in err
    assert "check-function:calibration" in err  # what it can say instead
    assert main([str(REAL), "--state", "xnx-1"]) == 2
    assert "--state must be DEVICE=STATE" in capsys.readouterr().err
    assert main([str(REAL), "--state", "acs580-1=fault"]) == 2
    assert "'acs580-1' is not a simulated Modbus detector" in capsys.readouterr().err
