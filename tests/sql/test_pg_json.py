"""The parse tree as lint and migrate read it: libpg_query's own JSON bytes (sql.pg_json) and
msgspec's decoding of them (sql.tree_json) give exactly what pglast's parse_sql_json and
json.loads give, errors and the depth limit included; without the direct path, pglast's."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pglast import parser

from supamigrate.sql import pg_json
from supamigrate.sql.reading import read_sql
from supamigrate.sql.tree_json import decode

# Statements and pieces that stress the output: non-ASCII text in names, strings, comments
# and dollar quotes, escapes, control characters, numbers, deep nesting and broken SQL.
PIECE = st.sampled_from(
    [
        "select 1",
        "select 'ünï ☃ \U0001f600'",
        'create table "tâble" (id int primary key, "naïve" text default \'é\')',
        "select E'\\x01\\t\\n\\\\ \\u00e9'",
        "select $$ body ☃ $$",
        "select $é$ tagged $é$",
        "-- comment ☃\nselect 2",
        "/* é */ select 3",
        "select 1e308, -2.5, 99999999999999999999",
        "insert into t values (1, 'x'), (2, 'ÿ')",
        "select (((((((((1)))))))))",
        "select " + " + ".join(["1"] * 300),
        "selec 1",
        "select 'unterminated",
        "select U&'\\00e9' uescape '\\'",
        "",
    ]
)
FILE = st.lists(PIECE, min_size=1, max_size=5).map(";\n".join)


def _tree(sql: str) -> bytes | Exception:
    try:
        return pg_json.parse_json(sql, sql.encode("utf-8"))
    except parser.ParseError as exc:
        return exc


def _reference(sql: str) -> bytes | Exception:
    try:
        return parser.parse_sql_json(sql).encode("utf-8")
    except parser.ParseError as exc:
        return exc


def _same(got: bytes | Exception, expected: bytes | Exception) -> None:
    if isinstance(expected, Exception):
        assert isinstance(got, parser.ParseError) and got.args == expected.args
    else:
        assert got == expected


@settings(derandomize=True, max_examples=300, deadline=None)
@given(FILE)
@example("select 'é'")
@example("select " + " || ".join(["'a'"] * 2000))
def test_the_direct_tree_is_pglasts_and_decodes_as_json_does(sql: str) -> None:
    """Property: the bytes are parse_sql_json's UTF-8 (or the same ParseError), and msgspec
    decodes them to what json.loads makes, or both give up on the depth."""
    got, expected = _tree(sql), _reference(sql)
    _same(got, expected)
    if isinstance(got, bytes):
        try:
            reference = json.loads(got)
        except RecursionError:
            with pytest.raises(RecursionError):
                decode(got)
            return
        assert decode(got) == reference


@pytest.fixture
def fresh_parser() -> Iterator[None]:
    """pg_json chooses its path once per process: each test here chooses again."""
    saved = list(pg_json._parse)
    pg_json._parse.clear()
    yield
    pg_json._parse[:] = saved


def test_without_the_library_pglast_reads_the_same(
    fresh_parser: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_json, "_direct", lambda library: None)
    sql = "create table t (a int);\nselect 'ünï';\n"
    assert pg_json.parse_json(sql, sql.encode()) == parser.parse_sql_json(sql).encode()
    assert pg_json._parse == [pg_json._through_pglast]
    assert len(read_sql(sql).statements) == 2
    with pytest.raises(parser.ParseError):
        pg_json.parse_json("selec 1", b"selec 1")


def test_a_library_that_answers_otherwise_is_not_used(
    fresh_parser: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check at first use: a direct path whose tree differs from pglast's is dropped."""
    monkeypatch.setattr(pg_json, "_direct", lambda library: lambda sql, utf8: b"{}")
    sql = "select 1"
    assert pg_json.parse_json(sql, sql.encode()) == parser.parse_sql_json(sql).encode()
    assert pg_json._parse == [pg_json._through_pglast]


def test_the_direct_path_is_taken_here(fresh_parser: None) -> None:
    """On this platform (Linux, pglast's wheel) the library is reached directly: the speed
    the lint benchmark measures is this path's."""
    pg_json.prepare()
    assert pg_json._parse[0] is not pg_json._through_pglast


# Innermost values of different depths, so that the edge is met at every phase of the nesting.
_CORES = ("1", "-1", "1::int", "array[1]", "(select 1)", "f(g(1))")


def _nested(kind: str, depth: int) -> list[str]:
    if kind == "calls":
        return ["select " + "f(" * depth + core + ")" * depth for core in _CORES]
    if kind == "concat":
        return ["select " + " || ".join([core] * depth) for core in _CORES]
    return ["select " + "array[" * depth + core + "]" * depth for core in _CORES]


def _verdicts(sqls: list[str]) -> list[object]:
    return [read_sql(sql).error for sql in sqls] + [read_sql(s, lazy_rows=True).error for s in sqls]


@pytest.mark.parametrize("loaded", [True, False], ids=["msgspec", "before-msgspec"])
@pytest.mark.parametrize("kind", ["calls", "concat", "arrays"])
def test_the_too_deep_edge_is_json_loads_edge_whatever_came_before(kind: str, loaded: bool) -> None:
    """Around the depth where the tree stops decoding, a file is refused exactly where decoding
    with json.loads (the reader before msgspec) refuses it, and the same after deep files were
    read before it (an adversarial review saw msgspec's own edge move by a level or two); with
    msgspec loaded (a long run) and before (a small file is read by json.loads)."""

    from supamigrate.sql import tree_json

    saved = list(tree_json._decoder)
    tree_json._decoder.clear()
    if loaded:
        tree_json.prepare()
    try:
        _check_the_edge(kind)
    finally:
        tree_json._decoder[:] = saved


def _check_the_edge(kind: str) -> None:
    from unittest import mock

    from supamigrate.sql import reading

    step = {"calls": 3, "concat": 2, "arrays": 3}[kind]
    edge = [sql for depth in range(940 // step, 1040 // step) for sql in _nested(kind, depth)]
    with mock.patch.object(reading, "decode", json.loads):  # json.loads, called as before
        expected = _verdicts(edge)
    assert any(expected) and not all(expected)  # the range spans the edge
    assert _verdicts(edge) == expected
    for depth in range(850 // step, 980 // step, 7):  # deep trees read first
        read_sql(_nested(kind, depth)[0])
    assert _verdicts(edge) == expected
