"""Results below the limit of detection: recorded as such, entered in metrics by one rule.

A laboratory or instrument reports a result it cannot quantify as ``ND`` (not detected),
``<LOD`` or ``<0.05`` (below the stated limit). Such a result is never rejected (DOMAIN.md
section 1) and never taken as zero or as the limit itself: it enters the figures as
**LOD / 2**, the substitution of Hornung & Reed (1990, Appl. Occup. Environ. Hyg. 5(1):46-51,
"Estimation of average concentration in the presence of nondetectable values"), used for
data with a high spread; for personal dose, GBZ 128-2019 records a result below the minimum
detectable level as MDL / 2 (verify clause). The factor is a policy argument, with this
default, and every substituted value is counted and listed by the caller.

Pure: strings in, numbers out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DEFAULT_FACTOR = 0.5
RULE = ("below-detection result entered as LOD x 0.5 (Hornung & Reed 1990; "
        "GBZ 128-2019 MDL/2 for personal dose, verify clause)")
_ND = frozenset({"nd", "n.d.", "<lod", "<mdl", "<lld", "bdl", "未检出", "<检出限"})
_LESS = re.compile(r"^<\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$")


@dataclass(frozen=True)
class Reported:
    """A reported result: the figure that enters the metrics, and whether it was a
    below-detection result (then ``lod`` is the limit it was below, ``text`` the report)."""

    value: float
    below_lod: bool
    lod: float | None
    text: str


def is_below_lod(text: str) -> bool:
    t = text.strip().casefold()
    return t in _ND or _LESS.match(t) is not None


def parse_result(text: str, lod: float | None = None,
                 factor: float = DEFAULT_FACTOR) -> Reported:
    """Read one reported result: a number, ``<x`` (below x), or ``ND``/``<LOD`` (below
    ``lod``, which must then be given). Raises ``ValueError`` saying what is missing."""
    if not 0 < factor <= 1:
        raise ValueError(f"substitution factor must be in (0, 1], got {factor}")
    t = text.strip()
    key = t.casefold()
    m = _LESS.match(key)
    if m is not None:
        limit = float(m.group(1))
        if not limit > 0:
            raise ValueError(f"{t!r}: a detection limit must be > 0")
        return Reported(limit * factor, True, limit, t)
    if key in _ND:
        if lod is None or not (math.isfinite(lod) and lod > 0):
            raise ValueError(f"{t!r} is below the detection limit but no limit is known: "
                             "give it as '<0.05' or pass the limit (--lod)")
        return Reported(lod * factor, True, lod, t)
    return Reported(float(t), False, None, t)   # ValueError on anything else
