"""Where radiology report text comes from: resources → decoded plain text (docs/report-text.md).

Pure: the text is taken from the input resources only (a url to a Binary is resolved against
the Binaries in the input, never fetched here). Each ``TextSource`` names the resource and the
element it came from, so the evidence of a finding can point back at it; what could not be read,
or was read with a caveat, is noted on that element without ever quoting the text.

Read: ``DiagnosticReport.conclusion`` and ``.presentedForm``; the attachments of a
``DocumentReference`` that is an imaging report; ``Observation.valueString`` of imaging
observations; ``Binary`` as the target of an attachment url. ``ImagingStudy.description`` gives
modality and site context only (``study_description_context``).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from email.message import Message

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bmefhir import terminology
from bmefhir.normalize.context import Context
from bmefhir.normalize.dates import parse_date, plausible
from bmefhir.normalize.fhirjson import JSON, codings, obj, objs, relative_ref, string
from bmefhir.record import Severity

__all__ = [
    "IMAGING_DOCUMENT_CODES",
    "MAX_TEXT_CHARS",
    "Note",
    "TextSource",
    "attachment_text",
    "diagnostic_report_texts",
    "document_reference_texts",
    "emit",
    "is_imaging_document",
    "is_imaging_observation",
    "normalized",
    "observation_text",
]

LOINC = "http://loinc.org"
# Imaging report document codes (LOINC), terminology.md §4, §4b and §9, verified rows only.
IMAGING_DOCUMENT_CODES = frozenset({"18748-4", "18726-0", "24538-1", "24539-9", "100225-2", "100852-3"})
RADIOLOGY_CATEGORY = "LP29684-5"  # LOINC "Radiology" (terminology.md §4)
IMAGING_FINDING_SYSTEM = "http://bmefhir.org/fhir/CodeSystem/imaging-finding"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# A report is a few thousand characters; more than this is not a report (or is a whole chart).
MAX_TEXT_CHARS = 1_000_000
# UTF-8 needs at most 4 bytes a character, so no more bytes than this can be needed.
_MAX_BYTES = 4 * MAX_TEXT_CHARS
_MAX_BASE64_CHARS = (_MAX_BYTES + 2) // 3 * 4
_MAX_MARKUP_CHARS = 8 * MAX_TEXT_CHARS

PLAIN_TYPES = frozenset({"text/plain"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

_SEVERITY_RANK: dict[Severity, int] = {"error": 0, "warning": 1, "information": 2}


@dataclass(frozen=True, slots=True)
class Note:
    """Something to say about one source element (combined into one issue per element by ``emit``)."""

    severity: Severity
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class TextSource:
    """One report text as decoded: ``text`` is what offsets of its findings point into."""

    ref: str
    element: str
    text: str
    language: str | None  # BCP-47 hint: Attachment.language, else the resource's language
    date: date | None
    study_refs: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()


def emit(ctx: Context, ref: str, element: str, notes: list[Note] | tuple[Note, ...]) -> None:
    """All notes of one element as a single issue (the issue log keeps one per element)."""
    if not notes:
        return
    ordered = sorted(notes, key=lambda n: _SEVERITY_RANK[n.severity])
    messages = list(dict.fromkeys(n.message for n in ordered))
    ctx.note(ordered[0].severity, ordered[0].code, ref, element, "; ".join(messages))


def normalized(text: str) -> str:
    """The text compared for sameness: case and whitespace folded."""
    return " ".join(text.casefold().split())


# --- attachments ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Decoded:
    text: str | None
    language: str | None
    notes: tuple[Note, ...]


def attachment_text(ctx: Context, attachment: JSON, language: str | None = None) -> _Decoded:
    """Plain text of an Attachment (inline ``data`` or ``url`` to a Binary in the input)."""
    notes: list[Note] = []
    lang = string(attachment, "language") or language
    content_type = string(attachment, "contentType")
    raw: bytes | None = None
    if "data" in attachment:
        raw = _base64(attachment.get("data"), notes)
        if raw is None:
            return _Decoded(None, lang, tuple(notes))
    elif (url := string(attachment, "url")) is not None:
        binary = _binary(ctx, url, notes)
        if binary is None:
            return _Decoded(None, lang, tuple(notes))
        content_type = content_type or string(binary, "contentType")
        lang = string(attachment, "language") or string(binary, "language") or language
        raw = _base64(binary.get("data"), notes)
        if raw is None:
            return _Decoded(None, lang, tuple(notes))
    else:
        notes.append(Note("warning", "incomplete", "attachment has neither data nor url; no report text"))
        return _Decoded(None, lang, tuple(notes))
    return _Decoded(_bytes_text(raw, content_type, notes), lang, tuple(notes))


def _base64(value: object, notes: list[Note]) -> bytes | None:
    if not isinstance(value, str) or not value.strip():
        notes.append(Note("warning", "incomplete", "attachment data is empty; no report text"))
        return None
    compact = "".join(value.split()) if any(c.isspace() for c in value[:_MAX_BASE64_CHARS]) else value
    if len(compact) > _MAX_BASE64_CHARS:
        compact = compact[:_MAX_BASE64_CHARS]  # the text is cut to MAX_TEXT_CHARS later, with a warning
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        notes.append(Note("error", "invalid", "attachment data is not valid base64; report text not read"))
        return None


def _binary(ctx: Context, url: str, notes: list[Note]) -> JSON | None:
    """The Binary an attachment url points at, when it is in the input (relative or same server)."""
    target = ctx.full_urls.get(url) or relative_ref(url)
    binary = ctx.by_ref.get(target) if target.startswith("Binary/") else None
    if binary is None or (url.startswith(("http://", "https://")) and not _same_binary(ctx, url, target)):
        notes.append(
            Note(
                "warning",
                "not-found",
                "attachment url does not point at a Binary in the input; report text not read",
            )
        )
        return None
    ctx.used_refs.add(target)
    return binary


def _same_binary(ctx: Context, url: str, target: str) -> bool:
    """An absolute url names the Binary of the input unless that Binary came with another fullUrl."""
    full = [u for u, ref in ctx.full_urls.items() if ref == target and u.startswith(("http://", "https://"))]
    return not full or url in full


def _content_type(content_type: str | None) -> tuple[str | None, str | None]:
    """(media type, charset) of a contentType header value."""
    if content_type is None:
        return None, None
    header = Message()
    header["content-type"] = content_type
    charset = header.get_param("charset")
    return header.get_content_type(), charset if isinstance(charset, str) else None


def _bytes_text(raw: bytes, content_type: str | None, notes: list[Note]) -> str | None:
    media, charset = _content_type(content_type)
    if media is None:
        notes.append(Note("information", "incomplete", "attachment has no contentType; read as text"))
    elif media not in PLAIN_TYPES | HTML_TYPES:
        notes.append(
            Note("information", "not-supported", f"attachment of type {media} is not read (text/plain or text/html)")
        )
        return None
    if len(raw) > _MAX_BYTES:
        raw = raw[:_MAX_BYTES]
    text = _decode(raw, charset, notes)
    if media in HTML_TYPES or (media is None and _looks_like_html(text)):
        text = html_text(text, notes)
    return text


def _decode(raw: bytes, charset: str | None, notes: list[Note]) -> str:
    encoding = "utf-8"
    if charset is not None:
        try:
            encoding = codecs.lookup(charset).name
        except LookupError:
            notes.append(Note("warning", "value", f"unknown charset {charset[:40]!r}; read as UTF-8"))
    if encoding == "utf-8" and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        notes.append(Note("warning", "value", f"attachment bytes are not valid {encoding}; undecodable bytes replaced"))
        return raw.decode(encoding, errors="replace")


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:512].lower()
    return head.startswith("<") and ("<html" in head or "<body" in head or "<p" in head or "<div" in head)


# --- HTML → text ------------------------------------------------------------------------------

# Content that is never report text.
_DROPPED = frozenset({"script", "style", "head", "title", "template", "noscript", "iframe", "object", "svg", "math"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
        "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "thead", "tfoot",
        "tr", "ul", "caption", "body", "html",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_BREAK = "\ue000"  # a private-use character standing for a line break while text is assembled
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_BREAKS = re.compile(r" *\ue000[ \ue000]*")


def html_text(markup: str, notes: list[Note]) -> str:
    """Visible text of HTML: script/style/head dropped, blocks and <br> as line breaks, entities decoded."""
    if len(markup) > _MAX_MARKUP_CHARS:
        markup = markup[:_MAX_MARKUP_CHARS]
    tree = LexborHTMLParser(markup.replace(_BREAK, " "))
    if tree.root is None:
        return ""
    parts = list(_walk(tree.root))
    if tree.css_first("script, style") is not None:  # anywhere, the head included
        notes.append(Note("information", "informational", "HTML scripts or styles removed; their content not read"))
    text = _BREAKS.sub("\n", "".join(parts))
    return "\n".join(line.strip() for line in text.split("\n")).strip("\n")


def _walk(root: LexborNode) -> Iterator[str]:
    """The visible text pieces in document order (breaks as ``_BREAK``); iterative, no recursion."""
    stack: list[tuple[LexborNode, bool] | str] = [(root, False)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
            continue
        node, in_pre = item
        if node.is_text_node:
            raw = node.text_content or ""
            yield raw.replace("\n", _BREAK) if in_pre else _SPACES.sub(" ", raw)
            continue
        if not node.is_element_node and not node.is_document_node:
            continue  # comments, doctype
        tag = (node.tag or "").lower()
        if tag in _DROPPED:
            continue
        if tag == "br":
            yield _BREAK
            continue
        after = _BREAK if tag in _BLOCKS else " " if tag in _CELLS else ""
        children: list[tuple[LexborNode, bool] | str] = []
        child = node.child
        while child is not None:
            children.append((child, in_pre or tag == "pre"))
            child = child.next
        stack.append(after)
        stack.extend(reversed(children))
        if after:
            yield after


# --- sources ----------------------------------------------------------------------------------


def _finish(
    ctx: Context,
    ref: str,
    element: str,
    decoded: _Decoded,
    when: date | None,
    study_refs: tuple[str, ...],
) -> TextSource | None:
    """A TextSource from decoded text (limits applied), or the element's issue when there is none."""
    notes = list(decoded.notes)
    text = decoded.text
    if text is not None and not text.strip():
        notes.append(Note("warning", "incomplete", "report text is empty"))
        text = None
    if text is None:
        emit(ctx, ref, element, notes)
        return None
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        notes.append(
            Note("warning", "too-long", f"report text longer than {MAX_TEXT_CHARS:,} characters; the rest not read")
        )
    return TextSource(ref, element, text, decoded.language, when, study_refs, tuple(notes))


