"""A point's day (and shifts) as record content and exceedance events: orchestration only.

Every figure comes from ``thresholds``: ``shift_twa``/``twa_verdict`` per shift (RF on the
shift's working hours), ``stel_max``, ``mac_exceedances``, ``peak_excursions`` and
``impulse_shift`` per shift (the working day: GBZ 2.1-2019 cl. 3, GBZ 2.2-2007 Table 10),
``shift_noise``, ``investigation_level``, ``cumulative_dose``. This module picks which
apply to the agent, over which window, and shapes the results as JSON content (rounded, so
a recomputation gives byte-identical content and stays idempotent). docs/records.md,
"Methods", lists the choices.

Each quantity's step series is built once per point (``Readings``) and every window (the
day, each shift) takes a slice of it for the ``*_series`` forms of the metrics, instead of
every metric rebuilding it from the day's 86,400 readings.

Pure: arrays and windows in, dicts out; no store, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

import thresholds
from ingest.daily.spec import PointSpec
from ingest.daily.windows import Window

FloatArray = npt.NDArray[np.float64]
Series = tuple[FloatArray, FloatArray]  # times (epoch s, increasing), values (NaN: rejected)

VERDICT_ZH = {"pass": "合格", "fail": "超标", "insufficient": "数据不足"}
_RANK = {"pass": 0, "insufficient": 1, "fail": 2}
EMPTY: Series = (np.empty(0), np.empty(0))


def num(x: float | None, digits: int = 6) -> float | None:
    """JSON-safe, rounded: NaN/inf become null (no value), never zero."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def worst(verdicts: Sequence[str]) -> str:
    return max(verdicts, key=_RANK.__getitem__) if verdicts else "insufficient"


def clip(series: Series, start: float, end: float) -> Series:
    t, v = series
    i, j = np.searchsorted(t, [start, end])
    return t[i:j], v[i:j]


class Readings:
    """A point's readings over [start, end) with each quantity's step series built once.

    ``held(quantity, a, b)`` is the series of the window [a, b) inside the span: the span's
    segments whose reading falls in the window, the last one's hold cut at ``b``. That is
    exactly what ``StepSeries.build`` makes of the readings clipped to the window (a reading
    holds until the next one or ``max_gap``; clipped, none from before the window reaches in),
    so every figure is bit-for-bit what building per window gives; only the work is shared.
    """

    def __init__(self, spec: PointSpec, series: Mapping[str, Series], start: float,
                 end: float) -> None:
        self.spec = spec
        self.series = series
        self.start = start
        self.end = end
        self._spans: dict[str, thresholds.StepSeries] = {}
        self._held: dict[tuple[str, float, float], thresholds.StepSeries] = {}

    def raw(self, quantity: str, win: Window) -> Series:
        """The quantity's readings with a time in ``win`` (NaN: rejected)."""
        return clip(self.series.get(quantity, EMPTY), win.start, win.end)

    def _span(self, quantity: str) -> thresholds.StepSeries:
        span = self._spans.get(quantity)
        if span is None:
            t, v = clip(self.series.get(quantity, EMPTY), self.start, self.end)
            span = thresholds.StepSeries.build(t, v, max_gap=self.spec.hold(quantity),
                                               start=self.start, end=self.end)
            self._spans[quantity] = span
        return span

    def held(self, quantity: str, start: float, end: float) -> thresholds.StepSeries:
        """The quantity's step series over [start, end) (the readings timed in it); the same
        object for the same window, so its stats, TWA and STEL share its derived arrays."""
        key = (quantity, start, end)
        series = self._held.get(key)
        if series is None:
            series = self._held[key] = self._window(quantity, start, end)
        return series

    def _window(self, quantity: str, start: float, end: float) -> thresholds.StepSeries:
        if not self.start <= start <= end <= self.end:  # outside the span: build it alone
            t, v = clip(self.series.get(quantity, EMPTY), start, end)
            return thresholds.StepSeries.build(t, v, max_gap=self.spec.hold(quantity),
                                               start=start, end=end)
        span = self._span(quantity)
        i, j = (int(k) for k in np.searchsorted(span.t, [start, end]))
        t, s, v = span.t[i:j], span.s[i:j], span.v[i:j]
        if j > i and s[-1] > end:
            s = s.copy()
            s[-1] = min(s[-1], end)
        return thresholds.StepSeries(t, s, v, float(start), float(end))


@dataclass
class Outcome:
    """One window's figures, the verdict of each metric, and the exceedances found."""

    fields: dict[str, Any] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    means: dict[str, float] = field(default_factory=dict)  # shift name -> TW mean or LAeq
    # shift name -> (its C_TWA, the reduction factor applied): the mixtures' input, not content
    twas: dict[str, tuple[thresholds.ShiftTWA, float]] = field(default_factory=dict)


