"""`migrate --dry` shows what a person can read: per file its statement count as the history
row will store them, its first and last statements, kinds, and pre-flight's finding; never
every statement of a big file, and never anything executed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supamigrate.connect.db import session
from supamigrate.project.files import MigrationFile
from supamigrate.run.preview import EDGE, KINDS, FilePreview, kind_of
from supamigrate.sql.sqlsplit import split_statements, statements_text

POOL = [
    "create table public.t{n} (id int primary key, note text default 'a;b')",
    "insert into public.t{n} values ({n}, $$x; y$$)",
    "-- a comment before it\nalter table public.t{n} add column c{n} int",
    "create or replace function public.f{n}() returns int language sql as $$ select {n} $$",
    "do $$ begin perform {n}; end $$",
    "comment on table public.t{n} is 'it''s {n}'",
    "create index if not exists i{n} on public.t{n} (id)",
    "/* block */ select {n}",
]


def _file(sql: str) -> MigrationFile:
    return MigrationFile("20250101000001", "m", Path("20250101000001_m.sql"), sql, "001_m")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(POOL), min_size=1, max_size=40), st.booleans())
def test_the_preview_is_bounded_and_tells_the_truth(picked: list[str], marker: bool) -> None:
    sql = ("-- supamigrate:no-transaction\n" if marker else "") + "".join(
        template.format(n=n) + ";\n" for n, template in enumerate(picked)
    )
    preview = FilePreview.of(_file(sql))
    lines = preview.lines()
    statements = split_statements(sql)
    count = len(statements_text(sql))
    assert f": {count:,} statement(s)" in lines[0]
    assert ("OUTSIDE a transaction" in lines[0]) is marker
    assert len(lines) <= 1 + 2 * EDGE + 1 + 2  # header, statements, gap, kinds, pre-flight
    shown = statements if count <= 2 * EDGE + 1 else statements[:EDGE] + statements[-EDGE:]
    for statement in shown:  # each shown by its first line of code, at that line
        text_lines = statement.text.split("\n")
        lead = next(i for i, x in enumerate(text_lines) if not x.startswith("--"))
        first = text_lines[lead].removeprefix("/* block */ ")
        line = statement.line  # the split gives a statement its first token's line
        assert line == sql.count("\n", 0, sql.index(first, statement.start)) + 1
        assert f"    line {line}: {first}" in [x.removesuffix(" ...") for x in lines]
    if count > 2 * EDGE + 1:
        assert f"    ... {count - 2 * EDGE:,} statement(s) not shown ..." in lines
    assert sum(preview.kinds.values()) == count
    assert len(preview.kinds.most_common(KINDS)) <= KINDS
    assert preview.json()["statements"] == count


def test_kinds_read_past_comments_and_modifiers() -> None:
    def kind(text: str) -> str:
        (statement,) = split_statements(text)
        return kind_of(statement)

    assert kind("-- why\n-- more\nCREATE UNIQUE INDEX i ON t (a)") == "create index"
    assert kind("create or replace function f() returns int language sql as 'select 1'") == (
        "create function"
    )
    assert kind("insert into t values (1)") == "insert"
    assert kind("/* c */ select 1") == "select"  # past a block comment too
    assert kind("\x85select 1") == "select"  # a Unicode blank the CLI's trim keeps


_LEADS = ["", "-- c\n", "/* c */", " ", "\x85", "\u2028", "-", "/"]
_HEADS = ["create unique index i", "CREATE OR REPLACE view v", "alter table t", "x", "1", "(", ""]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_LEADS), max_size=4), st.sampled_from(_HEADS))
def test_a_kind_is_read_from_the_first_words_past_any_lead(leads: list[str], head: str) -> None:
    """kind_of's shortcuts (no lead to skip, first words seen before) name the kind that the
    first words past sqlsplit.code_of's lead give."""
    from supamigrate.run.preview import _WORDS, _kind
    from supamigrate.sql.sqlsplit import Statement, code_of

    text = "".join(leads) + head
    words = _WORDS.match(code_of(text))
    expected = "other" if words is None else _kind(words.group(1))
    assert kind_of(Statement(text, 0, 1)) == expected
    assert kind_of(Statement(text, 0, 1)) == expected  # (the second time from what it knows)


def test_dry_run_of_a_big_file_prints_a_few_lines_and_applies_nothing(project: Any) -> None:
    rows = "".join(f"insert into public.applied values ({n});\n" for n in range(1, 1001))
    project.write("001_big.sql", "create table public.applied (n int);\n" + rows)
    dry = project.invoke("migrate", "--dry")
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout
    assert "1,001 statement(s)" in out and "in one transaction" in out
    assert "line 1: create table public.applied (n int)" in out
    assert "line 1001: insert into public.applied values (1000)" in out
    assert "... 995 statement(s) not shown ..." in out
    assert "by kind: 1,000 insert, 1 create table" in out
    assert "no transaction control" in out
    assert len(out.splitlines()) < 25
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.applied')")
        assert cur.fetchone() == (None,)
    doc = json.loads(project.invoke("migrate", "--dry", "--json").stdout)
    (entry,) = doc["dry_run"]
    assert entry["statements"] == 1001 and entry["kinds"] == {"insert": 1000, "create table": 1}
