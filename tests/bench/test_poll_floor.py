"""bench/poll_floor.py works: each lane polls every device each second, small and for real.

Five pymodbus device servers in another process, each lane for two seconds: every lane must
answer every poll, the drivers and bare lanes must hand ten readings a poll to the sink and
the io lane none. No timing is asserted: the figures are for people.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "poll_floor.py"


def test_every_lane_polls_every_device_and_counts_what_it_handed_over() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--devices", "5", "--window", "3", "--warmup", "1.5",
         "--rounds", "1"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    results = {r["lane"]: r for r in (json.loads(line.removeprefix("RESULT "))
                                      for line in done.stdout.splitlines()
                                      if line.startswith("RESULT "))}
    assert set(results) == {"drivers", "bare", "io"}, done.stdout
    for lane, r in results.items():
        assert r["devices"] == 5
        assert 4.0 <= r["polls_per_s"] <= 6.0, (lane, r)  # 5 devices at 1 Hz
        assert r["unanswered"] == 0, (lane, r)
        assert r["cpu_pct"] > 0 and r["us_per_poll"] > 0, (lane, r)
    for lane in ("drivers", "bare"):  # 10 values a device, every one good
        r = results[lane]
        assert abs(r["readings_per_s"] - 10 * r["polls_per_s"]) <= 0.5, (lane, r)
    assert results["io"]["readings_per_s"] == 0
    assert "| drivers |" in done.stdout and "| io |" in done.stdout
