"""lint: every rule flags its hazard and stays quiet on the safer rewrite; Postgres agrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers.catalog import writes_anew
from helpers.tenancy import shipped_sources
from supamigrate.executors.trace import MODES
from supamigrate.lint import (
    RULES,
    Level,
    github_annotations,
    has_errors,
    human_lines,
    lint_files,
    lint_sql,
    to_json,
)
from supamigrate.lint.exclusive import access_exclusive_tables
from supamigrate.sql.reading import read_sql

NO_TX = "-- supamigrate:no-transaction\n"
ROOT = Path(__file__).resolve().parents[2]

# (rule, hazardous SQL, safer rewrite). Tables not created in the snippet (t, u) are assumed
# to hold data, as a table created by an earlier migration would.
CASES = [
    ("syntax-error", "selec 1;", "select 1;"),
    ("transaction-control", "begin;\nselect 1;\ncommit;", "select 1;"),
    ("psql-meta-command", "\\set x 1\nselect 1;", "select '\\set x 1';"),
    (
        "requires-no-transaction",
        "create index concurrently i on t (a);",
        NO_TX + "create index concurrently i on t (a);",
    ),
    (
        "require-concurrent-index-creation",
        "create index i on t (a);",
        NO_TX + "create index concurrently i on t (a);",
    ),
    (
        "require-concurrent-index-deletion",
        "drop index i;",
        NO_TX + "drop index concurrently i;",
    ),
    (
        "adding-field-with-default",
        "alter table t add column c uuid default gen_random_uuid();",
        "alter table t add column c timestamptz default now();",
    ),
    (
        "table-rewrite",
        "alter table t set unlogged;",
        "create table t2 (like t including all);\nalter table t2 set unlogged;",
    ),
    (
        "adding-not-nullable-field",
        "alter table t add column c int not null;",
        "alter table t add column c int not null default 0;",
    ),
    (
        "changing-column-type",
        "alter table t alter column a type bigint;",
        "alter table t alter column v type text;",
    ),
    (
        "adding-foreign-key-constraint",
        "alter table t add constraint f foreign key (a) references u (id);",
        "alter table t add constraint f foreign key (a) references u (id) not valid;",
    ),
    (
        "constraint-missing-not-valid",
        "alter table t add constraint c check (a > 0);",
        "alter table t add constraint c check (a > 0) not valid;",
    ),
    (
        "constraint-validated-in-same-transaction",
        "alter table t add constraint c check (a > 0) not valid;\n"
        "alter table t validate constraint c;",
        NO_TX + "alter table t add constraint c check (a > 0) not valid;\n"
        "alter table t validate constraint c;",
    ),
    (
        "disallowed-unique-constraint",
        "alter table t add constraint k unique (a);",
        "alter table t add constraint k unique using index i;",
    ),
    ("ban-vacuum-full", NO_TX + "vacuum full t;", NO_TX + "vacuum t;"),
    (
        "ban-cluster",
        "cluster t using t_pkey;",
        "create table n (a int primary key);\ncluster n using n_pkey;",
    ),
    ("explicit-lock-table", "lock table t;", "select 1;"),
    (
        "more-statements-after-access-exclusive",
        "alter table t add column c int;\nupdate u set id = id;",
        "update u set id = id;\nalter table t add column c int;",
    ),
    (
        "ban-drop-column",
        "alter table t drop column c;",
        "create table n (a int, c int);\nalter table n drop column c;",
    ),
    ("ban-drop-table", "drop table t;", "create table n (a int);\ndrop table n;"),
    (
        "renaming-column",
        "alter table t rename column a to b;",
        "create table n (a int);\nalter table n rename column a to b;",
    ),
    (
        "renaming-table",
        "alter table t rename to t2;",
        "create table n (a int);\nalter table n rename to n2;",
    ),
    (
        "rls_disabled_in_public",
        "create table n (a int);",
        "create table n (a int);\nalter table n enable row level security;",
    ),
    (
        "auth_rls_initplan",
        "create policy p on t using (user_id = auth.uid());",
        "create policy p on t using (user_id = (select auth.uid()));",
    ),
    (
        "rls_references_user_metadata",
        "create policy p on t using (((select auth.jwt()) -> 'user_metadata' ->> 'r') = 'x');",
        "create policy p on t using (((select auth.jwt()) -> 'app_metadata' ->> 'r') = 'x');",
    ),
    (
        "rls_policy_always_true",
        "create policy p on t for insert to authenticated with check (true);",
        "create policy p on t for select to authenticated using (true);",
    ),
    (
        "security_definer_view",
        "create view v as select 1 as a;",
        "create view v with (security_invoker = true) as select 1 as a;",
    ),
    (
        "auth_users_exposed",
        "create view v with (security_invoker = true) as select id from auth.users;",
        "create view private.v as select id from auth.users;",
    ),
    (
        "materialized_view_in_api",
        "create materialized view m as select 1 as a;",
        "create materialized view private.m as select 1 as a;",
    ),
    (
        "function_search_path_mutable",
        "create function f() returns int language sql as $$ select 1 $$;",
        "create function f() returns int language sql set search_path = '' as $$ select 1 $$;",
    ),
    (
        "security_definer_search_path_mutable",
        "create function private.f() returns int language sql security definer\nas $$ select 1 $$;",
        "create function private.f() returns int language sql security definer\n"
        "set search_path = '' as $$ select 1 $$;",
    ),
    (
        "anon_security_definer_function_executable",
        "create function public.f() returns int language sql security definer\n"
        "set search_path = '' as $$ select 1 $$;",
        "create function public.f() returns int language sql security definer\n"
        "set search_path = '' as $$ select 1 $$;\n"
        "revoke execute on function public.f() from public, anon;",
    ),
    ("dynamic-sql-not-analysed", "do $$ begin perform 1; end $$;", "select 1;"),
    (
        "suppression-missing-reason",
        "-- supamigrate:allow ban-drop-table\ndrop table t;",
        "-- supamigrate:allow ban-drop-table archived since v2, nothing reads it\ndrop table t;",
    ),
    (
        "suppression-unknown-rule",
        "-- supamigrate:allow no-such-rule because\nselect 1;",
        "-- supamigrate:allow ban-drop-table gone\ndrop table t;",
    ),
]


def _rules(sql: str) -> set[str]:
    return {finding.rule for finding in lint_sql(sql, path="m.sql")}


@pytest.mark.parametrize(("rule", "hazard", "safe"), CASES, ids=[case[0] for case in CASES])
def test_rule_flags_hazard_and_not_the_safe_rewrite(rule: str, hazard: str, safe: str) -> None:
    """The hazardous example is flagged with the rule; the rewrite is not."""
    assert rule in _rules(hazard)
    assert rule not in _rules(safe)


def test_every_rule_has_a_case() -> None:
    """No rule ships without a hazardous example and a safe rewrite."""
    from test_lint_rules import CASES as MORE_CASES

    assert {case[0] for case in CASES + MORE_CASES} == set(RULES)


def test_findings_carry_file_line_level_message_and_fix() -> None:
    """A finding names its file, the statement's line, its level and a rewrite."""
    (finding,) = lint_sql("select 1;\n\n-- why\ncreate index i\n  on t (a);", path="x.sql")
    assert (finding.path, finding.line, finding.rule) == (
        "x.sql",
        4,
        "require-concurrent-index-creation",
    )
    assert finding.level is Level.ERROR
    assert "CONCURRENTLY" in finding.fix and "public.t" in finding.message


