"""``read_report``: narrative radiology report text → finding mentions (docs/report-text.md)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Final

from bmefhir.anatomy import STRUCTURES
from bmefhir.record import Assertion, Side, Site
from bmefhir.reporttext.assertion import NOT_READ_SECTIONS, assertion_for
from bmefhir.reporttext.language import hint_language, runs
from bmefhir.reporttext.lines import Finding, LineSentence, read_lines
from bmefhir.reporttext.model import MAX_QUOTE_CHARS, Language, Mention, Reading
from bmefhir.reporttext.pipeline import INTACT_ONLY
from bmefhir.reporttext.siting import (
    JOINT_DEFAULT,
    JOINT_LEVEL,
    PlaceSpan,
    SitedPlace,
    joint_structure,
    most_specific,
    share_side,
    side_of,
)

MAX_TEXT_CHARS: Final = 200_000
# Characters that are not text: lone surrogates, C0/C1 controls other than line breaks and tabs. Replaced one for
# one by a space, so offsets into the caller's text stay right.
_NOT_TEXT: Final = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
# A line break inside a sentence (hard-wrapped text) is read as a space: the next line goes on in lower case, or
# both sides are Han characters. Other line breaks end the sentence (a title line, a header line). Written with the
# line break first and the character before it as a lookbehind that includes it, so the regex engine searches for
# the line break alone (a leading lookbehind is tried at every character: ~15x slower).
_WRAPPED_LINE: Final = re.compile(
    r"\n(?:(?<=[^\s.;:!?。；：！？]\n)(?=[ \t]*[^\W\d_A-ZÇĞİÖŞÜ])|(?<=[\u4e00-\u9fff，、]\n)(?=[\u4e00-\u9fff]))"
)


# A more specific finding stated in the same clause with the same assertion stands for the general one it implies
# (README of the corpus, "a composite pattern is one label"): "serpiginous T1 low-signal band" is the band, not also
# T1 low signal; "synovial thickening and enhancement" is synovitis; "rim-enhancing collection" is not an effusion.
_CLAUSE_SUBSUMES: Final[dict[str, frozenset[str]]] = {
    "subchondral_fracture_line": frozenset({"fracture_line", "subchondral_low_signal_band"}),
    "band_like_t1_lesion": frozenset({"t1_low_signal", "subchondral_low_signal_band"}),
    "subchondral_low_signal_band": frozenset({"t1_low_signal"}),
    "scintigraphy_diffuse_uptake": frozenset({"scintigraphy_increased_uptake"}),
    "synovitis": frozenset({"contrast_enhancement"}),
    "rim_enhancement": frozenset({"contrast_enhancement", "joint_effusion"}),
    "abscess": frozenset({"joint_effusion"}),
    "focal_enhancing_lesion": frozenset({"contrast_enhancement"}),
}
# Stated anywhere in the sentence: a cold area within increased uptake is the cold spot alone (seed 000
# §Kemik Sintigrafisi: "hot around cold").
_SENTENCE_SUBSUMES: Final[dict[str, frozenset[str]]] = {
    "scintigraphy_cold_spot": frozenset({"scintigraphy_increased_uptake", "scintigraphy_decreased_uptake"}),
    # The SIF band is described over several comma-separated words ("irregular, discontinuous subchondral low-signal
    # band convex to the articular surface", Lecouvet FE et al. AJR 1998;170:71-77): the whole sentence is the one
    # band, not also a band-like lesion, a plain subchondral band or a fracture line.
    "sif_band": frozenset({"subchondral_low_signal_band", "band_like_t1_lesion", "t1_low_signal", "fracture_line"}),
    # "delayed, homogeneous enhancement": the comma splits the one enhancement the sentence describes.
    "delayed_enhancement": frozenset({"contrast_enhancement"}),
}
# The same, by the finding implied: concept → the more specific findings that stand for it.
_IMPLIED_IN_CLAUSE: Final = {
    c: tuple(g for g, implied in _CLAUSE_SUBSUMES.items() if c in implied)
    for c in set().union(*_CLAUSE_SUBSUMES.values())
}
_IMPLIED_IN_SENTENCE: Final = {
    c: tuple(g for g, implied in _SENTENCE_SUBSUMES.items() if c in implied)
    for c in set().union(*_SENTENCE_SUBSUMES.values())
}
# Enhancement in a sentence that describes a lesion is the lesion's enhancement (seed 000 §Neoplaziler: tumour
# tissue enhances): "focal T1 low-signal lesions ..., enhancing after contrast" → a focal enhancing lesion.
_LESIONS: Final = frozenset({"focal_lesion", "lytic_lesion"})
# Sections whose sentences end the report's focus (the sites it last spoke of): they speak of other studies or none.
_FOCUS_ENDS: Final = frozenset({"clinical_information", "comparison"})
_SIGNALS: Final = ("t1_low_signal", "t2_high_signal", "stir_high_signal")


class _Sentence:
    """A sentence of the report for siting: the line's reading where it stands (``at``: where its line starts).

    Offsets stay the line's (tokens from its first, characters from its start): siting compares them only within a
    sentence, and a mention's quote is moved into the text when it is made. Nothing of the line is copied, so a line
    met before (the memo) costs nothing here."""

    __slots__ = (
        "at", "clause_of", "findings", "groups", "language", "line", "places", "section", "site_clauses", "sited"
    )  # fmt: skip

    def __init__(self, language: Language, section: str, line: LineSentence, at: int) -> None:
        self.language = language
        self.section = section
        self.line = line
        self.at = at
        self.findings = () if section in NOT_READ_SECTIONS else line.findings
        self.places = line.places
        self.sited = line.sited  # its sites with their sides, and the unbound sides (bind_sides)
        self.clause_of: dict[int, int] = (
            dict(zip(range(line.first, line.end), line.clauses, strict=True)) if self.findings else {}
        )
        self.groups: dict[int, int] | None = None  # clause → the clause whose finding its sites belong to
        self.site_clauses: dict[int, list[SitedPlace]] = {}  # clause group → its sites (set with groups)


def read_report(text: str, language: str | None = None) -> Reading:
    """Read one report text; never raises (what could not be read is in ``problems``, never quoting the text)."""
    if not isinstance(text, str) or not text.strip():
        return Reading("und", problems=("report text is empty",))
    problems: list[str] = []
    if len(text) > MAX_TEXT_CHARS:
        problems.append(f"report text longer than {MAX_TEXT_CHARS} characters; only the first part was read")
        text = text[:MAX_TEXT_CHARS]
    hint = hint_language(language)
    if isinstance(hint, str) and hint not in ("en", "tr", "zh"):
        return Reading("und", problems=(*problems, f"language {hint!r} is not one bmefhir reads (en, tr, zh)"))
    clean = _WRAPPED_LINE.sub(" ", _NOT_TEXT.sub(" ", text))
    try:
        sentences, lengths, skipped = _sentences(clean, hint if hint in ("en", "tr", "zh") else None)  # type: ignore[arg-type]
    except Exception as exc:  # a reader bug must not stop a patient's record: say so, read nothing
        return Reading("und", problems=(*problems, f"report text could not be read ({type(exc).__name__})"))
    if skipped:
        problems.append("part of the text is in a language bmefhir does not read (en, tr, zh); that part was not read")
    if not lengths:
        return Reading("und", problems=(*problems, "report text is in a language bmefhir does not read (en, tr, zh)"))
    lang = Counter(lengths)  # in the order the languages first appear, as most_common breaks ties
    modality = _report_modality(sentences)
    mentions = _mentions(text, sentences, modality)
    return Reading(lang.most_common(1)[0][0], tuple(mentions), modality, tuple(problems))


def _sentences(text: str, hint: Language | None) -> tuple[list[_Sentence], dict[Language, int], bool]:
    """The sentences siting looks at, the characters read in each language, and whether a part was not read.

    Siting looks at the first sentence (the title), sentences with a finding or a site, side or modality, and those
    of the sections that end the report's focus; a sentence with none of these changes nothing there."""
    out: list[_Sentence] = []
    lengths: dict[Language, int] = {}
    skipped = False
    section = "findings"  # text before any header
    for run in runs(text, hint):
        language = run.language
        if language is None or language == "und":
            skipped = skipped or bool(text[run.start : run.end].strip())
            continue
        for at, line in read_lines(language, text, run.start, run.end):
            for sentence in line:
                section = sentence.header or section
                lengths[language] = lengths.get(language, 0) + sentence.end_char - sentence.start_char
                if sentence.findings or sentence.places or not out or section in _FOCUS_ENDS:
                    out.append(_Sentence(language, section, sentence, at))
    return out, lengths, skipped


