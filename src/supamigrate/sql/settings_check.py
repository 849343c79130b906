"""Settings that change how the rest of a script is read or sent, checked before anything runs.

`standard_conforming_strings` decides whether a backslash escapes a quote (so whether a COMMIT
the parser saw inside a string is one), and `client_encoding` how the server decodes the bytes
psql sends next (psql stored mojibake after `SET client_encoding = 'LATIN1'`). Our parser reads
every file with standard_conforming_strings on, and every method sends UTF-8 and says so
(client_encoding UTF8 on each connection). So a setting to exactly those values changes
nothing and is allowed, as is a RESET or DEFAULT (the connection's UTF8, the server's on):
the pg_dump header of a `supabase db pull` file sets both so. Any other value, and any mention
we cannot see as such a statement (inside a string, a DO block, a function), is refused, for
every method alike.
"""

from __future__ import annotations

import re
from typing import Any

from supamigrate.sql.reading import Located, Reading, Statement, line_of, scan

# The names, and `SET NAMES` (client_encoding's other spelling), wherever they appear. Found
# in the UTF-8 bytes lowered (ASCII only, so offsets stay put), each with a pattern that starts
# with a literal: a case-blind alternation runs at ~4 MB/s, these at memory speed.
_NAMES = (re.compile(rb"standard_conforming_strings"), re.compile(rb"client_encoding"))
_SET_NAMES = re.compile(rb"set\s+(?:session\s+|local\s+)?names")
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_$") | frozenset(range(0x80, 0x100))
_SAFE = {
    "standard_conforming_strings": frozenset({"on", "true", "yes", "1", "t", "y"}),
    "client_encoding": frozenset({"utf8", "utf-8", "unicode"}),
}


def mentions_reading_settings(sql: str) -> bool:
    return bool(_mentions(sql))


def _mentions(sql: str) -> list[tuple[int, str]]:
    """(character offset, text) of each mention, in order."""
    data = sql.encode("utf-8", "surrogatepass").lower()
    spans = [m.span() for pattern in _NAMES for m in pattern.finditer(data)]
    spans += [m.span() for m in _SET_NAMES.finditer(data) if _whole_words(data, *m.span())]
    found: list[tuple[int, str]] = []
    chars, previous = 0, 0
    for start, end in sorted(spans):  # character offsets counted in one forward pass
        chars += len(data[previous:start].decode("utf-8", "surrogatepass"))
        previous = start
        found.append((chars, data[start:end].decode()))
    return found


def _whole_words(data: bytes, start: int, end: int) -> bool:
    """`set ... names` is not the end of `offset` or the start of `namespace`."""
    before = data[start - 1] if start else None
    after = data[end] if end < len(data) else None
    return before not in _WORD and after not in _WORD


def unsafe_setting(reading: Reading) -> Located | None:
    """The first mention of such a setting that is not a top-level SET, RESET or set_config to
    a value that changes nothing; None when every mention is one."""
    safe: list[tuple[int, int]] = []
    for statement in reading.statements:
        verdict = _verdict(statement)
        if verdict is False:
            return Located(statement.line, statement.text.split("\n", 1)[0][:80])
        if verdict is True:
            safe.append((statement.start, statement.end))
    mentions = [(at, text) for at, text in _mentions(reading.sql) if not _inside(at, safe)]
    if mentions:  # a comment may name them: only what the server reads counts
        comments = [(t.start, t.end + 1) for t in scan(reading.sql) if t.name in _COMMENTS]
        for at, text in mentions:
            if not _inside(at, comments):
                return Located(line_of(reading.sql, at), text)
    return None


_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})


def _inside(index: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= index < end for start, end in spans)


def _verdict(statement: Statement) -> bool | None:
    """True: sets one of our settings harmlessly; False: sets one otherwise; None: neither."""
    node = statement.node
    if statement.kind == "VariableSetStmt":
        name = str(node.get("name", "")).lower()
        if name not in _SAFE:
            return None
        if node.get("kind") in ("VAR_RESET", "VAR_SET_DEFAULT"):
            return True
        args = node.get("args", [])
        return len(args) == 1 and _constant(args[0]) in _SAFE[name]
    if statement.kind == "SelectStmt":
        return _set_config(node)
    return None


def _set_config(node: dict[str, Any]) -> bool | None:
    """`SELECT [pg_catalog.]set_config('name', 'value', bool)` alone, as pg_dump writes it."""
    targets = node.get("targetList", [])
    if len(targets) != 1 or set(node) - {"targetList", "limitOption", "op"}:
        return None
    call = targets[0].get("ResTarget", {}).get("val", {}).get("FuncCall")
    if call is None:
        return None
    names = [part.get("String", {}).get("sval", "") for part in call.get("funcname", [])]
    args = call.get("args", [])
    if names not in (["set_config"], ["pg_catalog", "set_config"]) or len(args) != 3:
        return None
    setting = (_constant(args[0]) or "").lower()
    if setting not in _SAFE:
        return None
    return _constant(args[1]) in _SAFE[setting]


def _constant(node: dict[str, Any]) -> str | None:
    """A constant's text, lowered ('on', 'utf8', '1'); None for anything computed."""
    const = node.get("A_Const")
    if const is None:
        return None
    if "sval" in const:
        return str(const["sval"].get("sval", "")).lower()
    if "ival" in const:
        return str(const["ival"].get("ival", 0))
    if "boolval" in const:
        return "true" if const["boolval"].get("boolval") else "false"
    return None