def test_suppression_is_echoed_with_its_reason_and_does_not_fail() -> None:
    """An allow comment with a reason marks the finding suppressed; exit policy ignores it."""
    findings = lint_sql(
        "-- supamigrate:allow ban-drop-table replaced by t2 in v3\ndrop table t;", path="m"
    )
    (finding,) = findings
    assert finding.suppressed == "replaced by t2 in v3"
    assert not has_errors(findings)
    assert "(allowed: replaced by t2 in v3)" in human_lines(findings)[0]


def test_trailing_suppression_on_the_statement_line() -> None:
    """An allow comment after the statement, on its line, applies to it (not the next one)."""
    findings = lint_sql(
        "drop table t; -- supamigrate:allow ban-drop-table unused\ndrop table u;", path="m"
    )
    drops = [(f.line, f.suppressed) for f in findings if f.rule == "ban-drop-table"]
    assert drops == [(1, "unused"), (2, None)]


def test_suppression_without_reason_suppresses_nothing() -> None:
    """A bare allow is itself a finding and the hazard still counts."""
    findings = lint_sql("-- supamigrate:allow ban-drop-table\ndrop table t;", path="m")
    assert has_errors(findings)
    assert {f.rule for f in findings if f.suppressed is None} == {
        "ban-drop-table",
        "suppression-missing-reason",
    }