def _event(kind: str, metric: str, start: float, end: float, peak: float, limit: float,
           shift: str | None = None, **detail: Any) -> dict[str, Any]:
    return {"type": kind, "metric": metric, "start": num(start, 3), "end": num(end, 3),
            "peak": num(peak), "limit": num(limit), "ratio": num(peak / limit, 4),
            "shift": shift, "detail": detail}


def _stats(readings: Readings, quantity: str, win: Window) -> dict[str, Any]:
    series = readings.held(quantity, win.start, win.end)
    good = series.v  # the valid readings timed in the window, in order
    cover = series.monitored() / series.span if series.span > 0 else 0.0
    return {"readings": int(good.size), "coverage_pct": num(100.0 * cover, 2),
            "min": num(float(good.min())) if good.size else None,
            "max": num(float(good.max())) if good.size else None,
            "mean": num(float(good.mean())) if good.size else None, "_coverage": cover}


def _shift_twa(readings: Readings, quantity: str, w: Window,
               min_cov: float) -> thresholds.ShiftTWA:
    """C_TWA of shift ``w``; ``shift_twa``'s figures exactly (its window is start + hours)."""
    shift_s = w.hours * 3600.0
    if w.start + shift_s == w.end and w.end - w.start == shift_s:
        return thresholds.shift_twa_series(readings.held(quantity, w.start, w.end),
                                           min_coverage=min_cov)
    return thresholds.shift_twa(*readings.raw(quantity, w), start=w.start, hours=w.hours,
                                max_gap=readings.spec.hold(quantity), min_coverage=min_cov)


def _chemical(spec: PointSpec, readings: Readings, win: Window, twa_wins: Sequence[Window],
              min_cov: float, out: Outcome, cover: float) -> None:
    quantity = "concentration"
    lim, pc_twa = spec.limits, spec.pc_twa
    if pc_twa is not None:
        twas, lowers = [], []
        for w in twa_wins:
            st = _shift_twa(readings, quantity, w, min_cov)
            # the reduction factor counts the hours worked (a shift's breaks are not)
            rf = thresholds.reduction_factor_day(w.working_hours) if w.hours <= 24 else 1.0
            verdict = thresholds.twa_verdict(st, pc_twa, rf)
            out.twas[w.name] = (st, rf)
            twas.append(st.c_twa)
            lowers.append(st.c_twa_lower)
            out.verdicts[f"twa:{w.name}"] = verdict
            if w.working is not None:   # a shift with breaks: say which hours RF counted
                out.fields.setdefault("working_hours", {})[w.name] = num(w.working, 4)
                out.fields.setdefault("reduction_factors", {})[w.name] = num(rf, 6)
            if st.monitored_s > 0:
                out.means[w.name] = st.c_twa * 8.0 / w.hours if w.hours else float("nan")
            if verdict == "fail":
                value = st.c_twa if math.isfinite(st.c_twa) else st.c_twa_lower
                out.events.append(_event("twa", "c_twa", w.start, w.end, value, pc_twa * rf,
                                         w.name, rf=num(rf, 4), coverage=num(st.coverage, 4)))
        finite = [x for x in twas if math.isfinite(x)]
        out.fields["c_twa"] = num(max(finite)) if finite else None
        out.fields["c_twa_lower"] = num(max(lowers)) if lowers else None
    series = readings.held(quantity, win.start, win.end)  # the one the stats used
    if lim.pc_stel is not None:
        stel = thresholds.stel_max_series(series)
        over = math.isfinite(stel.stel_max) and stel.stel_max > lim.pc_stel
        out.fields["stel_max"] = num(stel.stel_max)
        out.verdicts["stel"] = thresholds.evidence_verdict(over, cover, min_cov)
        if over:
            out.events.append(_event("stel", "stel_15min", stel.window_end - 900.0,
                                     stel.window_end, stel.stel_max, lim.pc_stel))
    if lim.mac is not None:
        mac = thresholds.mac_exceedances_series(series, mac=lim.mac)
        out.fields["mac_exceedances"] = len(mac.exceedances)
        out.verdicts["mac"] = thresholds.evidence_verdict(mac.exceeded, cover, min_cov)
        for iv in mac.exceedances:
            out.events.append(_event("mac", "concentration", iv.start, iv.end, iv.max, lim.mac,
                                     duration_s=num(iv.duration_s, 3)))
    if pc_twa is not None and lim.pc_stel is None:
        _peaks(spec, readings, twa_wins, pc_twa, min_cov, out)


def _rules(results: Sequence[tuple[str, ...]]) -> list[str]:
    """The union of PE rule keys, in ``PE_RULES`` order."""
    seen = {rule for rules in results for rule in rules}
    return [rule for rule in thresholds.PE_RULES if rule in seen]


