"""The InfluxQL every board runs, in one place (schema: ``docs/influxdb.md``).

InfluxQL, not Flux: InfluxDB 2 answers it through a DBRP mapping and InfluxDB 3 natively,
while Flux is in maintenance and absent from InfluxDB 3. ``$timeFilter`` and
``$__interval`` are Grafana macros. Identifiers are double-quoted and values single-quoted;
ids are config slugs, so no quoting can be broken by a value.

Exposure arithmetic done in the query, with its formula:

* running C_TWA (GBZ 2.1 appendix): sum(C_i x 1 min) / 480 min over the range =
  ``cumulative_sum(mean(value)) / 480`` grouped by 1 min; minutes without data add nothing.
* 15-min rolling average (PC-STEL comparison): ``moving_average(mean(value), 15)`` of 1-min means.
* noise (GBZ 2.2 s. 11, equal energy): LAeq,T = 10 lg(mean(10^(0.1 L))); running LEX,8h =
  10 lg(sum(10^(0.1 L_i) x 1 min) / 480 min); dose % = 100 x 10^(0.1 (LEX,8h - 85)).
* personal dose from a dosimeter's running Hp(10) total: the sum of its rises,
  ``sum(non_negative_difference(value))``; a fall is a reset (the counter cleared) and adds
  nothing, as ``thresholds.radiation.cumulative_dose`` rules. (``spread`` = max - min would
  count a reset's fall as dose, or lose everything before it.) The subquery has no GROUP BY,
  so the readings of one point form one series in time order even when their ``quality``
  tag changes. Per worker: one subquery per wearing of a dosimeter, clipped to the wearing
  (both ends included, like ``ingest.workers.attribution``), summed together.
"""

from __future__ import annotations

from collections.abc import Sequence

ALARM_KIND = "alarm"
VENTILATION_KIND = "ventilation"
EVENT_KINDS = ("alarm", "exceedance", "interlock", "ventilation", "fault")

_TEN_TO_8_5 = 10 ** 8.5  # 10^(0.1 x 85): the energy of 85 dB(A), 100 % dose


def _where(site: str, point: str | None = None, quantity: str | None = None) -> str:
    parts = [f"\"site\" = '{site}'"]
    if point is not None:
        parts.append(f"\"point\" = '{point}'")
    if quantity is not None:
        parts.append(f"\"quantity\" = '{quantity}'")
    return " AND ".join(parts)


def last_value(site: str, point: str, quantity: str) -> str:
    return (f'SELECT last("value") FROM "reading" WHERE {_where(site, point, quantity)} '
            "AND $timeFilter")


def mean_value(site: str, point: str, quantity: str) -> str:
    return (f'SELECT mean("value") FROM "reading" WHERE {_where(site, point, quantity)} '
            "AND $timeFilter GROUP BY time($__interval) fill(null)")


def max_value(site: str, point: str, quantity: str) -> str:
    return (f'SELECT max("value") FROM "reading" WHERE {_where(site, point, quantity)} '
            "AND $timeFilter GROUP BY time($__interval) fill(null)")


def rolling_15min(site: str, point: str, quantity: str) -> str:
    return (f'SELECT moving_average(mean("value"), 15) FROM "reading" WHERE '
            f"{_where(site, point, quantity)} AND $timeFilter GROUP BY time(1m) fill(none)")


def running_twa(site: str, point: str, quantity: str = "concentration") -> str:
    return (f'SELECT cumulative_sum(mean("value")) / 480 FROM "reading" WHERE '
            f"{_where(site, point, quantity)} AND \"quality\" != 'bad' AND $timeFilter "
            "GROUP BY time(1m) fill(none)")


def _energy(site: str, point: str) -> str:
    return (f'(SELECT pow(10.0, "value" / 10.0) AS "e" FROM "reading" WHERE '
            f"{_where(site, point, 'laeq')} AND \"quality\" != 'bad' AND $timeFilter)")


def laeq(site: str, point: str) -> str:
    return (f'SELECT 10 * log10(mean("e")) FROM {_energy(site, point)} WHERE $timeFilter '
            "GROUP BY time($__interval) fill(none)")


def running_lex8h(site: str, point: str) -> str:
    return (f'SELECT 10 * log10(cumulative_sum(mean("e")) / 480) FROM {_energy(site, point)} '
            "WHERE $timeFilter GROUP BY time(1m) fill(none)")