def test_suppression_text_inside_a_string_does_not_suppress() -> None:
    """Only comments between statements count, never text inside a statement."""
    sql = "select '\n-- supamigrate:allow ban-drop-table x\n'; drop table t;"
    (finding,) = lint_sql(sql, path="m")
    assert finding.suppressed is None


def test_set_not_null_after_validated_check_is_quiet() -> None:
    """The recommended CHECK NOT VALID, VALIDATE, SET NOT NULL sequence is not flagged; in one
    transaction the VALIDATE's scan under the ADD's lock is reported once, by its own rule."""
    sql = NO_TX + (
        "alter table t add constraint c check (a is not null) not valid;\n"
        "alter table t validate constraint c;\n"
        "alter table t alter column a set not null;\n"
    )
    assert "adding-not-nullable-field" not in _rules(sql)
    in_one_transaction = _rules(sql.removeprefix(NO_TX))
    assert "adding-not-nullable-field" not in in_one_transaction
    assert "constraint-validated-in-same-transaction" in in_one_transaction


def test_lint_files_keeps_each_path() -> None:
    """Findings from several files name their own file."""
    findings = lint_files([("a.sql", "drop table t;"), ("b.sql", "lock table u;")])
    assert [(f.path, f.rule) for f in findings] == [
        ("a.sql", "ban-drop-table"),
        ("b.sql", "explicit-lock-table"),
    ]


def test_reports_json_and_github_annotations() -> None:
    """JSON has plain values; annotations use GitHub's commands and escaping."""
    findings = lint_files([("dir/a,b.sql", "drop table t;"), ("dir/a,b.sql", "\nlock table t;")])
    assert to_json(findings)[0]["level"] == "error"
    assert to_json(findings)[0]["suppressed"] is None
    error, warning = github_annotations(findings)
    assert error.startswith("::error file=dir/a%2Cb.sql,line=1,title=ban-drop-table::")
    assert warning.startswith("::warning file=dir/a%2Cb.sql,line=2,title=explicit-lock-table::")
    info = github_annotations(lint_files([("m", "do $$ begin end $$;")]))
    assert info[0].startswith("::notice ")


def test_shipped_migrations_read_cleanly() -> None:
    """The shipped migrations parse, hold no transaction control or psql commands, and
    have no error-level finding (a user's own migrations beside them are not this test's)."""
    files = [(str(s.path), s.path.read_text()) for s in shipped_sources()]
    findings = lint_files(files)
    assert len(files) == 5
    assert not {f.rule for f in findings} & {
        "syntax-error",
        "transaction-control",
        "psql-meta-command",
    }
    assert not has_errors(findings)


# Postgres itself decides whether an ALTER rewrites: a new relfilenode means a rewrite.
REWRITES = [
    ("alter table t add column c uuid default gen_random_uuid()", True),
    ("alter table t add column c float8 default random()", True),
    ("alter table t add column c timestamptz default clock_timestamp()", True),
    ("alter table t add column c serial", True),
    ("alter table t add column c int generated always as (a + 1) stored", True),
    ("alter table t add column c int generated always as identity", True),
    ("alter table t add column c timestamptz default now()", False),
    ("alter table t add column c int not null default 0", False),
    ("alter table t add column c jsonb default '{}'::jsonb", False),
    ("alter table t alter column a type bigint", True),
    ("alter table t alter column v type varchar(20)", False),
    ("alter table t alter column v type text", False),
    ("alter table t set unlogged", True),
]


