"""Pre-flight's fast pass (skim) gives the whole-file reading's answer, and big files use it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supamigrate.errors import UsageError
from supamigrate.project.files import MigrationFile
from supamigrate.run.file_checks import _ALONGSIDE, check_files
from supamigrate.sql.reading import (
    SyntaxProblem,
    copies_through_client,
    has_no_transaction_marker,
    no_transaction_only,
    prepares_transaction,
    read_sql,
    transaction_control,
)
from supamigrate.sql.skim import (
    _kind_is_plain,
    _refusable,
    needs_whole_reading,
    top_level_statements,
)
from supamigrate.sql.sqlsplit import _split_cached, as_sent, statements_text

# Statements pre-flight refuses in a transactional file (and COPY with STDIN/STDOUT anywhere).
REFUSED = [
    "begin",
    "START TRANSACTION",
    "commit",
    "end",
    "rollback",
    "abort",
    "savepoint s",
    "release s",
    "prepare transaction 'x'",
    "commit prepared 'x'",
    "create index concurrently t_a on t (a)",
    "create unique index concurrently t_u on t (a)",
    "drop index concurrently t_b",
    "reindex table concurrently t",
    "reindex schema public",
    "vacuum t",
    "cluster",
    "discard all",
    "alter system set work_mem = '4MB'",
    "create database d",
    "drop database d",
    "create tablespace s location '/x'",
    "drop tablespace s",
    "alter table p detach partition p1 concurrently",
    "alter database d set tablespace s",
    "copy t from stdin",
    "copy t to stdout",
    "copy (select 1) to stdout",
    "create\tindex\nconcurrently t_e on t (a)",
    "alter table p detach partition p1 concurrently",
    "alter database d set tablespace s",
    "alter system reset all",
]
# Statements it never refuses, several with a first word the skim must still parse.
ALLOWED = [
    "insert into t (a) values (1), (2)",
    "with x as (select 1) insert into t select * from x",
    "update t set a = 2 where a = 1",
    "delete from t where a = 3",
    "select 'commit; begin', $$ vacuum $$, E'\\'; end'",
    "values (1)",
    "table t",
    "(select 1)",
    "grant select on t to anon",
    "revoke all on t from anon",
    "comment on table t is 'commit'",
    "create table u (a int, b text default 'begin')",
    "create or replace function f() returns int language sql begin atomic select 1; end",
    "create function g() returns void language plpgsql as $$ begin commit; end $$",
    "create policy p on t for select using (true)",
    "create view v as select 1",
    "create temp table tt (a int)",
    "create unlogged table ut (a int)",
    "create materialized view mv as select 1",
    "create schema s create table s.x (a int)",
    "create index t_c on t (a)",
    "create unique index t_d on t (a)",
    "drop table if exists u",
    "drop index if exists t_c",
    "drop function if exists f()",
    "alter table t add column c int",
    "reindex table t",
    "analyze t",
    "cluster t using t_pkey",
    "discard temp",
    "do $$ begin perform 1; end $$",
    "do language plpgsql $$ begin commit; end $$",
    "alter table t set tablespace s",
    "alter table p detach partition p1",
    "alter table p detach partition p1 finalize",
    "create index t_f on t (a) tablespace s",
    "alter index t_c rename to t_database",
    "drop trigger if exists system_touch on t",
    "copy t from '/tmp/x'",
    "copy t to program 'cat'",
    "set lock_timeout = '1s'",
    "notify x",
]
SEPARATORS = [";\n", ";", " ;\n-- a comment; begin\n", ";\n/* commit; /* nested */ */ ", ";;\n"]
BROKEN = ["selec 1", "insert into", "create table (", "commit; select '", "\\set x 1\n"]
MARKER = "-- supamigrate:no-transaction\n"


def whole_reading_refuses(sql: str) -> bool | int:
    """What pre-flight decides from the whole-file reading (the slow, exact path): refused or
    not, or the line of the syntax error."""
    reading = read_sql(sql)
    if reading.error is not None:
        return reading.error.line
    if any(copies_through_client(statement) for statement in reading.statements):
        return True
    if reading.no_transaction:  # PREPARE TRANSACTION is refused there too
        return prepares_transaction(reading) is not None
    return transaction_control(reading) is not None or bool(no_transaction_only(reading))


def skim_refuses(sql: str) -> bool | int:
    statements = top_level_statements(sql)
    if isinstance(statements, SyntaxProblem):
        return statements.line
    return needs_whole_reading(statements, no_transaction=has_no_transaction_marker(sql))


def _case(text: str, flips: list[bool]) -> str:
    """`text` with the case of some ASCII letters flipped (keywords fold case)."""
    return "".join(
        c.swapcase() if c.isascii() and flips[i % len(flips)] else c for i, c in enumerate(text)
    )


STATEMENTS = st.sampled_from(REFUSED + ALLOWED + BROKEN)
FILES = st.tuples(
    st.booleans(),
    st.lists(st.tuples(STATEMENTS, st.sampled_from(SEPARATORS)), min_size=1, max_size=6),
    st.lists(st.booleans(), min_size=1, max_size=7),
)


@settings(max_examples=400, deadline=None)
@given(FILES)
def test_skim_and_whole_reading_refuse_the_same_files(
    made: tuple[bool, list[tuple[str, str]], list[bool]],
) -> None:
    marker, parts, flips = made
    sql = (MARKER if marker else "") + "".join(_case(s, flips) + sep for s, sep in parts)
    assert skim_refuses(sql) == whole_reading_refuses(sql), sql


WHITESPACE = st.sampled_from([" ", "  ", "\n", "\t", "\r\n", "\f", "\v", " /* c */ ", "\n-- c\n"])


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(REFUSED + ALLOWED), WHITESPACE, st.lists(st.booleans(), min_size=1))
def test_statements_taken_as_plain_by_their_first_words_are_never_refusable(
    statement: str, space: str, flips: list[bool]
) -> None:
    """Whatever spacing, comment or case sits between the first two words, a statement the
    skim does not parse is one whose own parse tree pre-flight would not refuse."""
    first, _, rest = statement.partition(" ")
    text = _case(first, flips) + (space + _case(rest, flips) if rest else "")
    statements = top_level_statements(text)
    assert not isinstance(statements, SyntaxProblem), text
    (cut,) = statements
    if _kind_is_plain(cut):
        assert not _refusable(cut, no_transaction=False), text


@pytest.mark.parametrize("statement", REFUSED)
def test_every_refused_statement_is_parsed_not_skimmed(statement: str) -> None:
    assert not _kind_is_plain(statement)
    assert skim_refuses(statement + ";")


def _big_file(line_of_problem: int | None, problem: str = "commit;") -> str:
    lines = [
        f"insert into public.t (id, note) values ({n}, 'é; commit; ☃ {n}');"
        for n in range(_ALONGSIDE // 40)
    ]
    if line_of_problem is not None:
        lines[line_of_problem - 1] = problem
    return "\n".join(lines) + "\n"


def _migration(sql: str) -> MigrationFile:
    return MigrationFile("20250101000000", "big", Path("20250101000000_big.sql"), sql, "big")


@pytest.mark.parametrize(
    ("problem", "said"),
    [
        ("commit;", "`COMMIT` controls the transaction"),
        ("create index concurrently i on public.t (id);", "`CREATE INDEX CONCURRENTLY` cannot"),
        ("copy public.t from stdin;", "COPY ... FROM STDIN"),
        ("insert into public.t values (1, 'x';", "syntax error"),
    ],
)
def test_a_big_file_is_refused_with_the_line_of_its_problem(problem: str, said: str) -> None:
    sql = _big_file(20_001, problem)
    assert len(sql) > _ALONGSIDE
    with pytest.raises(UsageError) as refused:
        check_files([_migration(sql)])
    assert "line 20001" in str(refused.value) and said in str(refused.value)


def test_a_clean_big_file_passes_and_is_split_for_the_run_once() -> None:
    sql = _big_file(None)
    _split_cached.cache_clear()
    check_files([_migration(sql)])
    assert _split_cached.cache_info().misses == 1  # the split made alongside the parse
    rows = statements_text(sql)
    assert _split_cached.cache_info().hits == 1 and len(rows) == sql.count("\n")
    assert rows[0] == "insert into public.t (id, note) values (0, 'é; commit; ☃ 0')"


@pytest.mark.parametrize(
    "sql",
    [
        "alter table t rename to user\xa0;\n",  # pglast's split strips U+00A0: then USER
        "alter table t rename column a to from\u3000;\n",
        "drop index concurrently\xa0;\n",  # an index named concurrently<U+00A0>
        "vacuum select\xa0",
        "alter table t add constraint c check (" + "+".join(["a"] * 100_000) + " > 0);\n",
        "create index concurrently i on t ((" + "+".join(["a"] * 100_000) + "));\n",
    ],
    ids=["user", "from", "concurrently", "vacuum", "deep", "deep-concurrently"],
)
def test_what_the_skim_cannot_reparse_goes_to_the_whole_reading(sql: str) -> None:
    """Found by an adversarial review: the skim crashed on these; now it hands them over (or
    its first words and the absence of every keyword that could make it refusable already
    tell: `alter table` without CONCURRENTLY), and pre-flight refuses only what the whole
    reading refuses. The one difference: a statement too deep for the whole reading to build
    its tree, whose kind its words already prove safe, is not refused for that. The blank
    after `user` and the like the CLI trims off before it sends the statement (as_sent): what
    the server then gets does not parse, and pre-flight says so."""
    statements = top_level_statements(as_sent(sql))
    if isinstance(statements, SyntaxProblem):
        assert as_sent(sql) != sql
        with pytest.raises(UsageError, match="syntax error"):
            check_files([_migration(sql)])
        return
    skimmed = not needs_whole_reading(statements, no_transaction=False)
    refused = whole_reading_refuses(sql)
    try:
        check_files([_migration(sql)])
    except UsageError:
        assert refused and not skimmed
    else:
        problem = read_sql(sql).error
        too_deep = problem is not None and any(
            words in problem.message for words in ("nested too deeply", "stack depth")
        )
        assert not refused or (skimmed and too_deep)