def _report_modality(sentences: list[_Sentence]) -> str | None:
    named = [[p.value for p in s.places if p.kind == "MODALITY"] for s in sentences]
    if named and named[0]:
        return named[0][0]  # the title names the study
    distinct = {m for ms in named for m in ms}
    return distinct.pop() if len(distinct) == 1 else None


def _mentions(text: str, sentences: list[_Sentence], modality: str | None) -> list[Mention]:
    sited = [s.sited for s in sentences]
    title_sides = {side_of(f) for f in sited[0][1]} | {p.side for p in sited[0][0] if p.side} if sited else set()
    all_sides = {p.side for sites, _ in sited for p in sites if p.side} | {
        side_of(f) for _, free in sited for f in free
    }
    default_side: Side | None = next(iter(title_sides)) if len(title_sides) == 1 else None
    if default_side is None and len(all_sides) == 1 and "bilateral" not in all_sides:
        default_side = next(iter(all_sides))  # a report about one side; "bilateral" qualifies only its own site
    structures = {p.structure for sites, _ in sited for p in sites}
    # The one structure the text names, the most specific one when it names a joint and a bone of it ("Right hip
    # radiograph: ... femoral head ..." → the femoral head).
    specific = {p.structure for p in most_specific(p for sites, _ in sited for p in sites)}
    default_site = next(iter(specific)) if len(specific) == 1 else None
    joints = {joint_structure(k) for k in structures}
    default_joint = next(iter(joints)) if len(joints) == 1 else None
    # The joint the title names ("MRI RIGHT ANKLE") is the joint of whole-joint findings stated without one, even
    # when the report names bones of a neighbouring joint (navicular, cuneiform: the foot); corpus README.
    title_joints = {p.structure for p in sited[0][0] if STRUCTURES[p.structure].region == "joint"} if sited else set()
    title_joint = next(iter(title_joints)) if len(title_joints) == 1 else None
    default_joint = title_joint or default_joint

    out: list[Mention] = []
    focus: list[SitedPlace] = []  # the sites the report last spoke of ("The same area enhances ...")
    focus_of: _Sentence | None = None  # the sentence they were named in
    # The one side of the sites the report last named: "Right hip: joint space narrowing; a prominent osteophyte"
    # (a site label, then clauses split by ';') speaks of the right hip, not of the title's "both hips".
    focus_side: Side | None = None
    for s, (sites, free) in zip(sentences, sited, strict=True):
        if s.section in _FOCUS_ENDS:
            focus, focus_side = [], None
        named_sides = {p.side for p in sites if p.side} if s.section not in _FOCUS_ENDS else set()
        if len(named_sides) == 1:
            focus_side = next(iter(named_sides))
        elif named_sides:
            focus_side = None
        if not s.findings:
            continue
        free_sides = {side_of(f) for f in free}
        sentence_side = free_sides.pop() if len(free_sides) == 1 else None
        sentence_modality = next((p.value for p in s.places if p.kind == "MODALITY"), None) or modality
        seen: set[tuple[str, str | None, Side | None, str]] = set()  # one per concept, site, assertion a sentence
        for ent, concept, assertion in _composed(s):
            places = _sites_for(ent, s, sites, free, own_clause_only=concept in JOINT_DEFAULT)
            side_default = sentence_side or focus_side or default_side
            own = True  # the places are named in this sentence
            if places:
                focus, focus_of = places, s
            elif focus and concept not in JOINT_DEFAULT:
                places = [SitedPlace(p.structure, sentence_side or p.side, p.span) for p in focus]
                own = focus_of is s
            # The spine is midline: a side the report gives its hip or knee is not the lumbar spine's ("MRI RIGHT HIP
            # ... degenerative change of the lower lumbar facet joints").
            resolved: list[tuple[str | None, Side | None]] = [
                (p.structure, p.side or (None if STRUCTURES[p.structure].joint == "spine" else side_default))
                for p in places
            ]
            if concept in JOINT_LEVEL:
                resolved = list(dict.fromkeys((joint_structure(k), side) for k, side in resolved if k))
                if title_joint and any(k == title_joint for k, _ in resolved):
                    resolved = [(k, side) for k, side in resolved if k == title_joint]
            if concept in JOINT_DEFAULT and not resolved and default_joint:
                resolved = [(default_joint, side_default)]
            elif not resolved and default_site:
                resolved = [(default_site, side_default)]
            quote_start, quote_end = _quote(ent, places if own else (), ent.cues, s)
            common = {
                "concept": concept,
                "start": quote_start,
                "end": quote_end,
                "quote": text[quote_start:quote_end],
                "assertion": assertion,
                "section": s.section,
                "language": s.language,
                "modality": sentence_modality,
            }
            for key, side in resolved or [(None, None)]:
                if (concept, key, side, assertion) in seen:
                    continue
                seen.add((concept, key, side, assertion))
                site = Site(key, side) if key is not None else None
                out.append(Mention(site=site, **common))  # type: ignore[arg-type]
    out.sort(key=lambda m: (m.start, m.end))
    return _without_band_restated(_without_joint_repeats(out))


