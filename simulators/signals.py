"""Deterministic, time-accelerated sensor signals: value = f(seed, source, sim time).

No I/O and no clock reads: every function takes the simulated time (epoch seconds) as an
argument, so two runs with the same seed give the same series however often they sample.
A signal is the sum of

- a **shift pattern** (production 08:00-16:00 local time with a tea break, lunch and a
  second break; a quieter evening and night),
- a **slow drift**: a few low-frequency sinusoids with seeded periods and phases, a bounded
  stand-in for a random walk that can be evaluated at any instant without replaying history,
- **Gaussian noise** drawn from a counter-based hash of (source, time bucket), so the noise at
  an instant does not depend on the samples taken before it.

Cumulative quantities (noise dose %, Hp(10)) integrate the underlying level from the start
of the shift on a fixed grid, which keeps them monotonic within a shift and reproducible.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

SHIFT_START_H = 8.0  # the day shift (and every cumulative dose) starts at 08:00 local time
SHIFT_HOURS = 8.0
# (from hour, activity 0..1) in local time; each row holds until the next one.
ACTIVITY: tuple[tuple[float, float], ...] = (
    (0.0, 0.1),  # night: maintenance crew only
    (6.0, 0.35),  # start-up
    (8.0, 1.0),  # production
    (10.0, 0.4),  # tea break
    (10.25, 1.0),
    (12.0, 0.3),  # lunch
    (12.75, 1.0),
    (14.5, 0.4),  # break
    (14.75, 1.0),
    (16.0, 0.35),  # evening: cleaning, reduced load
    (20.0, 0.1),
)
_HOURS = np.array([h for h, _ in ACTIVITY])
_LEVELS = np.array([a for _, a in ACTIVITY])


class SimClock:
    """Simulated time: ``start + (monotonic - t0) * speed``.

    ``start`` is the simulated epoch second at which the clock was created; scenario times are
    sim seconds since then (``elapsed``). Pass ``monotonic`` to read it at a given real instant.
    """

    def __init__(self, start: float, speed: float, t0: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.start = start
        self.speed = speed
        self.t0 = time.monotonic() if t0 is None else t0

    def now(self, monotonic: float | None = None) -> float:
        real = time.monotonic() if monotonic is None else monotonic
        return self.start + (real - self.t0) * self.speed

    def elapsed(self, monotonic: float | None = None) -> float:
        return self.now(monotonic) - self.start


def source_key(seed: int, source: str) -> np.random.Generator:
    """The seeded generator of one source (a device and the agent it measures)."""
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(source.encode())])


_OFFSET_BUCKET_S = 900.0  # zone offsets change only on quarter-hours (DST, history)


def local_hours(times: npt.ArrayLike, tz: tzinfo) -> FloatArray:
    """Hour of the day (0..24) in ``tz`` for each epoch second.

    The zone's UTC offset is looked up once per quarter-hour the times touch (every offset
    change falls on one), so a whole simulated day costs ~100 look-ups, not 86,400."""
    flat = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if not flat.size:
        return np.zeros(0)
    buckets = np.floor(flat / _OFFSET_BUCKET_S)
    unique, index = np.unique(buckets, return_inverse=True)
    per_bucket = np.array([_offset(float(b) * _OFFSET_BUCKET_S, tz) for b in unique],
                          dtype=np.float64)
    offsets = per_bucket[index.reshape(flat.shape)]
    return np.asarray(((flat + offsets) % 86400.0) / 3600.0, dtype=np.float64)


def _offset(t: float, tz: tzinfo) -> float:
    delta = datetime.fromtimestamp(t, UTC).astimezone(tz).utcoffset()
    return 0.0 if delta is None else delta.total_seconds()


def activity(hours: FloatArray) -> FloatArray:
    """Production activity 0..1 for local hours of the day (the ACTIVITY table)."""
    index = np.searchsorted(_HOURS, hours, side="right") - 1
    return np.asarray(_LEVELS[np.clip(index, 0, len(_LEVELS) - 1)], dtype=np.float64)


def shift_start(times: FloatArray, tz: tzinfo) -> FloatArray:
    """Epoch second of the most recent 08:00 local time at or before each time."""
    hours = local_hours(times, tz)
    since = (hours - SHIFT_START_H) % 24.0
    return np.asarray(times - since * 3600.0, dtype=np.float64)


def in_shift(times: FloatArray, tz: tzinfo) -> npt.NDArray[np.bool_]:
    """Whether each time falls in the day shift (08:00 + 8 h), when dosimeters are worn."""
    return np.asarray(times - shift_start(times, tz) < SHIFT_HOURS * 3600.0, dtype=np.bool_)


# -- the random parts ------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser on arrays (array integer arithmetic wraps without warnings)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(x ^ (x >> np.uint64(31)), dtype=np.uint64)


def _uniform(key: int, counter: npt.NDArray[np.int64]) -> FloatArray:
    """Uniform (0, 1) values, a pure function of (key, counter)."""
    keyed = _splitmix(np.full(counter.shape, key, dtype=np.uint64)) ^ counter.astype(np.uint64)
    bits = _splitmix(keyed) >> np.uint64(11)
    return np.asarray((bits.astype(np.float64) + 0.5) / 2.0**53, dtype=np.float64)


def gaussian(key: int, times: npt.ArrayLike, step: float = 1.0) -> FloatArray:
    """Standard normal noise, constant within each ``step``-second bucket of sim time."""
    bucket = np.floor(np.atleast_1d(np.asarray(times, dtype=np.float64)) / step).astype(np.int64)
    u1 = _uniform(key, bucket * 2)
    u2 = _uniform(key, bucket * 2 + 1)
    return np.asarray(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2), dtype=np.float64)


@dataclass(frozen=True)
class Drift:
    """Slow wander with standard deviation ~``sd``: a sum of seeded low-frequency sinusoids."""

    sd: float
    periods: tuple[float, ...]
    phases: tuple[float, ...]

    @classmethod
    def seeded(cls, rng: np.random.Generator, sd: float, components: int = 4) -> Drift:
        periods = np.exp(rng.uniform(math.log(1200.0), math.log(6 * 3600.0), components))
        phases = rng.uniform(0.0, 2.0 * math.pi, components)
        return cls(sd, tuple(float(p) for p in periods), tuple(float(p) for p in phases))

    def __call__(self, times: FloatArray) -> FloatArray:
        total = np.zeros_like(times)
        for period, phase in zip(self.periods, self.phases, strict=True):
            total += np.sin(2.0 * np.pi * (times % period) / period + phase)
        return np.asarray(total * self.sd * math.sqrt(2.0 / len(self.periods)), dtype=np.float64)


class Signal(Protocol):
    """A quantity of one source over sim time."""

    @property
    def unit(self) -> str: ...

    def series(self, times: npt.ArrayLike) -> FloatArray: ...


def value_at(signal: Signal, t: float) -> float:
    return float(signal.series(np.array([t]))[0])


def _times(times: npt.ArrayLike) -> FloatArray:
    return np.atleast_1d(np.asarray(times, dtype=np.float64))


# -- the signal kinds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """A concentration: quiet + (production - quiet) x activity, drifting, with noise.

    Drift is relative (sensor span and process both wander); noise has an absolute floor
    (the sensor's zero noise) and a relative part.
    """

    unit: str
    production: float
    quiet: float
    noise_abs: float
    noise_rel: float
    drift_rel: float
    tz: tzinfo
    key: int
    drift: Drift
    floor: float = 0.0

    def series(self, times: npt.ArrayLike) -> FloatArray:
        t = _times(times)
        mean = self.quiet + (self.production - self.quiet) * activity(local_hours(t, self.tz))
        mean = mean * np.maximum(0.0, 1.0 + self.drift(t))
        sd = np.hypot(self.noise_abs, self.noise_rel * mean)
        return np.asarray(
            np.maximum(self.floor, mean + sd * gaussian(self.key, t)), dtype=np.float64
        )


@dataclass(frozen=True)
class Sound:
    """A sound level in dB: production noise mixed by energy with the quiet background."""

    unit: str
    production_db: float
    quiet_db: float
    noise_db: float
    tz: tzinfo
    key: int
    drift: Drift
    worn: bool = False  # a personal dosimeter: off the worker (in the rack) outside the shift
    # A quiet charging rack: 55 dB(A) keeps the reading ~6 noise SDs above a dosimeter's
    # 40 dB lower range limit, so an ordinary night gives no out-of-range fault.
    rack_db: float = 55.0

    def smooth(self, t: FloatArray) -> FloatArray:
        """The level without fast noise (what the dose integrates)."""
        act = activity(local_hours(t, self.tz))
        energy = 10.0 ** (self.quiet_db / 10.0) + act * 10.0 ** (self.production_db / 10.0)
        level = 10.0 * np.log10(energy) + self.drift(t)
        if self.worn:
            level = np.where(in_shift(t, self.tz), level, self.rack_db)
        return np.asarray(level, dtype=np.float64)

    def series(self, times: npt.ArrayLike) -> FloatArray:
        t = _times(times)
        return np.asarray(self.smooth(t) + self.noise_db * gaussian(self.key, t), dtype=np.float64)


@dataclass(frozen=True)
class Peak:
    """LCpeak: the same meter's LAeq plus a crest factor (impacts in a mill: ~20-35 dB)."""

    unit: str
    of: Sound
    crest_db: float
    crest_sd: float
    key: int
    ceiling_db: float = 143.0

    def series(self, times: npt.ArrayLike) -> FloatArray:
        t = _times(times)
        crest = self.crest_db + self.crest_sd * gaussian(self.key, t)
        return np.asarray(np.minimum(self.ceiling_db, self.of.series(t) + crest), dtype=np.float64)


@dataclass(frozen=True)
class NoiseDose:
    """Personal noise dose % of the shift so far: 100 x (1/8 h) x sum(dt x 10^((L-85)/10)).

    Counts the worn period only (08:00 + 8 h); it holds its value after the shift.

    GBZ 2.2 / DOMAIN.md section 2 (equal energy, 3 dB exchange rate, 85 dB(A) criterion).
    """

    unit: str
    of: Sound
    grid: float = 60.0

    def series(self, times: npt.ArrayLike) -> FloatArray:
        """Each time's dose: full grid steps of its shift so far plus the part of the step
        it falls in, from one cumulative sum per shift (a day of samples in one pass)."""
        t = _times(times)
        starts = shift_start(t, self.of.tz)
        out = np.zeros_like(t)
        shift_s = SHIFT_HOURS * 3600.0
        steps_per_shift = math.ceil(shift_s / self.grid)
        for begin in np.unique(starts):
            mine = starts == begin
            grid = begin + self.grid * np.arange(steps_per_shift)
            energy = 10.0 ** ((self.of.smooth(grid) - 85.0) / 10.0)
            widths = np.minimum(grid + self.grid, begin + shift_s) - grid
            cumulative = np.concatenate(([0.0], np.cumsum(widths * energy)))
            end = np.minimum(t[mine], begin + shift_s)
            full = np.clip(np.floor((end - begin) / self.grid).astype(np.int64), 0,
                           steps_per_shift)
            partial = np.where(full < steps_per_shift,
                               end - (begin + full * self.grid), 0.0)
            last = energy[np.minimum(full, steps_per_shift - 1)]
            out[mine] = 100.0 * (cumulative[full] + partial * last) / shift_s
        return out


@dataclass(frozen=True)
class Exposure:
    """One radiographic exposure seen by the worker: [start, start + duration) at a rate."""

    start: float
    duration: float
    rate: float  # uSv/h above background


@dataclass(frozen=True)
class DoseRate:
    """Ambient dose rate at a radiographer (uSv/h): background plus seeded exposure bursts.

    Each day shift has a seeded number of exposures (a radiography crew shoots welds in
    batches); outside them only natural background (~0.1 uSv/h) with a little noise.
    """

    unit: str
    background: float
    exposures_per_shift: tuple[int, int]
    duration_s: tuple[float, float]
    rate: tuple[float, float]
    tz: tzinfo
    seed: int
    source: str
    noise_rel: float = 0.05
    key: int = 0
    _days: dict[int, tuple[Exposure, ...]] = field(default_factory=dict, compare=False)

    def exposures(self, shift_start_epoch: float) -> tuple[Exposure, ...]:
        """The exposures of the shift starting at ``shift_start_epoch`` (seeded per day)."""
        day = int(shift_start_epoch // 86400)
        cached = self._days.get(day)
        if cached is not None:
            return cached
        rng = np.random.default_rng(
            [self.seed & 0xFFFFFFFF, zlib.crc32(self.source.encode()), day]
        )
        count = int(rng.integers(self.exposures_per_shift[0], self.exposures_per_shift[1] + 1))
        span = SHIFT_HOURS * 3600.0
        starts = np.sort(rng.uniform(0.0, span - self.duration_s[1], count))
        found = tuple(
            Exposure(
                float(shift_start_epoch + s),
                float(rng.uniform(*self.duration_s)),
                float(rng.uniform(*self.rate)),
            )
            for s in starts
        )
        self._days[day] = found
        return found

    def mean_rate(self, t: FloatArray) -> FloatArray:
        starts = shift_start(t, self.tz)
        out = np.full_like(t, self.background)
        for i, (begin, now) in enumerate(zip(starts, t, strict=True)):
            for exp in self.exposures(float(begin)):
                if exp.start <= now < exp.start + exp.duration:
                    out[i] += exp.rate
        return out

    def series(self, times: npt.ArrayLike) -> FloatArray:
        t = _times(times)
        rate = self.mean_rate(t)
        noisy = rate * (1.0 + self.noise_rel * gaussian(self.key, t))
        return np.asarray(np.maximum(0.0, noisy), dtype=np.float64)


@dataclass(frozen=True)
class Hp10:
    """Accumulated Hp(10) in uSv of the shift so far: the dose rate integrated over the
    worn period (08:00 + 8 h); it holds its value after the shift."""

    unit: str
    of: DoseRate

    def series(self, times: npt.ArrayLike) -> FloatArray:
        t = _times(times)
        starts = shift_start(t, self.of.tz)
        out = np.empty_like(t)
        for i, (begin, at) in enumerate(zip(starts, t, strict=True)):
            now = min(at, begin + SHIFT_HOURS * 3600.0)
            dose = self.of.background * (now - begin) / 3600.0
            for exp in self.of.exposures(float(begin)):
                overlap = min(now, exp.start + exp.duration) - exp.start
                if overlap > 0:
                    dose += exp.rate * overlap / 3600.0
            out[i] = dose
        return out
