"""libpg_query's JSON tree of a file without the rows of its INSERT ... VALUES, for lint.

Seed data is often most of a history's parse tree (a third of it on the lint benchmark), and no
lint rule reads the rows (INSERT's rules read its relation and column list). Decoding them and
freeing them again was a fifth of lint's time. So before decoding we cut each plain
`INSERT ... VALUES` statement's `valuesLists` out of the JSON (UTF-8 bytes, sql.pg_json) and
decode the rest at once, as the whole reading does; the node then holds Rows there, which
decode the cut rows when first read.

The cut is found by text, never by decoding: `{"stmt":{"` starts each top-level statement (the
key `stmt` belongs to RawStmt alone, and a `"` inside a JSON string is escaped), `selectStmt`
belongs to InsertStmt alone, and a plain VALUES insert's JSON ends in a fixed suffix.

What the cut must not change is which files are too deep to decode: the whole reading reports
a tree deeper than Python's JSON reader goes as a syntax problem. Brackets outside strings
give the depth; chunk by chunk, the depth at a chunk's start plus the brackets opened in it
bound the depth inside. A bracket inside a string can only come from a bracket or a backslash
escape in the statement's SQL (a Unicode escape with UESCAPE can hide one: such files are not
cut), so their count is added. A statement whose bound comes near the limit is left in the text
and decoded as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from supamigrate.sql.tree_json import decode

_ITEM = b'{"stmt":{"'
_INSERT = b'{"stmt":{"InsertStmt":{"relation":'
_VALUES = b',"selectStmt":{"SelectStmt":{"valuesLists":['
# A plain VALUES insert's JSON ends so: the rows' `]`, then this, then its item's tail.
_END = (
    b'],"limitOption":"LIMIT_OPTION_DEFAULT","op":"SETOP_NONE"}},"override":"OVERRIDING_NOT_SET"}}'
)
_TAIL = re.compile(rb'(?:,"stmt_location":(\d+))?(?:,"stmt_len":(\d+))?\}')
_SORT = b'"sortClause":'
_CHUNK = 4096
# Depth the rows may reach (bound) and still be cut: far below where the JSON decoder gives up
# (Python's recursion limit, 1000, less the frames already on the stack).
_SAFE_DEPTH = 600
_BASE_DEPTH = 8  # {"stmts":[ {"stmt":{"InsertStmt":{"selectStmt":{"SelectStmt":{"valuesLists":[


class Rows(list[Any]):
    """An INSERT's VALUES rows, decoded from the file's JSON on first use (a rule that walks
    every later statement, like the enum value one, reads them; most runs never do)."""

    __slots__ = ("_span", "_text")

    def __init__(self, text: bytes, span: tuple[int, int]) -> None:
        super().__init__()
        self._text: bytes | None = text
        self._span = span

    def _fill(self) -> None:
        if self._text is not None:
            text, (first, last) = self._text, self._span
            self._text = None
            super().extend(decode(text[first:last]))

    def __iter__(self) -> Iterator[Any]:
        self._fill()
        return super().__iter__()

    def __reversed__(self) -> Iterator[Any]:
        self._fill()
        return super().__reversed__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def __getitem__(self, index: Any) -> Any:
        self._fill()
        return super().__getitem__(index)

    def __contains__(self, value: object) -> bool:
        self._fill()
        return super().__contains__(value)

    def __eq__(self, other: object) -> bool:
        self._fill()
        if isinstance(other, Rows):
            other._fill()
        return super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        self._fill()
        return super().__repr__()


def without_values(text: bytes, utf8: bytes) -> tuple[bytes, dict[int, tuple[int, int]]]:
    """`text` (libpg_query's JSON of the file whose UTF-8 is `utf8`) with each plain INSERT's
    VALUES rows replaced by `[]`, and where they were in `text`, by the statement's location."""
    cuts: dict[int, tuple[int, int]] = {}
    if _INSERT not in text or _custom_escapes(utf8):
        return text, cuts
    parts: list[bytes] = []
    kept = 0  # text[:kept] is in parts
    at = text.find(_INSERT)
    while at >= 0:
        following = text.find(_ITEM, at + 1)
        end = following - 1 if following >= 0 else len(text) - 2  # the item's `,` or `]}`
        found = _values_span(text, at, end, utf8)
        if found:
            location, first, last = found
            cuts[location] = (first, last)
            parts += (text[kept:first], b"[]")
            kept = last
        at = text.find(_INSERT, end)
    if not cuts:
        return text, cuts
    parts.append(text[kept:])
    return b"".join(parts), cuts


def restore(node: dict[str, Any], text: bytes, span: tuple[int, int]) -> None:
    """Put an INSERT's rows cut from `text` back into its decoded node, decoded on first use."""
    node["selectStmt"]["SelectStmt"]["valuesLists"] = Rows(text, span)


def _custom_escapes(utf8: bytes) -> bool:
    """A UESCAPE clause may make any character an escape (only after a U& literal)."""
    return (b"U&" in utf8 or b"u&" in utf8) and b"uescape" in utf8.lower()


def _values_span(text: bytes, at: int, end: int, utf8: bytes) -> tuple[int, int, int] | None:
    """The statement's location and where its VALUES rows are (`[` to `]` inclusive), when it
    is a plain VALUES insert whose rows are surely not too deep to decode."""
    start = text.find(_VALUES, at, end)
    if start < 0:
        return None
    at_end = text.rfind(_END, max(start, end - 200), end)  # (from the end: one short look)
    tail = _TAIL.fullmatch(text, at_end + len(_END), end) if at_end >= 0 else None
    if tail is None:
        return None
    location = int(tail[1] or 0)
    length = int(tail[2] or 0) or len(utf8) - location
    stop = location + length
    slack = sum(utf8.count(char, location, stop) for char in (b"]", b"}", b"\\"))
    first, last = start + len(_VALUES) - 1, at_end + 1
    if text.find(_SORT, first, last) >= 0:
        return None
    depth = peak = _BASE_DEPTH
    for chunk in range(first, last, _CHUNK):
        stop = min(chunk + _CHUNK, last)
        opened = text.count(b"[", chunk, stop) + text.count(b"{", chunk, stop)
        peak = max(peak, depth + opened)
        depth += opened - text.count(b"]", chunk, stop) - text.count(b"}", chunk, stop)
    return (location, first, last) if peak + slack <= _SAFE_DEPTH else None