def _without_band_restated(mentions: list[Mention]) -> list[Mention]:
    """A plain subchondral band at the site of an insufficiency-fracture band stated in the same report is that band
    restated ("Impression: subchondral low-signal band with marrow edema" after "irregular subchondral low-signal band
    convex to the articular surface"): the SIF band is a subchondral low-signal band (Lecouvet FE et al. AJR
    1998;170:71-77), so the short form is not a second, thick band of another kind."""
    present = ("affirmed", "uncertain")
    sif = {m.site for m in mentions if m.concept == "sif_band" and m.assertion in present and m.site is not None}
    if not sif:
        return mentions
    return [
        m
        for m in mentions
        if not (m.concept == "subchondral_low_signal_band" and m.assertion in present and m.site in sif)
    ]


def _without_joint_repeats(mentions: list[Mention]) -> list[Mention]:
    """A bone finding restated for its whole joint ("Impression: left hip bone marrow edema" after "edema of the left
    femoral head and neck") is the same finding: the most specific site stands (docs/report-text.md "Sites")."""

    def at_bone_of(m: Mention, joint: str) -> bool:
        s = m.site
        return s is not None and s.structure != joint and STRUCTURES[s.structure].joint == STRUCTURES[joint].joint

    out = []
    for m in mentions:
        site = m.site
        # The sacroiliac joint is the unit of sacroiliitis (ASAS MRI definition, Rudwaleit M et al. Ann Rheum Dis
        # 2009;68:1520-7; seed 003): edema of the SIJ is stated for the joint itself.
        restated = (
            site is not None
            and m.concept not in JOINT_LEVEL
            and site.structure != "sacroiliac_joint"
            and STRUCTURES[site.structure].region == "joint"
            and any(
                o.concept == m.concept
                and o.assertion == m.assertion
                and at_bone_of(o, site.structure)
                and (o.site is not None and o.site.side in (site.side, None, "bilateral"))
                for o in mentions
            )
        )
        if not restated:
            out.append(m)
    return out


