"""The whole-file reading: nothing quoted hides or fakes a top-level statement; lines are right."""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from supamigrate.sql.reading import (
    no_transaction_only,
    psql_meta_command,
    read_sql,
    transaction_control,
)

# Text that would be dangerous if a reader mistook it for SQL: transaction words, quote and
# comment openers, escapes, line breaks and non-ASCII letters.
PIECES = st.sampled_from(
    [
        "commit;",
        "begin;",
        "\ncommit;\n",
        "rollback;",
        "end;",
        "savepoint s;",
        "'",
        '"',
        "\\",
        "\\'",
        "$$",
        "$q$",
        "--",
        "/*",
        "*/",
        ";",
        "\n",
        " ",
        "atomic",
        "é",
        "☃",
        "\\set x 1\n",
        "x",
    ]
)
CONTENT = st.lists(PIECES, max_size=12).map("".join)


def _quoted(kind: str, content: str) -> str:
    """A statement whose only non-trivial part is `content` inside one kind of quoting."""
    if kind == "string":
        return "select '" + content.replace("'", "''") + "'"
    if kind == "escape":
        return "select E'" + content.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if kind == "dollar":
        assume("$q$" not in content and not content.endswith("$"))
        return "select $q$" + content + "$q$"
    if kind == "line_comment":
        return "select 1 -- " + content.replace("\n", " ") + "\n"
    if kind == "block_comment":
        assume("/*" not in content and "*/" not in content and not content.endswith("*"))
        assume(not content.endswith("/"))
        return "select /* " + content + " */ 1"
    if kind == "identifier":
        assume(content.strip("\n") != "" and len(content.encode()) < 60)
        return 'select 1 as "' + content.replace('"', '""') + '"'
    if kind == "function":
        assume("$q$" not in content and not content.endswith("$"))
        return (
            "create function f() returns void language plpgsql as $q$ begin "
            + "perform 1; -- "
            + content.replace("\n", " ")
            + "\n end $q$"
        )
    raise AssertionError(kind)


KINDS = st.sampled_from(
    ["string", "escape", "dollar", "line_comment", "block_comment", "identifier", "function"]
)


@settings(max_examples=400, deadline=None)
@given(kind=KINDS, content=CONTENT)
def test_quoted_content_never_hides_or_fakes_a_transaction_statement(
    kind: str, content: str
) -> None:
    """Quoted or commented text never counts, and a real COMMIT after it is still found."""
    statement = _quoted(kind, content)
    quiet = read_sql(statement + ";\nselect 2;\n")
    assert quiet.error is None, (statement, quiet.error)
    assert [s.kind for s in quiet.statements][-1] == "SelectStmt"
    assert len(quiet.statements) == 2
    assert transaction_control(quiet) is None
    assert psql_meta_command(statement + ";\n") is None

    loud = statement + ";\ncommit;\nselect 1/0;\n"
    found = transaction_control(read_sql(loud))
    assert found is not None
    assert found.text == "COMMIT"
    assert found.line == statement.count("\n") + 2


