"""libpg_query's JSON parse tree as UTF-8 bytes, from the C library pglast bundles.

pglast's `parse_sql_json` hands the tree back as a Python string. For a file with non-ASCII
text that string is a wide one (two or four bytes a character) decoded from the library's
UTF-8, which the JSON decoder then encodes back to UTF-8: on a 25 MB tree, tens of ms spent
twice on nothing, and every search on it (sql.lean) slower. So we call the function pglast's
parser itself calls, `pg_query_parse` (libpg_query's public C API, exported by pglast's parser
module; its result struct is the same in every libpg_query since 2015), and keep the bytes.

Checked once per process: a small statement with non-ASCII text must give exactly what
`parse_sql_json` gives. Where the library cannot be reached this way (a pglast built without
exported symbols, another platform) or the check fails, `parse_sql_json(...).encode()`. A
statement that does not parse goes through pglast too, for its ParseError, message and
position.
"""

from __future__ import annotations

from collections.abc import Callable

_PROBE = "select 'ünï ☃' as \"é\", 1; create table t (a int primary key)"
_parse: list[Callable[[str, bytes], bytes | None]] = []


def parse_json(sql: str, utf8: bytes) -> bytes:
    """The JSON parse tree of `sql` (whose UTF-8 is `utf8`); pglast's ParseError if it does
    not parse."""
    if not _parse:
        prepare()
    tree = _parse[0](sql, utf8)
    if tree is None:  # a syntax error: pglast raises it with its message and position
        from pglast import parser

        return parser.parse_sql_json(sql).encode("utf-8")
    return tree


def prepare() -> None:
    """Reach the library now (lint.parallel: once, before forking)."""
    if _parse:
        return
    from pglast import parser

    direct = _direct(parser.__file__)
    fits = direct is not None and direct(_PROBE, _PROBE.encode()) == _through_pglast(_PROBE, b"")
    _parse.append(direct if direct is not None and fits else _through_pglast)


def _through_pglast(sql: str, utf8: bytes) -> bytes | None:
    from pglast import parser

    return parser.parse_sql_json(sql).encode("utf-8")


def _direct(library: str | None) -> Callable[[str, bytes], bytes | None] | None:
    import ctypes  # here: a command that never parses does not load it

    class _Result(ctypes.Structure):  # PgQueryParseResult (pg_query.h)
        _fields_ = [
            ("parse_tree", ctypes.c_void_p),
            ("stderr_buffer", ctypes.c_void_p),
            ("error", ctypes.c_void_p),
        ]

    try:
        lib = ctypes.CDLL(library)
        parse, free = lib.pg_query_parse, lib.pg_query_free_parse_result
    except (OSError, AttributeError, TypeError):
        return None
    parse.restype, parse.argtypes = _Result, [ctypes.c_char_p]
    free.restype, free.argtypes = None, [_Result]

    def direct(sql: str, utf8: bytes) -> bytes | None:
        result = parse(utf8)
        try:
            if result.error or not result.parse_tree:
                return None
            return ctypes.string_at(result.parse_tree)
        finally:
            free(result)

    return direct
