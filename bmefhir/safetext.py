"""Bounded, printable fragments of untrusted text, for messages that must name what they refer to.

Input can hold a 100,000-character ``resourceType``, a lone surrogate or console
markup. A message built from it must stay short, printable and encodable:
``bounded`` escapes what is not printable (surrogates, control characters) and
cuts the rest to a fixed length.
"""

from __future__ import annotations

__all__ = ["bounded"]

ELLIPSIS = "…"


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def bounded(text: str, limit: int = 80) -> str:
    """``text`` with non-printable characters escaped, cut to ``limit`` characters (``…`` marks a cut)."""
    if len(text) <= limit and text.isprintable():
        return text
    head = "".join(_escape(c) for c in text[: limit + 1])
    return head if len(head) <= limit and len(text) <= limit else head[: max(limit - 1, 0)] + ELLIPSIS
