"""The exposure-limit catalogue: packaged data file, validated once, looked up by id/CAS/name.

Why a data file: every limit must cite its standard, table and row (MISSION non-negotiable 3),
and a reviewer checks data more easily than code. ``catalogue()`` reads ``catalogue.yaml`` with
``importlib.resources`` (the only read this package does) and caches the result.

Limits are GBZ 2.1-2019 clause 3 kinds: MAC, PC-TWA, PC-STEL (Table 1) and dust PC-TWA total /
respirable (Table 2); noise GBZ 2.2-2007 section 11; radiation GB 18871-2002 annex B.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from thresholds.errors import CatalogueError, UnknownAgent

# libyaml's parser where PyYAML has it: the same plain data as ``yaml.safe_load``, five times
# faster (the catalogue is read by every process, ``occmon config check`` included)
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Kind = Literal["chemical", "dust", "noise", "radiation"]
Confidence = Literal["H", "verify"]

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CAS = re.compile(r"^(\d{2,7})-(\d{2})-(\d)$")
_LIMIT_FIELDS = ("mac", "pc_twa", "pc_stel", "pc_twa_total", "pc_twa_respirable")


def cas_checksum_ok(cas: str) -> bool:
    """CAS registry numbers carry a check digit: sum of digits x position, mod 10."""
    m = _CAS.match(cas)
    if m is None:
        return False
    digits = (m.group(1) + m.group(2))[::-1]
    return sum((i + 1) * int(d) for i, d in enumerate(digits)) % 10 == int(m.group(3))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    """Where a figure comes from: standard, edition/amendment, table, clause and printed row."""

    standard: str
    edition: str
    table: str | None = None
    clause: str | None = None
    row: str | None = None

    def cite(self) -> str:
        parts = [self.standard]
        if self.edition and self.edition not in self.standard:
            parts.append(f"({self.edition})")
        parts += [p for p in (self.table, self.clause and f"cl. {self.clause}", self.row) if p]
        return " ".join(parts)


class Amendment(_Frozen):
    """A later edition of a row's limits (e.g. benzene, GBZ 2.1-2019 Amendment No. 1, 2022)."""

    edition: str
    mac: float | None = Field(default=None, gt=0)
    pc_twa: float | None = Field(default=None, gt=0)
    pc_stel: float | None = Field(default=None, gt=0)
    confidence: Confidence
    source: Source


class Variant(_Frozen):
    """A conditional limit set, e.g. CO at altitude (GBZ 2.1-2019 Table 1, 高原)."""

    id: str
    description: str
    altitude_min_m: float | None = None
    altitude_max_m: float | None = None
    mac: float | None = Field(default=None, gt=0)
    pc_twa: float | None = Field(default=None, gt=0)
    pc_stel: float | None = Field(default=None, gt=0)
    source: Source

    def applies_at(self, altitude_m: float) -> bool:
        lo = self.altitude_min_m if self.altitude_min_m is not None else float("-inf")
        hi = self.altitude_max_m if self.altitude_max_m is not None else float("inf")
        # Bands printed as 2000~3000 m and >3000 m: the upper band owns its lower edge
        # exclusively, so 3000 m falls in the 2000-3000 band.
        return lo < altitude_m <= hi if self.altitude_min_m is not None else altitude_m <= hi


class ImpulseBand(_Frozen):
    max_impulses: int = Field(gt=0)
    peak_db: float


class GradeBand(_Frozen):
    grade: str
    lower_db: float


class NoiseLimits(_Frozen):
    """GBZ 2.2-2007 section 11: LEX,8h and LEX,W 85 dB(A); impulse peak by count (Table 10)."""

    lex_8h: float
    lex_w: float
    impulse_peak: tuple[ImpulseBand, ...]
    grade_bands: tuple[GradeBand, ...]
    grade_source: Source


class RadiationLimits(_Frozen):
    """GB 18871-2002 annex B1.1.1 occupational dose limits; GBZ 128 investigation level."""

    effective_5y_avg_msv: float = Field(gt=0)
    effective_single_year_msv: float = Field(gt=0)
    lens_msv: float = Field(gt=0)
    skin_msv: float = Field(gt=0)
    extremities_msv: float = Field(gt=0)
    investigation_msv_per_year: float = Field(gt=0)
    investigation_source: Source


@dataclass(frozen=True)
class Limits:
    """The limit values applied for one evaluation, with the edition and sources they came from."""

    mac: float | None
    pc_twa: float | None
    pc_stel: float | None
    pc_twa_total: float | None
    pc_twa_respirable: float | None
    edition: str
    confidence: Confidence
    sources: tuple[str, ...]


