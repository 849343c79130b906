"""Lint's lean reading (sql.lean): INSERT ... VALUES rows decoded on first use, nothing else
different from the whole reading, and a file too deep to decode still refused."""

from __future__ import annotations

import os

from hypothesis import example, given, settings
from hypothesis import strategies as st

from supamigrate.lint import lint_files
from supamigrate.sql.lean import Rows
from supamigrate.sql.reading import Reading, read_sql

MANY = 2000 if os.environ.get("SUPAMIGRATE_LONG") else 150

# Values that stress the cut: brackets and quotes inside strings, escapes that make a bracket
# in the decoded text (E'\x7d', U&'\007D' with and without UESCAPE), arrays, casts, calls,
# sub-selects, NULL, non-ASCII text and a deep expression near and past the reader's limit.
VALUE = st.sampled_from(
    [
        "1",
        "-2.5",
        "null",
        "true",
        "'plain'",
        "'}]}]'",
        '\'{"a": [1, {"b": "}"}]}\'::jsonb',
        "'{1,2}'::int[]",
        "array[1, 2]",
        "E'\\x7d\\x5d\\u007d'",
        "U&'\\007D\\005D'",
        "U&'!007D!005D' uescape '!'",
        "'ünï ☃ \\'",
        '$$ ]}" $$',
        "now()",
        "(select max(id) from t)",
        "'a' || 'b'",
        "(" + " + ".join(["1"] * 150) + ")",
        "(" + " + ".join(["1"] * 2000) + ")",
        "'status_new'",
    ]
)
ROW = st.lists(VALUE, min_size=1, max_size=4).map(lambda values: "(" + ", ".join(values) + ")")
TAIL = st.sampled_from(
    ["", " on conflict do nothing", " returning id", " order by 1", " offset 1", " limit 2"]
)
INSERT = st.builds(
    lambda head, rows, tail: f"{head} values {', '.join(rows)}{tail}",
    st.sampled_from(
        [
            "insert into public.t",
            "insert into t (a, b)",
            "with w as (select 1) insert into t (a, a)",
            "insert into t overriding system value",
        ]
    ),
    st.lists(ROW, min_size=1, max_size=5),
    TAIL,
)
OTHER = st.sampled_from(
    [
        "create table t (id int primary key, a text, b jsonb default '{}')",
        "alter type public.status add value 'status_new'",
        "insert into t select 1",
        "insert into t default values",
        'select \'{"stmt":{"InsertStmt":{"relation":\'',
        "-- a comment ]}",
    ]
)
FILE = st.lists(st.one_of(INSERT, OTHER), min_size=1, max_size=6).map(
    lambda statements: ";\n".join(statements) + ";\n"
)


def _same(lean: Reading, whole: Reading) -> None:
    assert lean.error == whole.error
    assert len(lean.statements) == len(whole.statements)
    for got, expected in zip(lean.statements, whole.statements, strict=True):
        assert got == expected  # Rows compare by their decoded rows


@settings(derandomize=True, max_examples=MANY, deadline=None)
@given(FILE)
@example("insert into t (s) values (" + " || ".join(["'a'"] * 2000) + ");\n")
@example("insert into t values ('x'), (" + " || ".join(["'a'"] * 2000) + ");\n")
@example("insert into t values ('a'), ('b') order by 1;\ninsert into t values (1)")
@example(  # an adversarial review's: an INSERT's rows inside a column subscript's sub-select
    "insert into t (a[(with x as (insert into u values (1) returning 1) select 1)]) values (2);"
)
def test_the_lean_reading_is_the_whole_reading(sql: str) -> None:
    """Property: what lint reads equals what migrate reads: the same statements, the same
    trees once the rows are read, the same refusal of a tree too deep to decode."""
    _same(read_sql(sql, lazy_rows=True), read_sql(sql))


def test_plain_values_rows_are_left_undecoded_until_read() -> None:
    sql = "insert into t (a) values (1), ('x');\ninsert into t (a) values (2);\n"
    statements = read_sql(sql, lazy_rows=True).statements
    rows = [s.node["selectStmt"]["SelectStmt"]["valuesLists"] for s in statements]
    assert all(isinstance(r, Rows) and r._text is not None for r in rows)
    assert len(rows[0]) == 2 and rows[0]._text is None  # read on first use
    assert rows[0][1]["List"]["items"][0]["A_Const"]["sval"]["sval"] == "x"


def test_an_enum_value_used_in_values_is_still_found() -> None:
    """The rule that walks later statements reads the rows: they are decoded for it."""
    sql = (
        "alter type public.status add value 'late';\n"
        "insert into public.t (s) values ('early'), ('late');\n"
    )
    rules = {finding.rule for finding in lint_files([("1.sql", sql)])}
    assert "enum-value-used-in-same-migration" in rules