def _composed(s: _Sentence) -> list[tuple[Finding, str, Assertion]]:
    """The sentence's findings with their assertions, composite patterns read as one finding (see _CLAUSE_SUBSUMES)
    and structure terms kept only where the structure is stated intact."""
    found: list[tuple[Finding, str, Assertion]] = []
    for f in s.findings:
        assertion = assertion_for(s.section, f.categories)
        label = f.label
        concept, intact_only = label.removesuffix(INTACT_ONLY), label.endswith(INTACT_ONLY)
        if intact_only and assertion != "negated":
            continue  # "凸向关节面的带状低信号": the articular surface named, not its collapse
        found.append((f, concept, assertion))
    concepts = {(c, a) for _, c, a in found}
    if any(c in _LESIONS for c, _ in concepts):
        found = [(f, "focal_enhancing_lesion" if c == "contrast_enhancement" else c, a) for f, c, a in found]
    by_clause = {(s.clause_of[f.start], c, a) for f, c, a in found}
    out = []
    for f, concept, assertion in found:
        clause = s.clause_of[f.start]
        if any((clause, general, assertion) in by_clause for general in _IMPLIED_IN_CLAUSE.get(concept, ())):
            continue
        if any((general, assertion) in concepts for general in _IMPLIED_IN_SENTENCE.get(concept, ())):
            continue
        out.append((f, concept, assertion))
    return out