def diagnostic_report_texts(
    ctx: Context, ref: str, res: JSON, when: date | None, study_refs: tuple[str, ...]
) -> list[TextSource]:
    """presentedForm attachments, then ``conclusion`` unless a presentedForm already holds its text."""
    language = string(res, "language")
    sources: list[TextSource] = []
    for i, form in enumerate(objs(res, "presentedForm")):
        element = f"DiagnosticReport.presentedForm[{i}]"
        decoded = attachment_text(ctx, form, language)
        if (source := _finish(ctx, ref, element, decoded, when, study_refs)) is not None:
            sources.append(source)
    if "conclusion" in res:
        element = "DiagnosticReport.conclusion"
        raw = res.get("conclusion")
        conclusion = _Decoded(raw if isinstance(raw, str) else "", language, ())
        if (source := _finish(ctx, ref, element, conclusion, when, study_refs)) is not None:
            same = normalized(source.text)
            if any(same in normalized(s.text) for s in sources):
                emit(
                    ctx,
                    ref,
                    element,
                    [Note("information", "duplicate", "conclusion repeats the presentedForm text; read once")],
                )
            else:
                sources.append(source)
    return sources


def is_imaging_document(ctx: Context, res: JSON) -> bool:
    """A DocumentReference whose type or category is an imaging report, or linked to an ImagingStudy."""
    return imaging_document_type(res) or bool(_related_studies(ctx, res))


