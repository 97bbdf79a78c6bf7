"""Load and validate the knowledge base (YAML under ``knowledge/``).

Layout of a knowledge directory::

    knowledge.yaml      version, canonical url, the seed files citations may name
    candidates.yaml     the diagnoses ranked, with priors, definitions, codes
    criteria/*.yaml     criteria: a ``when`` over derived facts and weights per candidate
    next_steps.yaml     suggested next steps and what triggers them
    contraindications.yaml  reasons not to propose a treatment's drug class, each cited

Everything is checked when loaded, and every problem is reported at once in one
``KnowledgeError`` naming the file and the criterion id: an unknown fact or
candidate, a type mismatch, a weight outside [-4, 4], a missing source, a
duplicate id, a malformed condition.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml

from bmefhir.concepts import MEDICATION_CONCEPTS
from bmefhir.differential.conditions import Condition, compile_condition, required_facts
from bmefhir.differential.model import Citation
from bmefhir.yamlio import load_yaml

DEFAULT_DIR: Final[Path] = Path(__file__).with_name("knowledge")
MAX_WEIGHT: Final[float] = 4.0
EQUIVALENCES: Final[frozenset[str]] = frozenset(
    {"equivalent", "equal", "wider", "subsumes", "narrower", "specializes", "inexact", "relatedto"}
)


class KnowledgeError(ValueError):
    """The knowledge base is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid knowledge base ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str
    display: str
    verified: bool  # only verified codings may be emitted (terminology.md)
    equivalence: str  # FHIR R4 ConceptMap equivalence, candidate → code


@dataclass(frozen=True, slots=True)
class Candidate:
    code: str
    display: str
    prior: float  # log-odds scale
    prior_rationale: str
    definition: str
    citation: Citation
    severity_rank: int  # red flags are ordered by this (1 = most urgent)
    codings: tuple[Coding, ...] = ()


@dataclass(frozen=True, slots=True)
class RedFlagSpec:
    candidate: str
    message: str


@dataclass(frozen=True, slots=True)
class Criterion:
    id: str
    title: str
    when: Condition
    effects: tuple[tuple[str, float], ...]  # (candidate code, log-LR weight)
    citation: Citation
    rationale: str
    file: str
    red_flag: RedFlagSpec | None = None
    group: str = ""  # correlated criteria share a group and count with diminishing weight; "" = its own id
    # The facts ``when`` cannot match without (``conditions.required_facts``), computed once.
    requires: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "requires", required_facts(self.when))


@dataclass(frozen=True, slots=True)
class NextStepSpec:
    """A suggested next step. It fires when any trigger holds and ``unless`` does not.

    Triggers: ``when`` (a condition over facts), ``plausible`` (any listed
    candidate reaches ``min_probability``), ``red_flag`` (a red flag was raised
    for a listed candidate), ``on_insufficient_data`` (no imaging on record).
    """

    id: str
    text: str
    citation: Citation
    when: Condition | None = None
    plausible: tuple[str, ...] = ()
    min_probability: float = 0.0
    red_flag: tuple[str, ...] = ()
    on_insufficient_data: bool = False
    unless: Condition | None = None
    # A treatment names the drug classes it proposes (bmefhir.concepts.MEDICATION_CONCEPTS); each must
    # have contraindications on file, and the step is withheld when one matches (safety.py).
    treatment: tuple[str, ...] = ()
    # A gate, not a trigger: the step is shown only while one of these candidates is still plausible
    # (probability >= relevant_min_probability). Steps without it are diagnosis-independent by design.
    relevant_to: tuple[str, ...] = ()
    relevant_min_probability: float = 0.0


@dataclass(frozen=True, slots=True)
class Contraindication:
    """A reason not to propose a drug class: a condition over facts, with the label or guideline behind it."""

    id: str
    drugs: tuple[str, ...]
    when: Condition
    reason: str
    citation: Citation


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    version: str
    url: str
    candidates: tuple[Candidate, ...]
    criteria: tuple[Criterion, ...]
    next_steps: tuple[NextStepSpec, ...]
    seeds: tuple[str, ...] = ()
    contraindications: tuple[Contraindication, ...] = ()
    # knowledge.yaml `combination` (combine.py): the share each further criterion of a group keeps, and
    # the uniform share mixed into the probabilities. 1.0 and 0.0 give the plain independent sum.
    combination_ratio: float = 1.0
    uncertainty: float = 0.0
    scale: float = 1.0  # calibration: the softmax of scale x score (a temperature of 1/scale)
    uncertain_weight: float = 0.5  # fraction of a criterion's weight when its facts rest on hedged text
    uncertain_citation: Citation | None = None

    def candidate(self, code: str) -> Candidate:
        for c in self.candidates:
            if c.code == code:
                return c
        raise KeyError(code)