def _sites_for(
    ent: Finding, s: _Sentence, sites: Sequence[SitedPlace], free: Sequence[PlaceSpan], own_clause_only: bool = False
) -> list[SitedPlace]:
    """The sites of the finding's clause; else of the nearest clause before, then after, in the sentence.

    A clause naming sites but no finding continues the clause before it ("edema of the talus, navicular and
    cuboid"), so a list of sites separated by commas stays with its finding.
    """
    if s.groups is None:  # the same for every finding of the sentence
        finding_clauses = {s.clause_of[e.start] for e in s.findings}
        s.groups = _clause_groups(s, sites, free, finding_clauses)
        s.site_clauses = {}
        for p in sites:
            if STRUCTURES.get(p.structure) is not None:
                s.site_clauses.setdefault(s.groups[s.clause_of[p.span.start]], []).append(p)
    effective = s.groups
    by_clause = s.site_clauses  # clause group → its sites (read, never changed, below)
    own = effective[s.clause_of[ent.start]]
    before = [c for c in by_clause if c < own]
    after = [c for c in by_clause if c > own]
    chosen = own if own in by_clause else max(before) if before else min(after) if after else None
    if own_clause_only and chosen != own:
        return []  # "..., marginal osteophytes": a joint finding in a clause of its own belongs to the joint
    if chosen is None:
        return []
    places = by_clause[chosen]
    # Signal findings open with the sequence ("T2 koronal kesitlerde sağ femur başında ... artış"): the sites after
    # the sequence word are theirs.
    if s.language == "tr" and chosen == own and not ent.label.endswith(_SIGNALS):
        places = _head_final(ent, s, places, effective)
        if not places:
            return []
    places = share_side(places)
    # A side word of the finding's own clause refines its sites ("her iki femur başında ...: sağda kollaps").
    clause_sides = {side_of(f) for f in free if effective[s.clause_of[f.start]] == own}
    if len(clause_sides) == 1:
        side = clause_sides.pop()
        places = [SitedPlace(p.structure, side, p.span) if p.side in (None, "bilateral") else p for p in places]
    return most_specific(places)