def imaging_document_type(res: JSON) -> bool:
    """A DocumentReference whose type or category is an imaging report (``is_imaging_document`` by
    these two elements alone)."""
    for cc in [obj(res, "type"), *objs(res, "category")]:
        for c in codings(cc):
            if terminology.canonical_system(c.system) == LOINC and (
                c.code in IMAGING_DOCUMENT_CODES or c.code == RADIOLOGY_CATEGORY
            ):
                return True
    return False


def related_studies(ctx: Context, res: JSON) -> bool:
    """A DocumentReference linked to an ImagingStudy (``context.related``)."""
    return bool(_related_studies(ctx, res))


def _related_studies(ctx: Context, res: JSON) -> tuple[str, ...]:
    related = objs(obj(res, "context"), "related")
    return tuple(sorted({r for x in related if (r := ctx.resolve(x)) and r.startswith("ImagingStudy/")}))


def document_reference_texts(ctx: Context, ref: str, res: JSON) -> list[TextSource]:
    """The attachments of an imaging-report DocumentReference (other documents: an information note)."""
    if string(res, "status") == "entered-in-error":
        ctx.note("information", "informational", ref, "DocumentReference.status", "status entered-in-error; ignored")
        return []
    if not is_imaging_document(ctx, res):
        ctx.note(
            "information",
            "not-supported",
            ref,
            "DocumentReference.type",
            "not an imaging report (type, category or related ImagingStudy); not read",
        )
        return []
    when = _document_date(ctx, ref, res)
    studies = _related_studies(ctx, res)
    language = string(res, "language")
    sources: list[TextSource] = []
    seen: set[str] = set()
    contents = objs(res, "content")
    if not contents:
        ctx.note("warning", "incomplete", ref, "DocumentReference.content", "no content; no report text")
    for i, content in enumerate(contents):
        element = f"DocumentReference.content[{i}].attachment"
        attachment = obj(content, "attachment")
        if attachment is None:
            ctx.note("warning", "incomplete", ref, element, "no attachment; no report text")
            continue
        decoded = attachment_text(ctx, attachment, language)
        if (source := _finish(ctx, ref, element, decoded, when, studies)) is None:
            continue
        key = normalized(source.text)
        if key in seen:  # the same report in a second format (e.g. text and HTML)
            emit(ctx, ref, element, [Note("information", "duplicate", "same text as an earlier attachment; read once")])
            continue
        seen.add(key)
        sources.append(source)
    return sources