class Agent(_Frozen):
    """One catalogue row. Limits in mg/m3; ``limits()`` applies amendments and variants."""

    id: str
    kind: Kind
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    cas: str | None = None
    molar_mass: float | None = Field(default=None, gt=0)
    basis: str | None = None
    mac: float | None = Field(default=None, gt=0)
    pc_twa: float | None = Field(default=None, gt=0)
    pc_stel: float | None = Field(default=None, gt=0)
    pc_twa_total: float | None = Field(default=None, gt=0)
    pc_twa_respirable: float | None = Field(default=None, gt=0)
    lel_percent_vol: float | None = Field(default=None, gt=0, le=100)
    canonical_unit: str | None = None
    notes: tuple[str, ...] = ()
    highly_toxic: bool
    confidence: Confidence
    verify_fields: tuple[str, ...] = ()
    source: Source
    amendments: tuple[Amendment, ...] = ()
    variants: tuple[Variant, ...] = ()
    noise: NoiseLimits | None = None
    radiation: RadiationLimits | None = None

    @model_validator(mode="after")
    def _check(self) -> Agent:
        if not _SLUG.match(self.id):
            raise ValueError("id: must be an ascii slug like 'h2s' or 'silica-dust-10-50'")
        if self.cas is not None and not cas_checksum_ok(self.cas):
            raise ValueError(f"cas: {self.cas!r} is not a valid CAS number (check digit)")
        unknown = [f for f in self.verify_fields if f.split(".")[0] not in type(self).model_fields]
        if unknown:
            raise ValueError(f"verify_fields: unknown field(s) {unknown}")
        if self.pc_stel is not None and (self.pc_twa is None or self.pc_stel <= self.pc_twa):
            raise ValueError("pc_stel: needs a pc_twa below it (GBZ 2.1-2019 cl. 3)")
        has_chem = any(getattr(self, f) is not None for f in ("mac", "pc_twa", "pc_stel"))
        has_dust = self.pc_twa_total is not None or self.pc_twa_respirable is not None
        if self.kind == "chemical" and has_dust:
            raise ValueError("pc_twa_total: dust limits on a chemical row")
        if self.kind == "chemical" and not has_chem and self.canonical_unit is None:
            raise ValueError("mac: a chemical row needs mac, pc_twa or pc_stel")
        if self.kind == "dust" and (has_chem or self.pc_twa_total is None):
            raise ValueError("pc_twa_total: a dust row has pc_twa_total (and no mac/pc_stel)")
        if self.canonical_unit not in (None, "mg/m3", "%vol", "%LEL"):
            raise ValueError("canonical_unit: one of mg/m3, %vol, %LEL")
        if self.canonical_unit == "%LEL" and self.lel_percent_vol is None:
            raise ValueError("lel_percent_vol: needed when canonical_unit is %LEL")
        if (self.kind == "noise") != (self.noise is not None):
            raise ValueError("noise: required for, and only for, kind noise")
        if (self.kind == "radiation") != (self.radiation is not None):
            raise ValueError("radiation: required for, and only for, kind radiation")
        # MISSION: every limit cites its standard, table (or clause) and printed row
        for where, src in (("source", self.source),
                           *((f"amendments[{i}].source", a.source)
                             for i, a in enumerate(self.amendments)),
                           *((f"variants[{i}].source", v.source)
                             for i, v in enumerate(self.variants))):
            if not src.row or not (src.table or src.clause):
                raise ValueError(f"{where}: must name the standard's table or clause and "
                                 "its row")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, self.zh, self.en, *self.aliases)

    def limits(self, edition: str | None = None, altitude_m: float | None = None) -> Limits:
        """Applied limits: latest amendment by default, or ``edition`` ('base' for the original).

        ``altitude_m`` selects a highland variant (CO: GBZ 2.1-2019 Table 1) whose values
        replace the base ones; below every band the base row applies.
        """
        values = {f: getattr(self, f) for f in _LIMIT_FIELDS}
        edition_used = self.source.edition
        confidence: Confidence = self.confidence
        sources = [self.source.cite()]
        chosen: Amendment | None = None
        if edition is None and self.amendments:
            chosen = self.amendments[-1]
        elif edition not in (None, "base"):
            matches = [a for a in self.amendments if edition in (a.edition, a.source.edition)]
            if not matches:
                editions = ["base", *(a.edition for a in self.amendments)]
                raise UnknownAgent(f"{self.id}@{edition}", tuple(editions),
                                   f"agent {self.id!r} has no edition {edition!r}")
            chosen = matches[0]
        if chosen is not None:
            for f in ("mac", "pc_twa", "pc_stel"):
                if getattr(chosen, f) is not None:
                    values[f] = getattr(chosen, f)
            edition_used, confidence = chosen.edition, chosen.confidence
            sources.append(chosen.source.cite())
        if altitude_m is not None:
            for v in self.variants:
                if v.altitude_min_m is not None and v.applies_at(altitude_m):
                    values.update(mac=v.mac, pc_twa=v.pc_twa, pc_stel=v.pc_stel)
                    edition_used = f"{edition_used}, variant {v.id}"
                    sources.append(v.source.cite())
                    break
        return Limits(edition=edition_used, confidence=confidence, sources=tuple(sources),
                      **values)


