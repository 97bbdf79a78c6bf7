"""Drug exposures: systemic glucocorticoids in detail, other classes as flags and bands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bmefhir.derive.factset import FactSet, join_notes
from bmefhir.derive.model import Exposure
from bmefhir.derive.recordindex import RecordIndex
from bmefhir.derive.registry import THRESHOLDS
from bmefhir.record import MedicationExposure

# Routes that do not give a systemic glucocorticoid dose. Anything else (oral,
# intravenous, intramuscular, or an unstated route) counts as systemic.
NON_SYSTEMIC_ROUTES = frozenset(
    {
        "inhaled",
        "inhalation",
        "topical",
        "cutaneous",
        "intra-articular",
        "intraarticular",
        "nasal",
        "intranasal",
        "ophthalmic",
        "otic",
        "epidural",
        "intralesional",
    }
)
INTRAVENOUS_ROUTES = frozenset({"intravenous", "iv"})
# ">= 3 months" of glucocorticoids: ACR 2017 glucocorticoid-induced osteoporosis
# guideline (Buckley L et al. Arthritis Rheumatol 2017;69:1521-37); registry: glucocorticoid_long_course.
LONG_COURSE_DAYS = 90
# Drug classes drawn as exposure bands on the timeline picture.
BAND_CONCEPTS = ("glucocorticoid", "bisphosphonate", "chemotherapy", "vitamin_d", "nsaid")
_ONGOING = frozenset({"active", "intended", "on-hold"})

_FLAG_FACTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bisphosphonate_exposure", ("bisphosphonate",)),
    ("chemotherapy", ("chemotherapy",)),
    ("antiretroviral_therapy", ("antiretroviral",)),
    ("gcsf_or_epo", ("gcsf", "erythropoietin")),
    ("antituberculous_therapy", ("antituberculous",)),
)


@dataclass(frozen=True, slots=True)
class Course:
    """A dated systemic course, clipped to the analysis date; ``end`` inclusive."""

    start: date
    end: date
    ongoing: bool
    ref: str


def is_systemic(route: str | None) -> bool:
    return route is None or route.strip().lower() not in NON_SYSTEMIC_ROUTES


def course_of(med: MedicationExposure, today: date) -> Course | None:
    """The dated span of a course, or None when it has no start or starts after ``today``.

    No end date: an active course runs to ``today``; a completed one (e.g. a single
    IV pulse given as one date) is counted as its start day.
    """
    if med.start is None or med.start > today:
        return None
    ongoing = med.end is None and (med.status is None or med.status in _ONGOING)
    if med.end is None:
        end = today if ongoing else med.start
    else:
        end = min(max(med.end, med.start), today)
        ongoing = ongoing or med.end >= today
    return Course(med.start, end, ongoing, med.ref)


def merge_courses(courses: list[Course]) -> list[tuple[date, date, list[str]]]:
    """Merge overlapping or back-to-back courses into (start, end, refs) spans."""
    merged: list[tuple[date, date, list[str]]] = []
    for c in sorted(courses, key=lambda c: (c.start, c.end, c.ref)):
        if merged and c.start <= merged[-1][1] + timedelta(days=1):
            start, end, refs = merged[-1]
            merged[-1] = (start, max(end, c.end), [*refs, c.ref])
        else:
            merged.append((c.start, c.end, [c.ref]))
    return merged


def _describe(med: MedicationExposure) -> str:
    start = med.start.isoformat() if med.start else "?"
    end = med.end.isoformat() if med.end else (med.status or "?")
    return f"{med.drug} {med.route or 'route?'} {start} → {end}"


def derive_glucocorticoids(index: RecordIndex, bme_start: date | None, facts: FactSet) -> None:
    today = index.today
    meds = [m for m in index.medications.get("glucocorticoid", ()) if m.start is None or m.start <= today]
    if not meds:
        return
    systemic = [m for m in meds if is_systemic(m.route)]
    if not systemic:
        facts.put(
            "glucocorticoid_exposure",
            False,
            [m.ref for m in meds],
            "only non-systemic glucocorticoid: " + join_notes(_describe(m) for m in meds),
        )
        return
    facts.put("glucocorticoid_exposure", True, [m.ref for m in systemic], join_notes(map(_describe, systemic)))

    iv = [m for m in systemic if m.route is not None and m.route.strip().lower() in INTRAVENOUS_ROUTES]
    if iv:
        facts.put("glucocorticoid_iv_pulse", True, [m.ref for m in iv], join_notes(map(_describe, iv)))

    courses = [c for m in systemic if (c := course_of(m, today)) is not None]
    if not courses:
        return  # exposure known, timing unknown
    all_dated = len(courses) == len(systemic)
    refs = [c.ref for c in courses]
    spans = merge_courses(courses)
    total = sum((end - start).days + 1 for start, end, _ in spans)
    facts.put("glucocorticoid_duration_days", total, refs, f"{len(spans)} merged course(s), {total} d")
    longest = max((end - start).days + 1 for start, end, _ in spans)
    if longest >= LONG_COURSE_DAYS or all_dated:
        facts.put("glucocorticoid_long_course", longest >= LONG_COURSE_DAYS, refs, f"longest course {longest} d")

    last = max(courses, key=lambda c: (c.ongoing, c.end))
    since = 0 if last.ongoing else (today - last.end).days
    facts.put(
        "glucocorticoid_days_since_last",
        since,
        [last.ref],
        "ongoing" if last.ongoing else f"last dose {last.end.isoformat()}",
    )

    ref_date = bme_start or today
    window_start = ref_date - timedelta(days=int(THRESHOLDS["glucocorticoid_recent_days"][0]))
    recent = [c for c in courses if c.start <= ref_date and c.end >= window_start]
    anchor = "first BME" if bme_start else "analysis date"
    if recent:
        facts.put(
            "glucocorticoid_recent",
            True,
            [c.ref for c in recent],
            f"systemic course within 365 d before {anchor} {ref_date.isoformat()}",
        )
    elif all_dated:
        facts.put(
            "glucocorticoid_recent",
            False,
            refs,
            f"no systemic course within 365 d before {anchor} {ref_date.isoformat()}",
        )


def derive_medication_flags(index: RecordIndex, facts: FactSet) -> None:
    today = index.today
    for name, concepts in _FLAG_FACTS:
        meds = [
            m for concept in concepts for m in index.medications.get(concept, ()) if m.start is None or m.start <= today
        ]
        if meds:
            facts.put(name, True, [m.ref for m in meds], join_notes(map(_describe, meds)))


def exposure_bands(index: RecordIndex) -> tuple[Exposure, ...]:
    bands = [
        Exposure(m.concept, m.drug, m.route, m.start, m.end, m.ref)
        for concept in BAND_CONCEPTS
        for m in index.medications.get(concept, ())
    ]
    bands.sort(key=lambda e: (e.start or date.min, e.concept, e.drug, e.ref))
    return tuple(bands)
