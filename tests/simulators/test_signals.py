from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pytest

from simulators.baselines import SensorSpec, SignalError, base_signal, unit_factor
from simulators.signals import SimClock, activity, gaussian, local_hours, shift_start
from tests.simulators.conftest import T0

TZ = ZoneInfo("Asia/Shanghai")
MIDNIGHT = T0 - (T0 + 8 * 3600) % 86400  # 00:00 Asia/Shanghai on the day of T0
DAY = MIDNIGHT + np.arange(0.0, 86400.0, 60.0)
H2S = SensorSpec("h2s", "concentration", None, "ppm", "gas-panel-1", False)


def at_hours(lo: float, hi: float) -> np.ndarray:
    return MIDNIGHT + np.arange(lo * 3600, hi * 3600, 60.0)


def test_same_seed_same_series_different_seed_different() -> None:
    a = base_signal(7, H2S, TZ).series(DAY)
    b = base_signal(7, H2S, TZ).series(DAY)
    c = base_signal(8, H2S, TZ).series(DAY)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_value_at_an_instant_does_not_depend_on_other_samples() -> None:
    signal = base_signal(7, H2S, TZ)
    dense = signal.series(DAY)
    sparse = signal.series(DAY[::37])
    np.testing.assert_array_equal(dense[::37], sparse)


def test_sources_are_independent() -> None:
    other = SensorSpec("h2s", "concentration", None, "ppm", "gas-panel-2", False)
    mine, theirs = base_signal(7, H2S, TZ), base_signal(7, other, TZ)
    assert not np.allclose(mine.series(DAY), theirs.series(DAY))


def test_sim_clock_runs_at_speed_from_its_start() -> None:
    clock = SimClock(T0, speed=600.0, t0=100.0)
    assert clock.now(100.0) == T0
    assert clock.elapsed(101.5) == pytest.approx(900.0)
    with pytest.raises(ValueError, match="speed"):
        SimClock(T0, speed=0.0)


def test_shift_pattern_and_local_time() -> None:
    hours = local_hours(np.array([MIDNIGHT + 9 * 3600, MIDNIGHT + 12.5 * 3600]), TZ)
    np.testing.assert_allclose(hours, [9.0, 12.5])
    act = activity(np.array([3.0, 9.0, 12.5, 15.0, 22.0]))
    np.testing.assert_allclose(act, [0.1, 1.0, 0.3, 1.0, 0.1])
    starts = shift_start(np.array([MIDNIGHT + 7 * 3600, MIDNIGHT + 9 * 3600]), TZ)
    np.testing.assert_allclose(starts, [MIDNIGHT - 16 * 3600, MIDNIGHT + 8 * 3600])


def test_gaussian_noise_is_standard_normal() -> None:
    noise = gaussian(12345, np.arange(0.0, 20000.0))
    assert abs(noise.mean()) < 0.05
    assert noise.std() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    ("agent", "fraction", "lo", "hi"),
    [
        ("h2s", None, 0.15, 0.9),  # a few tenths of a ppm
        ("ammonia", None, 1.5, 8.0),  # a few ppm
        ("cement-dust", "total", 1.0, 3.0),
        ("cement-dust", "respirable", 0.4, 1.1),
    ],
)
def test_production_baselines(agent: str, fraction: str | None, lo: float, hi: float) -> None:
    for seed in (1, 7, 99):
        spec = SensorSpec(agent, "concentration", fraction, None, "dev", False)
        signal = base_signal(seed, spec, TZ)
        production = signal.series(at_hours(8.5, 10.0)).mean()
        night = signal.series(at_hours(0.0, 5.0)).mean()
        assert lo <= production <= hi, (seed, production)
        assert night < production / 2
        assert signal.series(DAY).min() >= 0.0


def test_mill_noise_and_peak() -> None:
    laeq = base_signal(7, SensorSpec("noise", "laeq", None, "dB(A)", "slm-1", False), TZ)
    peak = base_signal(7, SensorSpec("noise", "lcpeak", None, "dB(C)", "slm-1", False), TZ)
    shift = at_hours(8.5, 10.0)
    assert 80.0 <= laeq.series(shift).mean() <= 86.0  # enclosed mill: under LEX,8h 85
    assert 105.0 <= peak.series(shift).mean() <= 118.0
    assert np.all(peak.series(shift) > laeq.series(shift) + 10.0)  # same meter: correlated


def test_personal_noise_dose_accumulates_over_the_shift_and_resets() -> None:
    dose = base_signal(7, SensorSpec("noise", "noise_dose", None, "%", "nd-1", True), TZ)
    shift = at_hours(8.0, 16.0)
    values = dose.series(shift)
    assert values[0] == pytest.approx(0.0, abs=1.0)
    assert np.all(np.diff(values) >= 0.0)
    assert 20.0 < values[-1] < 100.0  # LEX,8h around 80-85 dB(A): under the 100 % dose
    after = dose.series(np.array([MIDNIGHT + 20 * 3600, MIDNIGHT + 86400 + 8.1 * 3600]))
    assert after[0] == pytest.approx(dose.series(np.array([MIDNIGHT + 16 * 3600]))[0], rel=1e-6)
    assert after[1] < 10.0  # the next shift starts again from zero


def test_radiographer_dose_a_few_usv_per_shift_in_bursts() -> None:
    agent = "ionising-radiation"
    hp10 = base_signal(7, SensorSpec(agent, "hp10", None, "uSv", "rd", True), TZ)
    rate = base_signal(7, SensorSpec(agent, "dose_rate", None, "uSv/h", "rd", True), TZ)
    shift = MIDNIGHT + np.arange(8 * 3600, 16 * 3600, 10.0)
    doses = hp10.series(shift)
    assert np.all(np.diff(doses) >= 0.0)
    assert 0.5 < doses[-1] < 20.0
    rates = rate.series(shift)
    assert rates.max() > 2.0  # an exposure
    assert np.median(rates) < 0.5  # mostly background


def test_unit_factor() -> None:
    rate = SensorSpec("ionising-radiation", "dose_rate", None, "mSv/h", "rd", True)
    assert unit_factor(rate, "uSv/h") == pytest.approx(1e-3)
    # A gas sensor in mg/m3: the ppm signal at 20 C / 101.3 kPa, H2S 34.08 g/mol over the
    # standard's 24.04 L/mol (the gateway converts it back with the same factor).
    gas = SensorSpec("h2s", "concentration", None, "mg/m3", "g", False)
    assert unit_factor(gas, "ppm") == pytest.approx(34.08 / 24.04, rel=1e-3)
    dust = SensorSpec("cement-dust", "concentration", "total", "ppm", "d", False)
    with pytest.raises(SignalError, match="set the sensor's unit to mg/m3"):
        unit_factor(dust, "mg/m3")
    with pytest.raises(SignalError, match="quantity 'colour'"):
        base_signal(1, SensorSpec("h2s", "colour", None, None, "g", False), TZ)