def load_knowledge(path: Path | None = None) -> KnowledgeBase:
    """Load and validate a knowledge directory (the packaged one, cached, by default)."""
    if path is None:
        return _load_default()
    return _load(path)


@functools.cache
def _load_default() -> KnowledgeBase:
    return _load(DEFAULT_DIR)


def knowledge_rows(kb: KnowledgeBase) -> list[dict[str, str]]:
    """One readable row per criterion, for ``bmefhir knowledge show``."""
    rows: list[dict[str, str]] = []
    for c in kb.criteria:
        effects = "; ".join(f"{code} {w:+.1f}" for code, w in c.effects)
        flag = f"{c.red_flag.candidate}: {c.red_flag.message}" if c.red_flag else ""
        rows.append({"id": c.id, "title": c.title, "effects": effects, "red_flag": flag, "source": c.citation.text})
    return rows


# --- one version, one content ---------------------------------------------------------------------
# ClinicalImpression.protocol cites ``url|version``: a canonical version must name one content, so a
# change to any rule needs a new version. versions.txt records "version digest" per published version;
# scripts/build_profiles.py adds the current one and refuses a changed content under an old version.

VERSIONS_FILE = "versions.txt"


def content_digest(root: Path = DEFAULT_DIR) -> str:
    """SHA-256 over every YAML file under ``root`` (a knowledge directory by default), by relative path."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.yaml")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _recorded(root: Path) -> dict[str, str]:
    lines = (root / VERSIONS_FILE).read_text(encoding="utf-8").splitlines() if (root / VERSIONS_FILE).is_file() else []
    return dict(line.split(maxsplit=1) for line in lines if line.strip() and not line.startswith("#"))


def version_problem(root: Path = DEFAULT_DIR) -> str | None:
    """Why the knowledge content is not the one recorded for its version, or None when it is."""
    version, digest = _load(root).version, content_digest(root)
    recorded = _recorded(root).get(version)
    if recorded == digest:
        return None
    if recorded is None:
        return f"knowledge version {version} is not recorded in {VERSIONS_FILE}: run scripts/build_profiles.py"
    return (
        f"the knowledge content changed but its version is still {version}: "
        "raise `version` in knowledge.yaml, then run scripts/build_profiles.py"
    )


def record_version(root: Path = DEFAULT_DIR) -> None:
    """Add the current version and digest to versions.txt; ValueError when the version names another content."""
    problem = version_problem(root)
    if problem is None:
        return
    if _load(root).version in _recorded(root):
        raise ValueError(problem)
    with (root / VERSIONS_FILE).open("a", encoding="utf-8") as out:
        out.write(f"{_load(root).version} {content_digest(root)}\n")


# --- loading --------------------------------------------------------------------------------------


def _load(root: Path) -> KnowledgeBase:
    errors: list[str] = []
    meta = _read_yaml(root / "knowledge.yaml", errors)
    version = _req_str(meta, "version", "knowledge.yaml", errors)
    url = _req_str(meta, "url", "knowledge.yaml", errors)
    raw_seeds = meta.get("seeds")
    seeds = tuple(s for s in raw_seeds if isinstance(s, str)) if isinstance(raw_seeds, list) else ()
    parts = version.split(".")
    if version and (len(parts) != 3 or not all(p.isdigit() for p in parts)):
        errors.append(f"knowledge.yaml: version '{version}' is not semver (MAJOR.MINOR.PATCH)")

    ratio, uncertainty, scale = _load_combination(meta.get("combination"), errors)
    candidates = _load_candidates(root / "candidates.yaml", seeds, errors)
    codes = frozenset(c.code for c in candidates)

    criteria: list[Criterion] = []
    seen: dict[str, str] = {}
    crit_dir = root / "criteria"
    files = sorted(crit_dir.glob("*.yaml")) if crit_dir.is_dir() else []
    if not files:
        errors.append(f"criteria/: no criteria files found in {crit_dir}")
    for file in files:
        data = _read_yaml(file, errors)
        rel = f"criteria/{file.name}"
        items = data.get("criteria")
        if not isinstance(items, list):
            errors.append(f"{rel}: expected a top-level 'criteria' list")
            continue
        for i, item in enumerate(items):
            crit = _load_criterion(item, rel, i, codes, seeds, seen, errors)
            if crit is not None:
                criteria.append(crit)

    next_steps = _load_next_steps(root / "next_steps.yaml", codes, seeds, errors)
    contraindications = _load_contraindications(root / "contraindications.yaml", seeds, errors)
    covered = {drug for ci in contraindications for drug in ci.drugs}
    for step in next_steps:
        for drug in step.treatment:
            if drug not in covered:
                errors.append(f"next_steps.yaml: {step.id}: treatment '{drug}' has no contraindications on file")
    uncertain_weight, uncertain_citation = _uncertain_finding(meta.get("uncertain_finding"), seeds, errors)
    if errors:
        raise KnowledgeError(errors)
    return KnowledgeBase(
        version, url, tuple(candidates), tuple(criteria), tuple(next_steps), seeds, tuple(contraindications),
        ratio, uncertainty, scale, uncertain_weight, uncertain_citation,
    )  # fmt: skip


def _load_combination(raw: object, errors: list[str]) -> tuple[float, float, float]:
    """knowledge.yaml ``combination: {rule: diminishing, ratio, scale, uncertainty, rationale}``."""
    if raw is None:
        return 1.0, 0.0, 1.0
    if not isinstance(raw, Mapping):
        errors.append("knowledge.yaml: combination must be a mapping")
        return 1.0, 0.0, 1.0
    if raw.get("rule") != "diminishing":
        errors.append("knowledge.yaml: combination.rule must be 'diminishing'")
    if not isinstance(raw.get("rationale"), str) or not str(raw.get("rationale")).strip():
        errors.append("knowledge.yaml: combination needs a rationale")
    ratio = _number(raw.get("ratio"))
    if ratio is None or not 0.0 <= ratio <= 1.0:
        errors.append("knowledge.yaml: combination.ratio must be in [0, 1]")
        ratio = 1.0
    uncertainty = _number(raw.get("uncertainty", 0.0))
    if uncertainty is None or not 0.0 <= uncertainty < 0.5:
        errors.append("knowledge.yaml: combination.uncertainty must be in [0, 0.5)")
        uncertainty = 0.0
    scale = _number(raw.get("scale", 1.0))
    if scale is None or not 0.25 <= scale <= 4.0:
        errors.append("knowledge.yaml: combination.scale must be in [0.25, 4]")
        scale = 1.0
    return ratio, uncertainty, scale


def _uncertain_finding(data: object, seeds: tuple[str, ...], errors: list[str]) -> tuple[float, Citation | None]:
    where = "knowledge.yaml: uncertain_finding"
    if not isinstance(data, Mapping):
        errors.append(f"{where}: missing (weight in (0, 1] and its source)")
        return 0.5, None
    weight = _number(data.get("weight"))
    if weight is None or not 0.0 < weight <= 1.0:
        errors.append(f"{where}: weight must be a number in (0, 1]")
        weight = 0.5
    return weight, _citation(data.get("source"), where, seeds, errors)


def _read_yaml(path: Path, errors: list[str]) -> Mapping[str, object]:
    try:
        data = load_yaml(path)
    except FileNotFoundError:
        errors.append(f"{path.name}: file not found at {path}")
        return {}
    except yaml.YAMLError as exc:
        errors.append(f"{path.name}: not valid YAML: {exc}")
        return {}
    if not isinstance(data, Mapping):
        errors.append(f"{path.name}: expected a mapping at the top level")
        return {}
    return data


def _req_str(data: Mapping[str, object], key: str, where: str, errors: list[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{where}: missing or empty '{key}'")
        return ""
    return value.strip()


def _citation(data: object, where: str, seeds: tuple[str, ...], errors: list[str]) -> Citation:
    if not isinstance(data, Mapping):
        errors.append(f"{where}: missing or empty source")
        return Citation("")
    text = data.get("text")
    seed, doi, pmid = data.get("seed"), data.get("doi"), data.get("pmid")
    document = data.get("document")
    if not isinstance(text, str) or not text.strip():
        errors.append(f"{where}: missing or empty source text")
        text = ""
    if not any(isinstance(v, str | int) and str(v).strip() for v in (seed, doi, pmid, document)):
        errors.append(f"{where}: source needs a seed file, doi, pmid or document (a product label or guideline)")
    if seed is not None and (not isinstance(seed, str) or (seeds and seed not in seeds)):
        errors.append(f"{where}: source seed '{seed}' is not one of the seed files in knowledge.yaml")
    return Citation(
        text=str(text).strip(),
        seed=seed if isinstance(seed, str) else None,
        doi=str(doi) if doi is not None else None,
        pmid=str(pmid) if pmid is not None else None,
        document=str(document).strip() if isinstance(document, str) and document.strip() else None,
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _load_candidates(path: Path, seeds: tuple[str, ...], errors: list[str]) -> list[Candidate]:
    data = _read_yaml(path, errors)
    items = data.get("candidates")
    if not isinstance(items, list) or not items:
        errors.append("candidates.yaml: expected a non-empty 'candidates' list")
        return []
    out: list[Candidate] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            errors.append(f"candidates.yaml: entry {i} is not a mapping")
            continue
        code = _req_str(item, "code", f"candidates.yaml: entry {i}", errors)
        where = f"candidates.yaml: {code or f'entry {i}'}"
        if code in seen:
            errors.append(f"{where}: duplicate candidate code")
        seen.add(code)
        prior = _number(item.get("prior"))
        if prior is None or abs(prior) > MAX_WEIGHT:
            errors.append(f"{where}: prior must be a number in [-{MAX_WEIGHT:g}, {MAX_WEIGHT:g}]")
            prior = 0.0
        rank = item.get("severity_rank")
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            errors.append(f"{where}: severity_rank must be a positive integer")
            rank = 99
        codings: list[Coding] = []
        for j, raw in enumerate(item.get("codings") or []):
            cw = f"{where}: codings[{j}]"
            if not isinstance(raw, Mapping):
                errors.append(f"{cw}: not a mapping")
                continue
            verified = raw.get("verified")
            if not isinstance(verified, bool):
                errors.append(f"{cw}: 'verified' must be true or false")
            equivalence = str(raw.get("equivalence", ""))
            if equivalence not in EQUIVALENCES:
                errors.append(f"{cw}: equivalence '{equivalence}' is not a FHIR R4 ConceptMap equivalence")
            codings.append(
                Coding(
                    system=_req_str(raw, "system", cw, errors),
                    code=_req_str(raw, "code", cw, errors),
                    display=_req_str(raw, "display", cw, errors),
                    verified=verified is True,
                    equivalence=equivalence,
                )
            )
        out.append(
            Candidate(
                code=code,
                display=_req_str(item, "display", where, errors),
                prior=prior,
                prior_rationale=_req_str(item, "prior_rationale", where, errors),
                definition=_req_str(item, "definition", where, errors),
                citation=_citation(item.get("source"), where, seeds, errors),
                severity_rank=rank,
                codings=tuple(codings),
            )
        )
    return out


def _load_criterion(
    item: object,
    rel: str,
    index: int,
    codes: frozenset[str],
    seeds: tuple[str, ...],
    seen: dict[str, str],
    errors: list[str],
) -> Criterion | None:
    if not isinstance(item, Mapping):
        errors.append(f"{rel}: entry {index} is not a mapping")
        return None
    cid = _req_str(item, "id", f"{rel}: entry {index}", errors)
    where = f"{rel}: {cid or f'entry {index}'}"
    if cid:
        if cid in seen:
            errors.append(f"{where}: duplicate criterion id (also in {seen[cid]})")
        seen[cid] = rel
    title = _req_str(item, "title", where, errors)
    rationale = _req_str(item, "rationale", where, errors)
    citation = _citation(item.get("source"), where, seeds, errors)
    if "when" not in item:
        errors.append(f"{where}: missing 'when'")
        when = None
    else:
        when = compile_condition(item["when"], f"{where}: when", errors)

    effects: list[tuple[str, float]] = []
    raw_effects = item.get("effects")
    if not isinstance(raw_effects, Mapping) or not raw_effects:
        errors.append(f"{where}: 'effects' must map candidate codes to weights")
        raw_effects = {}
    for code, raw_w in raw_effects.items():
        w = _number(raw_w)
        if code not in codes:
            errors.append(f"{where}: unknown candidate '{code}' in effects")
        if w is None or w == 0.0 or abs(w) > MAX_WEIGHT:
            errors.append(
                f"{where}: weight for '{code}' must be a non-zero number in [-{MAX_WEIGHT:g}, {MAX_WEIGHT:g}]"
            )
            continue
        effects.append((str(code), w))

    red_flag: RedFlagSpec | None = None
    raw_flag = item.get("red_flag")
    if raw_flag is not None:
        if not isinstance(raw_flag, Mapping):
            errors.append(f"{where}: red_flag must be a mapping with candidate and message")
        else:
            flag_code = str(raw_flag.get("candidate", ""))
            if flag_code not in codes:
                errors.append(f"{where}: red flag names unknown candidate '{flag_code}'")
            red_flag = RedFlagSpec(flag_code, _req_str(raw_flag, "message", f"{where}: red_flag", errors))
    if when is None:
        return None
    group = item.get("group", cid)
    if not isinstance(group, str) or not group.strip():
        errors.append(f"{where}: group must be a non-empty string")
        group = cid
    return Criterion(cid, title, when, tuple(effects), citation, rationale, rel, red_flag, group.strip())


def _identified(
    items: list[object], file: str, kind: str, errors: list[str]
) -> Iterator[tuple[Mapping[str, object], str, str]]:
    """(entry, its id, where to say it is) for each mapping of a file's list; non-mappings and
    duplicate ids are errors, as the loaders of every id'd list report them."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            errors.append(f"{file}: entry {i} is not a mapping")
            continue
        ident = _req_str(item, "id", f"{file}: entry {i}", errors)
        where = f"{file}: {ident or f'entry {i}'}"
        if ident in seen:
            errors.append(f"{where}: duplicate {kind} id")
        seen.add(ident)
        yield item, ident, where