def _document_date(ctx: Context, ref: str, res: JSON) -> date | None:
    period = obj(obj(res, "context"), "period")
    if period is not None and "start" in period:
        return ctx.date(ref, "DocumentReference.context.period.start", period.get("start"))
    if "date" in res:
        return ctx.date(ref, "DocumentReference.date", res.get("date"))
    ctx.note("warning", "incomplete", ref, "DocumentReference.date", "no date; findings from its text are undated")
    return None


def is_imaging_observation(res: JSON) -> bool:
    """Observation of category imaging, or coded in the imaging-finding system, or an imaging LOINC."""
    for cc in objs(res, "category"):
        for c in codings(cc):
            if c.code == "imaging" and c.system in (None, OBSERVATION_CATEGORY):
                return True
    for c in codings(obj(res, "code")):
        system = terminology.canonical_system(c.system)
        if system == IMAGING_FINDING_SYSTEM or (system == LOINC and c.code in IMAGING_DOCUMENT_CODES):
            return True
    return False


def observation_text(
    ctx: Context, ref: str, res: JSON, when: date | None, study_refs: tuple[str, ...]
) -> TextSource | None:
    """``Observation.valueString`` as report text (the caller checks ``is_imaging_observation``)."""
    if "valueString" not in res:
        return None
    raw = res.get("valueString")
    decoded = _Decoded(raw if isinstance(raw, str) else "", string(res, "language"), ())
    return _finish(ctx, ref, "Observation.valueString", decoded, when, study_refs)


def study_date(ctx: Context, study_refs: tuple[str, ...]) -> date | None:
    """The started date of the single referenced study in the input (its issues are the study's own)."""
    if len(study_refs) != 1 or (study := ctx.by_ref.get(study_refs[0])) is None:
        return None
    parsed = parse_date(study.get("started")).value
    return parsed if parsed is not None and plausible(parsed) else None


def study_descriptions(ctx: Context, study_refs: tuple[str, ...]) -> list[str]:
    """``ImagingStudy.description`` and ``series[].description`` of the referenced studies (context only)."""
    out: list[str] = []
    for sref in study_refs:
        study = ctx.by_ref.get(sref)
        if study is None:
            continue
        if (d := string(study, "description")) is not None:
            out.append(d[:500])
        out.extend(d[:500] for s in objs(study, "series") if (d := string(s, "description")) is not None)
    return out
