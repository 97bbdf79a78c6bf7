"""Load the YAML code tables once and check them against the concept vocabulary.

Validation happens here, at load time: a table that names an unknown concept,
structure, system or side fails with a ``TerminologyError`` saying which file and
row, instead of a mapping that silently never matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, cast

from bmefhir import anatomy, concepts
from bmefhir.record import Side
from bmefhir.terminology.model import (
    GROUPS,
    Answer,
    Conversion,
    Group,
    Interpretation,
    Keyword,
    Mapping,
    SiteHint,
    TerminologyError,
    UnitSpec,
)
from bmefhir.yamlio import parse_yaml

GROUP_FILES: dict[Group, str] = {
    "lab": "labs.yaml",
    "observation": "observations.yaml",
    "finding": "findings.yaml",
    "condition": "conditions.yaml",
    "medication": "medications.yaml",
    "structure": "body_structures.yaml",
}
SIDES: frozenset[str] = frozenset({"left", "right", "bilateral"})
# Systems whose codes are matched with dots removed and upper-cased (ICD-10, ATC).
PREFIX_NORMALISED: frozenset[str] = frozenset(
    {"http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10", "http://www.whocc.no/atc"}
)


def vocabulary(group: Group) -> frozenset[str]:
    if group == "structure":
        return frozenset(anatomy.STRUCTURES)
    return concepts.ALL_GROUPS[group]


@dataclass(frozen=True, slots=True)
class Tables:
    """Everything the lookups need, indexed."""

    system_uri: dict[str, str]  # short name or alias URI → canonical URI
    exact: dict[tuple[str, str], tuple[Mapping, ...]]
    prefixes: dict[str, tuple[Mapping, ...]]  # system → longest prefix first
    keywords: dict[Group, tuple[tuple[Keyword, Mapping], ...]]
    ignored: dict[tuple[str, str], str]
    answers: dict[str, dict[tuple[str, str], Answer]]
    presence: dict[tuple[str, str], bool]
    results: dict[tuple[str, str], Literal["positive", "negative"]]
    interpretations: dict[tuple[str, str], Interpretation]
    modalities: dict[tuple[str, str], bool]  # → verified
    laterality: dict[tuple[str, str], tuple[Side, bool]]
    laterality_keywords: tuple[tuple[re.Pattern[str], Side], ...]
    routes: dict[tuple[str, str], str]
    route_keywords: tuple[tuple[re.Pattern[str], str], ...]
    prednisone_equivalent: dict[str, float]
    unit_aliases: dict[str, str]
    units: dict[str, UnitSpec] = field(default_factory=dict)


Reader = Callable[[str], dict[str, Any]]


def read_packaged(name: str) -> dict[str, Any]:
    text = resources.files("bmefhir.terminology").joinpath(name).read_text(encoding="utf-8")
    data = parse_yaml(text)
    if not isinstance(data, dict):
        raise TerminologyError(f"{name}: expected a mapping at the top level")
    return data


class _Ctx:
    """Row-level checks that name the file and row in the error."""

    def __init__(self, file: str, systems: dict[str, str]) -> None:
        self.file = file
        self.systems = systems

    def fail(self, where: str, what: str) -> TerminologyError:
        return TerminologyError(f"{self.file}: {where}: {what}")

    def rows(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        rows = data.get(key) or []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise self.fail(key, "expected a list of mappings")
        return cast(list[dict[str, Any]], rows)

    def system(self, where: str, row: dict[str, Any]) -> list[str]:
        raw = row.get("system")
        names = raw if isinstance(raw, list) else [raw]
        out = []
        for name in names:
            if not isinstance(name, str) or name not in self.systems:
                raise self.fail(where, f"unknown system {name!r} (declare it in systems.yaml)")
            out.append(self.systems[name])
        return out

    def string(self, where: str, row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"missing or non-string {key!r}")
        return value

    def verified(self, where: str, row: dict[str, Any]) -> bool:
        value = row.get("verified")
        if not isinstance(value, bool):
            raise self.fail(where, "'verified' must be true or false")
        return value

    def concept(self, where: str, group: Group, value: object) -> str:
        if not isinstance(value, str) or value not in vocabulary(group):
            raise self.fail(where, f"unknown {group} concept {value!r}")
        return value

    def side(self, where: str, value: object) -> Side:
        if value not in SIDES:
            raise self.fail(where, f"unknown side {value!r}")
        return cast(Side, value)

    def pattern(self, where: str, row: dict[str, Any]) -> re.Pattern[str]:
        text = self.string(where, row, "pattern")
        try:
            return re.compile(text, re.IGNORECASE)
        except re.error as exc:
            raise self.fail(where, f"bad pattern: {exc}") from exc

    def site(self, where: str, value: object) -> SiteHint | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(where, "'site' must be a mapping")
        structure = self.concept(where, "structure", value.get("structure"))
        side = value.get("side")
        return SiteHint(structure, self.side(where, side) if side is not None else None)


def _load_systems(read: Reader) -> dict[str, str]:
    data = read("systems.yaml").get("systems")
    if not isinstance(data, dict):
        raise TerminologyError("systems.yaml: expected 'systems' mapping")
    out: dict[str, str] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("uri"), str):
            raise TerminologyError(f"systems.yaml: {name}: missing 'uri'")
        uri = spec["uri"]
        out[name] = uri
        out[uri] = uri
        for alias in spec.get("aliases") or []:
            out[str(alias)] = uri
    return out


def _conversion(ctx: _Ctx, where: str, value: object) -> Conversion:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Conversion(multiply=float(value))
    if isinstance(value, dict) and set(value) <= {"multiply", "divide", "offset"}:
        nums = {k: v for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        if len(nums) == len(value) and nums.get("divide", 1) != 0:
            return Conversion(
                multiply=float(nums.get("multiply", 1)),
                divide=float(nums.get("divide", 1)),
                offset=float(nums.get("offset", 0)),
            )
    raise ctx.fail(where, "a conversion is a number or {multiply, divide, offset}")


def _load_units(read: Reader, systems: dict[str, str]) -> tuple[dict[str, str], dict[str, UnitSpec]]:
    ctx = _Ctx("units.yaml", systems)
    data = read("units.yaml")
    aliases = {str(k).lower(): str(v) for k, v in (data.get("aliases") or {}).items()}
    numeric = set(concepts.OBSERVATION_CONCEPTS) | {k for k, (_, u) in concepts.LAB_CONCEPTS.items() if u}
    specs: dict[str, UnitSpec] = {}
    for concept, spec in (data.get("concepts") or {}).items():
        where = f"concepts.{concept}"
        if concept not in numeric:
            raise ctx.fail(where, "not a numeric lab or observation concept")
        if not isinstance(spec, dict) or not isinstance(spec.get("canonical"), str):
            raise ctx.fail(where, "missing 'canonical'")
        lab = concepts.LAB_CONCEPTS.get(concept)
        if lab is not None and lab[1] != spec["canonical"]:
            raise ctx.fail(where, f"canonical unit differs from bmefhir.concepts ({lab[1]})")
        conv = {str(u): _conversion(ctx, f"{where}.{u}", f) for u, f in (spec.get("convert") or {}).items()}
        conv[spec["canonical"]] = Conversion()
        specs[concept] = UnitSpec(spec["canonical"], conv, bool(spec.get("dimensionless", False)))
    missing = {k for k, (_, u) in concepts.LAB_CONCEPTS.items() if u} - set(specs)
    if missing:
        raise TerminologyError(f"units.yaml: no canonical unit for lab concepts {sorted(missing)}")
    return aliases, specs


@cache
def tables() -> Tables:
    """The package's tables, loaded and validated once per process."""
    return load_tables(read_packaged)


