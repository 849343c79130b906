"""Messages that stay readable at any scale: one line, a count and the first few items."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

FIRST = 5  # items a refusal names before it says how many more there are


def few(items: Iterable[object], *, first: int = FIRST, sep: str = ", ") -> str:
    """`a, b, c, d, e and 9,995 more`: never every item of an unbounded list."""
    shown: list[str] = []
    more = 0
    for item in items:
        if len(shown) < first:
            shown.append(str(item))
        else:
            more += 1
    text = sep.join(shown)
    return f"{text} and {more:,} more" if more else text


def one_line(text: str, *, limit: int = 300) -> str:
    """`text` folded onto one line and cut at `limit` characters (an error from a parser or
    the operating system can span lines and quote a whole input)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def printable(text: str) -> str:
    """`text` with control characters and undecodable bytes (a file name's) escaped, so an
    error stays one line and nothing in it reaches the terminal as a control code."""
    if text.isprintable():  # the common case, checked in C: every character is plain
        return text
    return "".join(ch if _plain(ch) else ascii(ch)[1:-1] for ch in text)


def _plain(ch: str) -> bool:
    # Spaces (U+00A0 and the like) are text; controls, line separators, format characters
    # (bidi overrides) and lone surrogates (undecodable bytes) are not.
    return ch.isprintable() or (ch != "\u2028" and unicodedata.category(ch) == "Zs")