@pytest.mark.parametrize(("sql", "rewrites"), REWRITES)
def test_lint_agrees_with_postgres_on_rewrites(cur: Any, sql: str, rewrites: bool) -> None:
    """A rewrite (new relfilenode) on the server is exactly what lint flags as one."""
    cur.execute("create table t (a int, v varchar(10)); insert into t values (1, 'x')")
    assert writes_anew(cur, sql) is rewrites
    rewrite_rules = {"adding-field-with-default", "changing-column-type", "table-rewrite"}
    flagged = _rules(sql + ";") & rewrite_rules
    assert bool(flagged) is rewrites


@pytest.mark.parametrize(
    ("domain", "rewrites"),
    [("int check (value > 0)", True), ("int not null default 1", True), ("int", False)],
)
def test_a_column_of_a_constrained_domain_rewrites(cur: Any, domain: str, rewrites: bool) -> None:
    """ADD COLUMN of a domain with a constraint tests every row, writing the table anew (a new
    relfilenode); lint says so when it saw the domain made, in this file or an earlier one."""
    make = f"create domain public.dom as {domain}"
    add = "alter table t add column c public.dom"
    cur.execute(f"{make}; create table t (a int); insert into t values (1)")
    assert writes_anew(cur, add) is rewrites
    for files in ([("1.sql", f"{make};\n{add};")], [("1.sql", f"{make};"), ("2.sql", f"{add};")]):
        found = {f.rule for f in lint_files(files, parallel=False)}
        assert ("adding-field-with-default" in found) is rewrites
    assert "adding-field-with-default" not in _rules(f"{add};")  # a domain lint never saw


def test_every_way_to_rewrite_a_table_is_one_rule() -> None:
    """SET LOGGED/UNLOGGED, SET TABLESPACE (of a table, an index, a view's storage, or ALL IN
    TABLESPACE), SET ACCESS METHOD and SET EXPRESSION name what they rewrite; on a table the
    file made, quiet."""
    for sql, what in [
        ("alter table t set logged;", "the table public.t"),
        ("alter index i set tablespace s;", "the index public.i"),
        ("alter materialized view m set tablespace s;", "the materialized view public.m"),
        ("alter table all in tablespace a set tablespace b;", "every table in a"),
        ("alter table t set access method heap;", "the table public.t"),
        ("alter table t alter column g set expression as (a + 1);", "the table public.t"),
    ]:
        (finding,) = [f for f in lint_files([("x.sql", sql)]) if f.rule == "table-rewrite"]
        assert what in finding.message, sql
    made = "create table public.n (a int);\nalter table public.n enable row level security;\n"
    assert "table-rewrite" not in _rules(made + "alter table public.n set unlogged;")


# The strongest lock each statement holds on `t` until COMMIT, as pg_locks shows it.
LOCKS = [
    ("alter table t enable row level security", "AccessExclusiveLock"),
    ("create policy p on t using (true)", "AccessExclusiveLock"),
    ("drop policy p0 on t", "AccessExclusiveLock"),
    ("alter table t add column c int", "AccessExclusiveLock"),
    ("alter table t alter column a set not null", "AccessExclusiveLock"),
    ("alter table t rename column a to b", "AccessExclusiveLock"),
    ("drop index t_a", "AccessExclusiveLock"),
    ("lock table t", "AccessExclusiveLock"),
    ("truncate t", "AccessExclusiveLock"),
    ("alter table t validate constraint t_a_check", "ShareUpdateExclusiveLock"),
    (
        "alter table t add constraint f foreign key (a) references u (id) not valid",
        "ShareRowExclusiveLock",
    ),
    ("create index t_b on t (a)", "ShareLock"),
    (
        "create trigger tr before insert on t for each row execute function f()",
        "ShareRowExclusiveLock",
    ),
    ("comment on table t is 'x'", "ShareUpdateExclusiveLock"),
    ("grant select on t to anon", None),
]
_STRENGTH = list(MODES)  # weakest first: the order Postgres lists its lock modes in