def _head_final(ent: Finding, s: _Sentence, places: list[SitedPlace], effective: dict[int, int]) -> list[SitedPlace]:
    """Turkish names the site before its finding ("asetabulum ve femur başında osteofitler ile asetabulumda subkondral
    kistler"; Göksel & Kerslake 2005, head-final phrases): of the sites of the finding's clause, those after the
    previous finding of the clause and up to the finding's end; a site after the finding belongs to the next finding,
    unless the finding is the clause's last."""
    group = effective[s.clause_of[ent.start]]
    # A structure term not stated intact is no finding ("eklem yüzeyine konveks ... bant": the articular surface
    # names where the band bulges), so the sites before it stay the next finding's.
    others = [
        e
        for e in s.findings
        if e is not ent
        and effective[s.clause_of[e.start]] == group
        and not (e.label.endswith(INTACT_ONLY) and assertion_for(s.section, e.categories) != "negated")
    ]
    previous_end = max((e.end for e in others if e.end <= ent.start), default=-1)
    mine = [p for p in places if previous_end <= p.span.start < ent.end]
    if mine:
        return mine
    if any(e.start >= ent.end for e in others):
        return []
    return [p for p in places if p.span.start >= ent.end]


def _clause_groups(
    s: _Sentence, sites: Sequence[SitedPlace], free: Sequence[PlaceSpan], finding_clauses: set[int]
) -> dict[int, int]:
    """Clause → the clause whose finding its sites belong to.

    A clause naming sites but no finding continues the clause before it ("edema of the talus, navicular and
    cuboid"). Where the sentence opens with such a list, before any finding, the list goes with the first finding
    after it: Turkish puts the sites first ("Kalkaneus, küboid, naviküler ve kuneiform kemiklerde ... ödem";
    Göksel & Kerslake, Turkish: A Comprehensive Grammar, 2005: head-final noun phrases). A clause that names another
    side than the clause before it is a statement of its own ("右侧股骨头骨髓水肿，左侧股骨头未见异常").
    """
    sides: dict[int, set[str]] = {}
    for p in sites:
        if p.side:
            sides.setdefault(s.clause_of[p.span.start], set()).add(p.side)
    for f in free:
        sides.setdefault(s.clause_of[f.start], set()).add(side_of(f))
    clauses = sorted(set(s.clause_of.values()))
    first_finding = min(finding_clauses, default=None)
    effective: dict[int, int] = {}
    for c in clauses:
        other_side = bool(sides.get(c)) and c > clauses[0] and sides.get(effective[c - 1], sides[c]) != sides[c]
        effective[c] = c if c in finding_clauses or c == clauses[0] or other_side else effective[c - 1]
    if first_finding is not None:
        with_sites = {s.clause_of[p.span.start] for p in sites}
        opening = [c for c in clauses if c < first_finding]
        if opening and all(c in with_sites and _only_sites(s, c, sites) for c in opening):
            for c in opening:
                effective[c] = first_finding
    return effective


def _only_sites(s: _Sentence, clause: int, sites: Sequence[SitedPlace]) -> bool:
    """The clause is a bare list of site words (and conjunctions)."""
    covered = {i for p in sites if s.clause_of[p.span.start] == clause for i in range(p.span.start, p.span.end)}
    tokens = [i for i, c in s.clause_of.items() if c == clause]
    return all(i in covered or i in s.line.list_words for i in tokens)


def _quote(
    ent: Finding, places: Sequence[SitedPlace], cues: tuple[tuple[int, int], ...], s: _Sentence
) -> tuple[int, int]:
    """The finding with its sites and cues, within the sentence; the finding alone when that is too long. ``places``
    are the sentence's own (offsets from its line's start, as the finding's); the quote is into the text."""
    start, end = ent.start_char, ent.end_char
    line = s.line
    here = [p for p in places if line.start_char <= p.span.start_char and p.span.end_char <= line.end_char]
    wide_start = min([start, *(p.span.start_char for p in here), *(a for a, _ in cues)])
    wide_end = max([end, *(p.span.end_char for p in here), *(b for _, b in cues)])
    at = s.at
    if wide_end - wide_start <= MAX_QUOTE_CHARS:
        return at + wide_start, at + wide_end
    return at + start, at + min(end, start + MAX_QUOTE_CHARS)