def _load_next_steps(
    path: Path, codes: frozenset[str], seeds: tuple[str, ...], errors: list[str]
) -> list[NextStepSpec]:
    data = _read_yaml(path, errors)
    items = data.get("next_steps")
    if not isinstance(items, list):
        errors.append("next_steps.yaml: expected a 'next_steps' list")
        return []
    out: list[NextStepSpec] = []
    for item, sid, where in _identified(items, "next_steps.yaml", "next-step", errors):
        when = compile_condition(item["when"], f"{where}: when", errors) if "when" in item else None
        unless = compile_condition(item["unless"], f"{where}: unless", errors) if "unless" in item else None
        plausible = _code_list(item.get("plausible"), f"{where}: plausible", codes, errors)
        red_flag = _code_list(item.get("red_flag"), f"{where}: red_flag", codes, errors)
        min_p = _number(item.get("min_probability", 0.0))
        if min_p is None or not 0.0 <= min_p <= 1.0:
            errors.append(f"{where}: min_probability must be in [0, 1]")
            min_p = 0.0
        on_insufficient = item.get("on_insufficient_data", False) is True
        treatment = _drug_list(item.get("treatment"), f"{where}: treatment", errors)
        relevant_to = _code_list(item.get("relevant_to"), f"{where}: relevant_to", codes, errors)
        relevant_min = _number(item.get("relevant_min_probability", 0.0))
        if relevant_min is None or not 0.0 <= relevant_min <= 1.0:
            errors.append(f"{where}: relevant_min_probability must be in [0, 1]")
            relevant_min = 0.0
        if not (when or plausible or red_flag or on_insufficient):
            errors.append(f"{where}: needs a trigger (when, plausible, red_flag or on_insufficient_data)")
        out.append(
            NextStepSpec(
                id=sid,
                text=_req_str(item, "text", where, errors),
                citation=_citation(item.get("source"), where, seeds, errors),
                when=when,
                plausible=plausible,
                min_probability=min_p,
                red_flag=red_flag,
                on_insufficient_data=on_insufficient,
                unless=unless,
                treatment=treatment,
                relevant_to=relevant_to,
                relevant_min_probability=relevant_min,
            )
        )
    return out