@pytest.mark.parametrize(("sql", "mode"), LOCKS)
def test_access_exclusive_model_matches_pg_locks(cur: Any, sql: str, mode: str | None) -> None:
    """lint says ACCESS EXCLUSIVE exactly when the server holds it on the table."""
    cur.execute(
        "create table u (id int primary key);"
        "create table t (a int check (a > 0), v text); create index t_a on t (a);"
        "create policy p0 on t using (true);"
        "create function f() returns trigger language plpgsql as $$ begin return new; end $$"
    )
    cur.execute("begin")
    cur.execute(sql)
    cur.execute(
        "select mode from pg_locks where pid = pg_backend_pid() and relation = 't'::regclass"
    )
    modes = [row[0] for row in cur.fetchall()]
    cur.execute("rollback")
    strongest = max(modes, key=_STRENGTH.index) if modes else None
    assert strongest == mode or (mode is None and strongest in {None, "AccessShareLock"})
    (statement,) = read_sql(sql).statements
    assert bool(access_exclusive_tables(statement)) is (mode == "AccessExclusiveLock")


def test_fk_validation_locks_both_tables_share_row_exclusive(cur: Any) -> None:
    """Adding a validated foreign key blocks writes on the referencing and referenced tables."""
    cur.execute("create table u (id int primary key); create table t (a int)")
    cur.execute("begin")
    cur.execute("alter table t add constraint f foreign key (a) references u (id)")
    cur.execute(
        "select c.relname, l.mode from pg_locks l join pg_class c on c.oid = l.relation "
        "where l.pid = pg_backend_pid() and c.relname in ('t', 'u') order by 1"
    )
    held = {(name, mode) for name, mode in cur.fetchall()}
    cur.execute("rollback")
    assert {("t", "ShareRowExclusiveLock"), ("u", "ShareRowExclusiveLock")} <= held


@pytest.mark.parametrize("validated_first", [True, False])
def test_set_not_null_skips_its_scan_only_after_a_validated_check(
    conn: Any, validated_first: bool
) -> None:
    """With a valid CHECK (a IS NOT NULL), Postgres proves NOT NULL without scanning."""
    with conn.cursor() as cur:
        cur.execute("create table t (a int); insert into t values (1)")
        if validated_first:
            cur.execute("alter table t add constraint c check (a is not null) not valid")
            cur.execute("alter table t validate constraint c")
        del conn.notices[:]
        cur.execute("set client_min_messages = debug1")
        cur.execute("alter table t alter column a set not null")
        cur.execute("reset client_min_messages")
    proved = any("sufficient to prove" in notice for notice in conn.notices)
    assert proved is validated_first


@pytest.mark.parametrize(
    "column",
    ["c int check (c > 0)", "c int default 5 check (c > 0)", "c int", "c int default 5"],
)
def test_add_column_with_check_scans_the_table(conn: Any, column: str) -> None:
    """A CHECK in ADD COLUMN is verified over every existing row (Postgres says "verifying
    table" at DEBUG1), so lint flags it as it flags ADD CONSTRAINT CHECK; without one, quiet."""
    sql = f"alter table t add column {column}"
    with conn.cursor() as cur:
        cur.execute("create table t (a int); insert into t values (1)")
        del conn.notices[:]
        cur.execute("set client_min_messages = debug1")
        cur.execute(sql)
        cur.execute("reset client_min_messages")
    scanned = any('verifying table "t"' in notice for notice in conn.notices)
    assert scanned is ("check" in column)
    assert ("constraint-missing-not-valid" in _rules(sql + ";")) is scanned


def test_levels_are_the_documented_three() -> None:
    """Every rule has one of error, warning, info and a one-line fix."""
    for rule in RULES.values():
        assert rule.level in set(Level)
        assert rule.fix and "\n" not in rule.fix and "\n" not in rule.summary