def _peaks(spec: PointSpec, readings: Readings, twa_wins: Sequence[Window], pc_twa: float,
           min_cov: float, out: Outcome) -> None:
    """Peak excursions per working day: each shift of ``twa_wins`` on its own (GBZ 2.1-2019
    cl. 3 counts them per working day, never per calendar day). A gap shorter than the
    sensor's expiry does not split an excursion; rules a longer gap leaves open make the
    shift ``insufficient`` (``pe_undetermined``), never ``fail``."""
    quantity = "concentration"
    hold = spec.hold(quantity)
    results = []
    seen: set[float] = set()     # overlapping shifts: one event per excursion
    shifts: dict[str, Any] = {}
    for w in twa_wins:
        pe = thresholds.peak_excursions_series(readings.held(quantity, w.start, w.end),
                                               pc_twa=pc_twa, bridge=hold)
        verdict = pe.verdict(min_cov)
        out.verdicts[f"peak:{w.name}"] = verdict
        results.append(pe)
        shifts[w.name] = {"excursions": len(pe.excursions), "separate": pe.separate,
                          "broken": list(pe.broken), "undetermined": list(pe.undetermined),
                          "coverage_pct": num(100.0 * pe.coverage, 2), "verdict": verdict}
        if not pe.broken:
            continue
        for iv in pe.excursions:
            if iv.start in seen:
                continue
            seen.add(iv.start)
            # the ceiling (5 x PC-TWA) is the limit an excursion over it broke
            limit = 5 * pc_twa if iv.max > 5 * pc_twa else 3 * pc_twa
            out.events.append(_event("peak", "excursion", iv.start, iv.end, iv.max, limit,
                                     w.name, broken=list(pe.broken),
                                     duration_s=num(iv.duration_s, 3),
                                     held_s=num(iv.held_s, 3), ceiling=num(5 * pc_twa)))
    out.fields["peak_excursions"] = sum(len(pe.excursions) for pe in results)
    out.fields["pe_broken"] = _rules([pe.broken for pe in results])
    out.fields["pe_undetermined"] = _rules([pe.undetermined for pe in results])
    out.fields["pe_partial"] = any(pe.partial for pe in results)
    out.fields["pe_shifts"] = shifts


def _noise(spec: PointSpec, readings: Readings, win: Window, twa_wins: Sequence[Window],
           min_cov: float, out: Outcome) -> None:
    assert spec.agent.noise is not None
    limit = spec.agent.noise.lex_8h
    hold = spec.hold("laeq")
    lexes, doses = [], []
    for w in twa_wins:
        # levels, not energies: shift_noise has no series form (see docs/benchmarks.md)
        sn = thresholds.shift_noise(*readings.raw("laeq", w), start=w.start, hours=w.hours,
                                    max_gap=hold, min_coverage=min_cov)
        verdict = sn.verdict(limit)
        out.verdicts[f"noise:{w.name}"] = verdict
        lexes.append(sn.lex_8h)
        doses.append(sn.dose_percent)
        if math.isfinite(sn.laeq):
            out.means[w.name] = sn.laeq
        if verdict == "fail":
            value = sn.lex_8h if math.isfinite(sn.lex_8h) else sn.lex_8h_lower
            out.events.append(_event("noise", "lex_8h", w.start, w.end, value, limit, w.name,
                                     dose_pct=num(sn.dose_percent, 2)))
    finite = [x for x in lexes if math.isfinite(x)]
    out.fields["lex_8h"] = num(max(finite), 2) if finite else None
    dfin = [x for x in doses if math.isfinite(x)]
    out.fields["noise_dose_pct"] = num(max(dfin), 2) if dfin else None
    peaks = readings.held("lcpeak", win.start, win.end)
    good = peaks.v  # the valid peaks timed in the window
    out.fields["noise_peak_db"] = num(float(good.max()), 2) if good.size else None
    if good.size:
        _impulses(readings, twa_wins, min_cov, out)
    dosimeter = readings.raw("noise_dose", win)[1]
    dgood = dosimeter[np.isfinite(dosimeter)]
    out.fields["dosimeter_dose_pct"] = num(float(dgood.max()), 2) if dgood.size else None