PREFIXES = st.lists(
    st.sampled_from(
        [
            "-- é comment ☃\n",
            "/* multi\nline é */ ",
            "select 'ü\nü';\n",
            'select 1 as "日本";\n',
            "select $x$ \n commit; \n$x$;\n",
            "\n",
            "   ",
            "select E'it\\'s\\n';\n",
        ]
    ),
    max_size=8,
).map("".join)
TX_STATEMENTS = st.sampled_from(
    [
        ("begin", "BEGIN"),
        ("start transaction", "START TRANSACTION"),
        ("COMMIT", "COMMIT"),
        ("end", "COMMIT"),
        ("rollback", "ROLLBACK"),
        ("abort", "ROLLBACK"),
        ("savepoint a", "SAVEPOINT"),
        ("release savepoint a", "RELEASE"),
        ("rollback to savepoint a", "ROLLBACK TO"),
        ("prepare transaction 'x'", "PREPARE TRANSACTION"),
        ("commit prepared 'x'", "COMMIT PREPARED"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(prefix=PREFIXES, statement=TX_STATEMENTS)
def test_transaction_statement_found_on_its_line(prefix: str, statement: tuple[str, str]) -> None:
    """Every form of transaction control is found, at the line of its first keyword."""
    sql, word = statement
    found = transaction_control(read_sql(prefix + sql + ";\nselect 1;"))
    assert found is not None
    assert found.text == word
    assert found.line == prefix.count("\n") + 1


@settings(max_examples=300, deadline=None)
@given(prefixes=st.lists(PREFIXES, min_size=1, max_size=5))
def test_lines_and_offsets_point_at_each_first_keyword(prefixes: list[str]) -> None:
    """After non-ASCII text, each statement's offset and line still name its first keyword."""
    sql, expected = "", []
    for number, prefix in enumerate(prefixes):
        sql += prefix
        expected.append((len(sql), sql.count("\n") + 1))
        sql += f"create table t{number} (a int);\n"
    reading = read_sql(sql)
    marked = [s for s in reading.statements if s.kind == "CreateStmt"]
    assert [(s.start, s.line) for s in marked] == expected
    assert [s.text for s in marked] == [f"create table t{n} (a int)" for n in range(len(prefixes))]


def test_escape_string_with_escaped_quote_does_not_hide_commit() -> None:
    """The known hole: an E'' string with \\' before a top-level COMMIT."""
    found = transaction_control(read_sql("select E'it\\'s'; commit; select 1/0;"))
    assert found is not None and found.text == "COMMIT"


def test_identifier_starting_with_atomic_does_not_hide_commit() -> None:
    """The known hole: an identifier beginning with `atomic` is just an identifier."""
    sql = "create table atomic_log (a int);\ncommit;\n"
    found = transaction_control(read_sql(sql))
    assert found is not None and found.line == 2


def test_begin_atomic_body_is_not_transaction_control() -> None:
    """A SQL-standard function body's BEGIN ATOMIC ... END is part of the function."""
    sql = (
        "create function f() returns int language sql\n"
        "begin atomic\n  select 1;\n  select 2;\nend;\nselect f();\n"
    )
    reading = read_sql(sql)
    assert reading.error is None
    assert transaction_control(reading) is None
    assert [s.line for s in reading.statements] == [1, 6]


def test_do_block_commit_is_not_top_level() -> None:
    """COMMIT inside a DO block is procedure code, not a statement of the file."""
    assert transaction_control(read_sql("do $$ begin commit; end $$;")) is None


def test_commit_before_a_syntax_error_is_still_found() -> None:
    """psql runs a broken file up to its error, so a COMMIT before the error still counts."""
    reading = read_sql("select 1;\ncommit;\nselect 'a;b';\nselec 2;\n")
    assert reading.error is not None and reading.error.line == 4
    found = transaction_control(reading)
    assert found is not None and found.line == 2


def test_syntax_error_line_counts_non_ascii_characters() -> None:
    """The error's line is right after multi-byte characters."""
    reading = read_sql("select '☃☃☃';\n-- é\nselect from from;\n")
    assert reading.error is not None and reading.error.line == 3


def test_large_non_ascii_file_reads_every_statement() -> None:
    """A few MB of non-ASCII statements read in one pass, with the last line right."""
    sql = "insert into t values ('héllo wörld ☃', 1);\n" * 50_000
    reading = read_sql(sql)
    assert len(reading.statements) == 50_000
    last = reading.statements[-1]
    assert last.line == 50_000 and sql[last.start :].startswith("insert")


@pytest.mark.parametrize(
    ("sql", "line", "word"),
    [
        ("select 1;\n\\set x 1\nselect :x;\n", 2, "\\set"),
        ("\\i other.sql\n", 1, "\\i"),
        ("select 1;\n  \\connect other\n", 2, "\\connect"),
        ("select 1 \\gset\n", 1, "\\gset"),
        ("\\! rm -rf /\n", 1, "\\!"),
        ("selec 1;\nselect 'x';\n\\o out.txt\n", 3, "\\o"),
    ],
)
def test_psql_meta_commands_are_found(sql: str, line: int, word: str) -> None:
    """A backslash command outside quotes is found with its line, even after a syntax error."""
    found = psql_meta_command(sql)
    assert found is not None
    assert (found.line, found.text) == (line, word)


@pytest.mark.parametrize(
    "sql",
    [
        "select '\\set x';\n",
        "select $$\n\\i x\n$$;\n",
        "-- \\connect other\nselect 1;\n",
        "/*\n\\! ls\n*/ select 1;\n",
        'select 1 as "\\gset";\n',
        "select E'\\\\';\n",
    ],
)
def test_backslashes_inside_quotes_or_comments_are_not_meta_commands(sql: str) -> None:
    """A backslash inside a string, dollar quote, comment or identifier is just text."""
    assert psql_meta_command(sql) is None


# Each statement Postgres refuses inside a transaction block, with the setup it needs.
OUTSIDE_ONLY = [
    ("create index concurrently t_a on t (a)", ""),
    ("drop index concurrently t_b", "create index t_b on t (a)"),
    ("reindex table concurrently t", ""),
    ("reindex (concurrently) table t", ""),
    ("reindex schema public", ""),
    ("vacuum t", ""),
    ("vacuum full t", ""),
    ("cluster", ""),
    ("discard all", ""),
    ("alter system set work_mem = '4MB'", ""),
    ("create database never_made", ""),
    ("drop database never_made", ""),
    ("create tablespace never_made location '/nowhere'", ""),
    (
        "alter table p detach partition p1 concurrently",
        "create table p (a int) partition by list (a);"
        "create table p1 partition of p for values in (1)",
    ),
]
INSIDE_OK = [
    "create index t_c on t (a)",
    "drop index if exists t_missing",
    "reindex table t",
    "analyze t",
    "cluster t using t_pkey",
    "discard temp",
    "alter type mood add value 'meh'",
    "create table u (a int)",
]


@pytest.mark.parametrize(("sql", "setup"), OUTSIDE_ONLY)
def test_statements_refused_in_a_transaction_block_are_listed(
    cur: Any, sql: str, setup: str
) -> None:
    """The server refuses each listed statement inside BEGIN, and the reading lists it."""
    assert [found.line for found in no_transaction_only(read_sql("\n" + sql))] == [2]
    cur.execute("create table t (a int primary key)")
    if setup:
        cur.execute(setup)
    cur.execute("begin")
    with pytest.raises(psycopg2.errors.ActiveSqlTransaction):
        cur.execute(sql)
    cur.execute("rollback")


@pytest.mark.parametrize("sql", INSIDE_OK)
def test_statements_allowed_in_a_transaction_block_are_not_listed(cur: Any, sql: str) -> None:
    """These run inside BEGIN on the server, and the reading does not list them."""
    assert no_transaction_only(read_sql(sql)) == []
    cur.execute("create table t (a int primary key); create type mood as enum ('ok')")
    cur.execute("begin")
    cur.execute(sql)
    cur.execute("rollback")


SCAN_PIECES = st.sampled_from(
    [
        "$é$",
        "$ü$",
        "$z$",
        "$aé$",
        "é",
        "☃",
        "\u00a0",
        "x",
        "z",
        "E",
        "b",
        "n",
        "U&",
        "'",
        "''",
        '"',
        "$",
        "$é$",
        "1",
        " ",
        "\n",
        ";",
        "\\",
        "--",
        "/*",
        "*/",
        "select",
        "zone",
        "(",
        ")",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(SCAN_PIECES, max_size=24).map("".join))
def test_linear_scan_finds_pglast_scanner_boundaries(sql: str) -> None:
    """reading.scan reads non-ASCII as `z` to stay linear: the same tokens at the same places."""
    from pglast import parser

    from supamigrate.sql.reading import scan

    try:
        expected = [(t.start, t.end) for t in parser.scan(sql)]
    except parser.ParseError:
        with pytest.raises(parser.ParseError):
            scan(sql)
        return
    assert [(t.start, t.end) for t in scan(sql)] == expected


def test_an_expression_too_deep_for_the_json_reader_is_a_refusal_not_a_crash() -> None:
    sql = "insert into t (s) values (" + " || ".join(["'a'"] * 2000) + ");\n"
    reading = read_sql(sql)
    assert reading.error is not None and "nested too deeply" in reading.error.message