def _drug_list(raw: object, where: str, errors: list[str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
        errors.append(f"{where}: expected a non-empty list of drug classes")
        return ()
    for drug in raw:
        if drug not in MEDICATION_CONCEPTS:
            errors.append(f"{where}: unknown drug class '{drug}' (not in bmefhir.concepts.MEDICATION_CONCEPTS)")
    return tuple(raw)


def _load_contraindications(path: Path, seeds: tuple[str, ...], errors: list[str]) -> list[Contraindication]:
    """``contraindications.yaml``; optional, but every treatment step needs one per drug (checked above)."""
    if not path.exists():
        return []
    data = _read_yaml(path, errors)
    items = data.get("contraindications")
    if not isinstance(items, list):
        errors.append("contraindications.yaml: expected a 'contraindications' list")
        return []
    out: list[Contraindication] = []
    for item, cid, where in _identified(items, "contraindications.yaml", "contraindication", errors):
        drugs = _drug_list(item.get("drugs"), f"{where}: drugs", errors)
        if "when" not in item:
            errors.append(f"{where}: missing 'when'")
            continue
        when = compile_condition(item["when"], f"{where}: when", errors)
        reason = _req_str(item, "reason", where, errors)
        citation = _citation(item.get("source"), where, seeds, errors)
        if when is not None:
            out.append(Contraindication(cid, drugs, when, reason, citation))
    return out


def _code_list(raw: object, where: str, codes: frozenset[str], errors: list[str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        errors.append(f"{where}: expected a list of candidate codes")
        return ()
    for c in raw:
        if c not in codes:
            errors.append(f"{where}: unknown candidate '{c}'")
    return tuple(raw)