def load_tables(read: Reader) -> Tables:
    """Load and validate the tables ``read(file name)`` returns; ``TerminologyError`` names the bad row."""
    systems = _load_systems(read)
    exact: dict[tuple[str, str], list[Mapping]] = {}
    prefixes: dict[str, list[Mapping]] = {}
    keywords: dict[Group, list[tuple[Keyword, Mapping]]] = {g: [] for g in GROUPS}
    ignored: dict[tuple[str, str], str] = {}
    answers: dict[str, dict[tuple[str, str], Answer]] = {}
    presence: dict[tuple[str, str], bool] = {}
    results: dict[tuple[str, str], Literal["positive", "negative"]] = {}
    interpretations: dict[tuple[str, str], Interpretation] = {}
    modalities: dict[tuple[str, str], bool] = {}
    laterality: dict[tuple[str, str], tuple[Side, bool]] = {}
    lat_keywords: list[tuple[re.Pattern[str], Side]] = []
    routes: dict[tuple[str, str], str] = {}
    route_keywords: list[tuple[re.Pattern[str], str]] = []
    pred_eq: dict[str, float] = {}

    for group, file in GROUP_FILES.items():
        data = read(file)
        ctx = _Ctx(file, systems)
        if data.get("group") != group:
            raise ctx.fail("group", f"expected {group!r}")
        own = data.get("own_system")
        if own is not None:
            uri = ctx.system("own_system", {"system": own})[0]
            for key in sorted(vocabulary(group)):
                exact.setdefault((uri, key), []).append(Mapping(group, key, uri, key, True))
        for i, row in enumerate(ctx.rows(data, "codes")):
            where = f"codes[{i}]"
            concept = ctx.concept(where, group, row.get("concept"))
            code = ctx.string(where, row, "code")
            answer_table = row.get("answers")
            for uri in ctx.system(where, row):
                m = Mapping(
                    group,
                    concept,
                    uri,
                    code,
                    ctx.verified(where, row),
                    "exact",
                    row.get("display"),
                    row.get("drug"),
                    answer_table,
                    ctx.site(where, row.get("site")),
                )
                exact.setdefault((uri, _norm(uri, code)), []).append(m)
        for i, row in enumerate(ctx.rows(data, "prefixes")):
            where = f"prefixes[{i}]"
            concept = ctx.concept(where, group, row.get("concept"))
            prefix = ctx.string(where, row, "prefix")
            for uri in ctx.system(where, row):
                m = Mapping(
                    group,
                    concept,
                    uri,
                    _norm(uri, prefix),
                    ctx.verified(where, row),
                    "prefix",
                    row.get("display"),
                    row.get("drug"),
                    None,
                    ctx.site(where, row.get("site")),
                )
                prefixes.setdefault(uri, []).append(m)
        for i, row in enumerate(ctx.rows(data, "keywords")):
            where = f"keywords[{i}]"
            concept = ctx.concept(where, group, row.get("concept"))
            kw = Keyword(ctx.pattern(where, row), concept, row.get("drug"))
            keywords[group].append((kw, Mapping(group, concept, "", kw.pattern.pattern, False, "text", drug=kw.drug)))
        for i, row in enumerate(ctx.rows(data, "ignored")):
            where = f"ignored[{i}]"
            for uri in ctx.system(where, row):
                ignored[(uri, ctx.string(where, row, "code"))] = ctx.string(where, row, "reason")
        for table, rows in (data.get("answers") or {}).items():
            for i, row in enumerate(ctx.rows({table: rows}, table)):
                where = f"answers.{table}[{i}]"
                facts_raw = row.get("facts")
                if not isinstance(facts_raw, dict) or not all(isinstance(v, bool) for v in facts_raw.values()):
                    raise ctx.fail(where, "'facts' must map concepts to true/false")
                facts = tuple((ctx.concept(where, "observation", k), bool(v)) for k, v in facts_raw.items())
                for uri in ctx.system(where, row):
                    code = ctx.string(where, row, "code")
                    answers.setdefault(str(table), {})[(uri, code)] = Answer(
                        uri, code, facts, ctx.verified(where, row), row.get("display")
                    )
        for i, row in enumerate(ctx.rows(data, "presence")):
            for uri in ctx.system(f"presence[{i}]", row):
                presence[(uri, ctx.string(f"presence[{i}]", row, "code"))] = bool(row.get("present"))
        for i, row in enumerate(ctx.rows(data, "result")):
            value = row.get("result")
            if value not in ("positive", "negative"):
                raise ctx.fail(f"result[{i}]", "result must be positive or negative")
            for uri in ctx.system(f"result[{i}]", row):
                results[(uri, ctx.string(f"result[{i}]", row, "code"))] = value
        for i, row in enumerate(ctx.rows(data, "interpretation")):
            high, low, res = row.get("high"), row.get("low"), row.get("result")
            flags_ok = all(f is None or isinstance(f, bool) for f in (high, low))
            if not flags_ok or res not in (None, "positive", "negative"):
                raise ctx.fail(f"interpretation[{i}]", "high and low must be true/false; result positive/negative")
            for uri in ctx.system(f"interpretation[{i}]", row):
                code = ctx.string(f"interpretation[{i}]", row, "code")
                interpretations[(uri, code)] = Interpretation(high, res, low)
        for i, row in enumerate(ctx.rows(data, "modalities")):
            for uri in ctx.system(f"modalities[{i}]", row):
                modalities[(uri, ctx.string(f"modalities[{i}]", row, "code"))] = ctx.verified(f"modalities[{i}]", row)
        for i, row in enumerate(ctx.rows(data, "laterality")):
            where = f"laterality[{i}]"
            for uri in ctx.system(where, row):
                laterality[(uri, ctx.string(where, row, "code"))] = (
                    ctx.side(where, row.get("side")),
                    ctx.verified(where, row),
                )
        for i, row in enumerate(ctx.rows(data, "laterality_keywords")):
            where = f"laterality_keywords[{i}]"
            lat_keywords.append((ctx.pattern(where, row), ctx.side(where, row.get("side"))))
        for i, row in enumerate(ctx.rows(data, "routes")):
            for uri in ctx.system(f"routes[{i}]", row):
                routes[(uri, ctx.string(f"routes[{i}]", row, "code"))] = ctx.string(f"routes[{i}]", row, "route")
        for i, row in enumerate(ctx.rows(data, "route_keywords")):
            where = f"route_keywords[{i}]"
            route_keywords.append((ctx.pattern(where, row), ctx.string(where, row, "route")))
        for drug, factor in (data.get("prednisone_equivalent") or {}).items():
            if not isinstance(factor, int | float) or factor <= 0:
                raise ctx.fail(f"prednisone_equivalent.{drug}", "factor must be a positive number")
            pred_eq[str(drug)] = float(factor)

    _check_answer_tables(exact, answers)
    aliases, units = _load_units(read, systems)
    return Tables(
        system_uri=systems,
        exact={k: tuple(v) for k, v in exact.items()},
        prefixes={s: tuple(sorted(v, key=lambda m: -len(m.code))) for s, v in prefixes.items()},
        keywords={g: tuple(v) for g, v in keywords.items()},
        ignored=ignored,
        answers=answers,
        presence=presence,
        results=results,
        interpretations=interpretations,
        modalities=modalities,
        laterality=laterality,
        laterality_keywords=tuple(lat_keywords),
        routes=routes,
        route_keywords=tuple(route_keywords),
        prednisone_equivalent=pred_eq,
        unit_aliases=aliases,
        units=units,
    )


def _check_answer_tables(exact: AbcMapping[tuple[str, str], list[Mapping]], answers: AbcMapping[str, object]) -> None:
    for rows in exact.values():
        for m in rows:
            if m.answers is not None and m.answers not in answers:
                raise TerminologyError(f"{GROUP_FILES[m.group]}: {m.code}: unknown answer table {m.answers!r}")


def _norm(system: str, code: str) -> str:
    """ICD-10 and ATC codes compare without dots and in upper case (M87.05 == m8705)."""
    return code.replace(".", "").upper() if system in PREFIX_NORMALISED else code