def running_noise_dose(site: str, point: str) -> str:
    return (f'SELECT cumulative_sum(mean("e")) / 480 / {_TEN_TO_8_5!r} * 100 FROM '
            f"{_energy(site, point)} WHERE $timeFilter GROUP BY time(1m) fill(none)")


def _rises(site: str, point: str, start: float | None = None,
           end: float | None = None) -> str:
    """The rises of ``point``'s running Hp(10) total within [start, end] and the range."""
    span = "" if start is None else f" AND time >= {round(start * 1000)}ms"
    span += "" if end is None else f" AND time <= {round(end * 1000)}ms"
    return (f'(SELECT non_negative_difference("value") AS "d" FROM "reading" WHERE '
            f"{_where(site, point, 'hp10')} AND \"quality\" != 'bad'{span} AND $timeFilter)")


def dose_in_range(site: str, point: str) -> str:
    """Hp(10) accumulated over the range by one dosimeter: the sum of its rises."""
    return f'SELECT sum("d") FROM {_rises(site, point)} WHERE $timeFilter'


def worker_dose(site: str, wearings: Sequence[tuple[str, float, float | None]]) -> str:
    """Hp(10) of one worker over the range: the rises of each (point, start, end) they wore
    (``end`` None: still worn), all summed. ``wearings`` must not be empty."""
    if not wearings:
        raise ValueError("worker_dose needs at least one wearing")
    sources = ", ".join(_rises(site, point, start, end) for point, start, end in wearings)
    return f'SELECT sum("d") FROM {sources} WHERE $timeFilter'


def states(site: str, kind: str, by: str) -> str:
    return (f'SELECT last("state") FROM "event" WHERE "site" = \'{site}\' AND "kind" = '
            f"'{kind}' AND $timeFilter GROUP BY time($__interval), \"{by}\" fill(previous)")


def quality_by_point(site: str) -> str:
    return (f'SELECT max("status") FROM "reading" WHERE {_where(site)} AND $timeFilter '
            'GROUP BY time($__interval), "point" fill(null)')


def completeness(site: str, point: str, quantity: str, poll_interval: float) -> str:
    """% of the readings a polled point should give per minute (60 / poll interval)."""
    return (f'SELECT count("status") * {poll_interval!r} / 60 * 100 FROM "reading" WHERE '
            f"{_where(site, point, quantity)} AND $timeFilter GROUP BY time(1m) fill(0)")


def readings_per_minute(site: str) -> str:
    return (f'SELECT count("status") FROM "reading" WHERE {_where(site)} AND $timeFilter '
            'GROUP BY time(1m), "point", "quantity" fill(0)')


def not_good_counts(site: str) -> str:
    return (f'SELECT count("status") FROM "reading" WHERE {_where(site)} AND '
            "\"quality\" != 'good' AND $timeFilter GROUP BY \"point\", \"quality\"")


def device_online(site: str) -> str:
    return (f'SELECT last("online") FROM "device_status" WHERE "site" = \'{site}\' AND '
            '$timeFilter GROUP BY time($__interval), "device" fill(previous)')


def dead_letters(site: str) -> str:
    return (f'SELECT sum("n") FROM "dead_letter" WHERE "site" = \'{site}\' AND $timeFilter '
            'GROUP BY "code"')


def counters(site: str) -> str:
    return (f'SELECT sum("count") FROM "ingest_counter" WHERE "site" = \'{site}\' AND '
            '$timeFilter GROUP BY "code"')


def _kinds(kinds: tuple[str, ...]) -> str:
    return "/^(" + "|".join(kinds) + ")$/"


def event_log(site: str, kinds: tuple[str, ...] = EVENT_KINDS) -> str:
    return (f'SELECT "message", "kind", "point", "device", "level", "value" FROM "event" '
            f"WHERE \"site\" = '{site}' AND \"kind\" =~ {_kinds(kinds)} AND $timeFilter "
            "ORDER BY time DESC LIMIT 1000")


def event_counts(site: str, kinds: tuple[str, ...] = EVENT_KINDS) -> str:
    return (f'SELECT sum("n") FROM "event" WHERE "site" = \'{site}\' AND "kind" =~ '
            f'{_kinds(kinds)} AND $timeFilter GROUP BY "kind", "point"')


def annotation_events(site: str, kind: str) -> str:
    return (f'SELECT "message", "point", "level" FROM "event" WHERE "site" = \'{site}\' '
            f"AND \"kind\" = '{kind}' AND $timeFilter")