class Catalogue:
    """All agents, indexed by id, CAS and every name (en and aliases case-insensitive)."""

    def __init__(self, agents: tuple[Agent, ...]) -> None:
        self.agents = agents
        self._by_id: dict[str, Agent] = {}
        self._by_name: dict[str, Agent] = {}
        self._by_cas: dict[str, list[Agent]] = {}
        for a in agents:
            if a.id in self._by_id:
                raise CatalogueError(f"catalogue row {a.id!r}: field id: duplicate id")
            self._by_id[a.id] = a
            for name in a.names:
                key = name.strip().casefold()
                other = self._by_name.get(key)
                if other is not None and other.id != a.id:
                    raise CatalogueError(
                        f"catalogue row {a.id!r}: field names: {name!r} already names {other.id!r}"
                    )
                self._by_name[key] = a
            if a.cas:
                self._by_cas.setdefault(a.cas, []).append(a)

    def __iter__(self) -> Iterator[Agent]:
        return iter(self.agents)

    def __len__(self) -> int:
        return len(self.agents)

    def get(self, agent_id: str) -> Agent:
        try:
            return self._by_id[agent_id]
        except KeyError:
            raise UnknownAgent(agent_id, self._suggest(agent_id)) from None

    def lookup(self, query: str) -> Agent:
        """Find by id, CAS, zh or en name or alias (case-insensitive); else ``UnknownAgent``."""
        q = query.strip()
        found = self._by_name.get(q.casefold())
        if found is not None:
            return found
        by_cas = self._by_cas.get(q, [])
        if len(by_cas) == 1:
            return by_cas[0]
        if by_cas:
            ids = tuple(a.id for a in by_cas)
            raise UnknownAgent(q, ids, f"CAS {q} matches several agents; give the id")
        raise UnknownAgent(q, self._suggest(q))

    def _suggest(self, query: str) -> tuple[str, ...]:
        keys = list(self._by_name)
        close = difflib.get_close_matches(query.strip().casefold(), keys, n=8, cutoff=0.6)
        ids = dict.fromkeys(self._by_name[k].id for k in close)
        return tuple(ids)[:5]


def _row_error(row: Mapping[str, Any], err: ValidationError) -> CatalogueError:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if not loc:  # a cross-field check: its message starts with the field it blames
        loc, _, msg = msg.partition(": ")
    return CatalogueError(f"catalogue row {row.get('id', '?')!r}: field {loc}: {msg}")


def parse_catalogue(text: str) -> Catalogue:
    """Validate catalogue YAML text; the first bad row raises ``CatalogueError`` naming it."""
    doc = yaml.load(text, Loader=_SAFE_LOADER)
    if not isinstance(doc, dict) or not isinstance(doc.get("agents"), list):
        raise CatalogueError("catalogue: top level must be a mapping with an 'agents' list")
    agents = []
    for i, row in enumerate(doc["agents"]):
        if not isinstance(row, dict):
            raise CatalogueError(f"catalogue row #{i}: field row: must be a mapping")
        try:
            agents.append(Agent.model_validate(row))
        except ValidationError as err:
            raise _row_error(row, err) from None
    return Catalogue(tuple(agents))


@functools.cache
def catalogue() -> Catalogue:
    """The packaged catalogue, read once (the package's only file read) and cached."""
    text = resources.files("thresholds").joinpath("catalogue.yaml").read_text(encoding="utf-8")
    return parse_catalogue(text)


def lookup(query: str) -> Agent:
    """Agent by id, CAS, zh or en name; raises ``UnknownAgent`` with close-match suggestions."""
    return catalogue().lookup(query)