def _impulses(readings: Readings, twa_wins: Sequence[Window], min_cov: float,
              out: Outcome) -> None:
    """Impulses per working day (shift): LCpeak readings above
    ``thresholds.DEFAULT_IMPULSE_THRESHOLD_DB`` counted per shift pick that shift's peak
    limit (GBZ 2.2-2007 cl. 11, Table 10: 140 / 130 / 120 dB(C) for <= 100 / 1000 / 10000).
    One exceedance event per failing shift, spanning its first to its last impulse over the
    limit (there can be thousands)."""
    noise = readings.spec.agent.noise
    shifts: dict[str, Any] = {}
    for w in twa_wins:
        imp = thresholds.impulse_shift_series(readings.held("lcpeak", w.start, w.end),
                                              min_coverage=min_cov, limits=noise)
        out.verdicts[f"impulse:{w.name}"] = imp.verdict
        shifts[w.name] = {"impulses": imp.count, "limit_db": imp.limit_db,
                          "over_limit": imp.over, "coverage_pct": num(100.0 * imp.coverage, 2),
                          "verdict": imp.verdict}
        if imp.over_start is not None and imp.over_end is not None:
            limit = imp.limit_db if imp.limit_db is not None else thresholds.STRICTEST_PEAK_DB
            out.events.append(_event("peak", "lcpeak", imp.over_start, imp.over_end,
                                     imp.max_peak_db, limit, w.name, impulses=imp.count,
                                     over_limit=imp.over, threshold_db=imp.threshold_db))
    out.fields["impulse_threshold_db"] = thresholds.DEFAULT_IMPULSE_THRESHOLD_DB
    out.fields["impulses"] = shifts


def _radiation(readings: Readings, win: Window, min_cov: float, out: Outcome,
               cover: float) -> None:
    """The day's Hp(10) (``thresholds.cumulative_dose``: the sum of the cumulative log's
    rises) with two different uses, never confused:

    - the GBZ 128 **investigation level** shared over 365 daily periods (an occmon policy for
      a daily check; the statutory period is 1-3 months): above it, the record carries
      ``investigate: true`` and an empty ``investigation_follow_up`` for the outcome. It is
      not a limit: no exceedance, no 超标;
    - the **limits** (GB 18871-2002 B1.1.1) are annual and 5-yearly, judged on a worker's
      period results (``occmon assess --periods``). A day can only prove one broken: a single
      day's dose over the single-year limit (50 mSv) is over it for the year, so ``dose``
      fails and an exceedance is raised; otherwise the day passes (no limit broken by it)."""
    v = readings.raw("hp10", win)[1]
    dose = thresholds.cumulative_dose(v)
    rad = thresholds.radiation_limits()
    level_usv = thresholds.investigation_level(365) * 1000.0
    annual_usv = rad.effective_single_year_msv * 1000.0
    investigate = dose is not None and dose > level_usv
    out.fields["dose_usv"] = num(dose, 3)
    out.fields["investigation_level_usv"] = num(level_usv, 3)
    out.fields["investigate"] = investigate
    out.fields["investigation_follow_up"] = None   # the investigation's outcome, recorded later
    out.fields["annual_limit_usv"] = num(annual_usv, 3)
    rates = readings.raw("dose_rate", win)[1]
    rgood = rates[np.isfinite(rates)]
    out.fields["dose_rate_max"] = num(float(rgood.max()), 3) if rgood.size else None
    over = dose is not None and dose > annual_usv
    out.verdicts["dose"] = thresholds.evidence_verdict(over, cover, min_cov)
    if over and dose is not None:
        out.events.append(_event("dose", "hp10", win.start, win.end, dose, annual_usv,
                                 limit_name="GB 18871-2002 B1.1.1 single-year 50 mSv"))


def analyze(spec: PointSpec, series: Mapping[str, Series] | Readings, win: Window,
            twa_wins: Sequence[Window], min_cov: float) -> Outcome:
    """Figures, verdicts and exceedances of one point over ``win``; TWA/LEX per ``twa_wins``.

    Pass the point's ``Readings`` when analysing several windows of it (the day, then each
    shift), so each quantity's series is built once for all of them.
    """
    readings = series if isinstance(series, Readings) else Readings(
        spec, series, min([win.start, *(w.start for w in twa_wins)]),
        max([win.end, *(w.end for w in twa_wins)]))
    out = Outcome()
    stats = _stats(readings, spec.primary, win)
    cover = float(stats.pop("_coverage"))
    out.fields.update(stats)
    if spec.kind in ("chemical", "dust"):
        _chemical(spec, readings, win, twa_wins, min_cov, out, cover)
    elif spec.kind == "noise":
        _noise(spec, readings, win, twa_wins, min_cov, out)
    elif spec.kind == "radiation":
        _radiation(readings, win, min_cov, out, cover)
    return out


def verdict_fields(out: Outcome) -> dict[str, Any]:
    verdict = worst(list(out.verdicts.values()))
    failed = sorted(k for k, v in out.verdicts.items() if v == "fail")
    return {"verdict": VERDICT_ZH[verdict], "verdict_en": verdict, "failed": failed,
            "verdicts": dict(sorted(out.verdicts.items()))}
