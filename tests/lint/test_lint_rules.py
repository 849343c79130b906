"""lint's second family of rules (issue 27): hazard and safe rewrite for each; Postgres agrees."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from helpers.catalog import writes_anew
from supamigrate.executors.trace import MODES
from supamigrate.lint import RULES, has_errors, lint_files, lint_sql
from supamigrate.lint.engine import _drop_indexed_foreign_keys, _lint_one
from supamigrate.lint.exclusive import access_exclusive_tables
from supamigrate.lint.findings import Finding
from supamigrate.lint.known import Known
from supamigrate.lint.parallel import lint_in_two
from supamigrate.lint.pg_signatures import (
    ARGUMENT_COUNTS,
    NO_ARGUMENT_BUILTINS,
    NON_VOLATILE_BUILTINS,
)
from supamigrate.sql.reading import read_sql

NO_TX = "-- supamigrate:no-transaction\n"

# (rule, hazardous SQL, safer rewrite). Tables not created in the snippet (t, u, p) hold data.
CASES = [
    ("require-concurrent-reindex", "reindex table t;", NO_TX + "reindex table concurrently t;"),
    (
        "require-concurrent-partition-detach",
        "alter table p detach partition p_2020;",
        NO_TX + "alter table p detach partition p_2020 concurrently;",
    ),
    ("ban-truncate-cascade", "truncate t cascade;", "truncate t, u;"),
    (
        "ban-create-domain-with-constraint",
        "create domain positive as int check (value > 0);",
        "create domain amount as numeric(12, 2);",
    ),
    (
        "ban-alter-domain-with-add-constraint",
        "alter domain amount add constraint amount_positive check (value > 0);",
        "alter domain amount add constraint amount_positive check (value > 0) not valid;",
    ),
    (
        "require-enum-value-ordering",
        "alter type status add value 'archived';",
        "alter type status add value 'archived' after 'done';",
    ),
    (
        "enum-value-used-in-same-migration",
        "alter type status add value 'archived' after 'done';\n"
        "update t set s = 'archived' where s = 'old';",
        "alter type status add value 'archived' after 'done';",
    ),
    ("creating-enum", "create type mood as enum ('ok', 'sad');", "create domain d as text;"),
    (
        "adding-exclusion-constraint",
        "alter table t add constraint no_overlap exclude using gist (r with &&);",
        "create table n (r tstzrange);\n"
        "alter table n add constraint no_overlap exclude using gist (r with &&);",
    ),
    (
        "adding-primary-key-on-nullable-column",
        NO_TX + "alter table t add column c int;\n"
        "create unique index concurrently t_c on t (c);\n"
        "alter table t add constraint t_pk primary key using index t_c;",
        NO_TX + "alter table t add column c int not null default 0;\n"
        "create unique index concurrently t_c on t (c);\n"
        "alter table t add constraint t_pk primary key using index t_c;",
    ),
    (
        "unindexed_foreign_keys",
        "create table n (id int primary key, t_id int references t (id));\n"
        "alter table n enable row level security;",
        "create table n (id int primary key, t_id int references t (id));\n"
        "alter table n enable row level security;\ncreate index n_t_id on n (t_id);",
    ),
    (
        "adding-json-column",
        "alter table t add column meta json;",
        "alter table t add column m jsonb;",
    ),
    ("ban-drop-database", NO_TX + "drop database old;", "select 1;"),
    (
        "ban-duplicate-column-assignments",
        "update t set a = 1, b = 2, a = 3;",
        "update t set a = 1, b = 2;",
    ),
    (
        "require-timeout-settings",
        "set local lock_timeout = 0;\nalter table t add column c int;",
        "set local lock_timeout = '2s';\nalter table t add column c int;",
    ),
    (
        "prefer-robust-stmts",
        NO_TX + "create index concurrently i on t (a);\ndrop index concurrently j;",
        NO_TX + "create index concurrently if not exists i on t (a);\n"
        "drop index concurrently if exists j;",
    ),
    ("ban-drop-not-null", "alter table t alter column a drop not null;", "select 1;"),
]


def _rules(sql: str) -> set[str]:
    return {finding.rule for finding in lint_sql(sql, path="m.sql") if not finding.suppressed}


@pytest.mark.parametrize(("rule", "hazard", "safe"), CASES, ids=[case[0] for case in CASES])
def test_rule_flags_hazard_and_not_the_safe_rewrite(rule: str, hazard: str, safe: str) -> None:
    """The hazardous example is flagged with the rule; the rewrite is not."""
    assert rule in _rules(hazard)
    assert rule not in _rules(safe)


def test_every_new_rule_is_in_the_catalog() -> None:
    assert {case[0] for case in CASES} <= set(RULES)


def test_checks_by_kind_report_what_every_check_reports() -> None:
    """Dispatching checks by statement kind, and the first-exclusive checks to that statement
    alone, loses no finding (every example of both files)."""
    from test_lint import CASES as FIRST_CASES

    from supamigrate.lint import engine, exclusive

    for _, hazard, safe in CASES + FIRST_CASES:
        for sql in (hazard, safe):
            reading = read_sql(sql)
            migration = engine.read_migration(reading)
            first = exclusive.first_exclusive(migration)
            for index, statement in enumerate(reading.statements):
                every = [h for c in engine.CHECKS for h in c(statement, index, migration)]
                chosen = [
                    h
                    for c in engine.checks_for(statement.kind, first_exclusive=index == first)
                    for h in c(statement, index, migration)
                ]
                assert chosen == every, sql


# --- what earlier files of the same run establish --------------------------------------------


def test_primary_key_using_index_knows_nullability_from_earlier_files() -> None:
    """A column declared nullable in an earlier file makes PK USING INDEX a scan; a NOT NULL
    one (or one lint never saw) does not."""
    first = "create table a (x int, y int not null);\nalter table a enable row level security;"
    second = (
        NO_TX
        + "create unique index concurrently a_x on a (x);\n"
        + ("create unique index concurrently a_y on a (y);")
    )
    third = "alter table a add constraint a_pk primary key using index {};"
    flagged = {
        index: "adding-primary-key-on-nullable-column"
        in {f.rule for f in lint_files([("1", first), ("2", second), ("3", third.format(index))])}
        for index in ("a_x", "a_y", "unknown_index")
    }
    assert flagged == {"a_x": True, "a_y": False, "unknown_index": False}


def test_set_not_null_after_a_validate_in_an_earlier_file_is_quiet() -> None:
    """eugene's and squawk's multi-file recipe: CHECK NOT VALID, VALIDATE, SET NOT NULL."""
    files = [
        ("2", "alter table t add constraint c check (a is not null) not valid;"),
        ("3", "alter table t validate constraint c;"),
        ("4", "alter table t alter column a set not null;"),
    ]
    assert "adding-not-nullable-field" not in {f.rule for f in lint_files(files)}
    other_column = [*files[:2], ("4", "alter table t alter column b set not null;")]
    assert "adding-not-nullable-field" in {f.rule for f in lint_files(other_column)}


def test_foreign_key_index_may_come_in_a_later_file() -> None:
    """An index created later in the run covers the foreign key; a partial one does not."""
    table = "create table n (id int primary key, t_id int references t (id));"
    full = NO_TX + "create index concurrently n_t on n (t_id);"
    partial = NO_TX + "create index concurrently n_t on n (t_id) where t_id > 0;"
    rules = {f.rule for f in lint_files([("1", table), ("2", full)])}
    assert "unindexed_foreign_keys" not in rules
    rules = {f.rule for f in lint_files([("1", table), ("2", partial)])}
    assert "unindexed_foreign_keys" in rules


def test_a_function_declared_stable_earlier_is_not_a_volatile_default() -> None:
    stable = (
        "create function f() returns int language sql stable set search_path = '' as 'select 1';"
    )
    add = "alter table t add column c int default f();"
    assert "adding-field-with-default" in {f.rule for f in lint_files([("1", add)])}
    assert "adding-field-with-default" not in {
        f.rule for f in lint_files([("1", stable), ("2", add)])
    }


# --- fewer false alarms ----------------------------------------------------------------------


def test_add_column_then_set_default_is_quiet_but_work_after_the_lock_is_not() -> None:
    """squawk's recommended rewrite holds the lock only for catalog changes; an UPDATE or a
    lock on another table while it is held is flagged."""
    quick = "alter table t add column c int;\nalter table t alter column c set default 10;"
    assert _rules(quick) == set()
    assert "more-statements-after-access-exclusive" in _rules(quick + "\nupdate t set c = 10;")
    assert "more-statements-after-access-exclusive" in _rules(
        quick + "\nalter table u add column d int;"
    )


def test_lock_table_on_a_table_the_file_created_is_quiet() -> None:
    assert "explicit-lock-table" not in _rules("create table n (a int);\nlock table n;")
    assert "explicit-lock-table" in _rules("create table n (a int);\nlock table n, t;")


# Statements that lock or rewrite `t`; when the file created `t` first, none is a hazard.
LOCKING = [
    "alter table t add column c uuid default gen_random_uuid()",
    "alter table t alter column a type bigint",
    "alter table t alter column a set not null",
    "alter table t add constraint k unique (a)",
    "alter table t add constraint c check (a > 0)",
    "alter table t add constraint x exclude using gist (r with &&)",
    "alter table t add constraint f foreign key (a) references u (id)",
    "alter table t detach partition t_2020",
    "alter table t drop column a",
    "alter table t alter column a drop not null",
    "alter table t rename column a to b",
    "create index i on t (a)",
    "reindex table t",
    "lock table t",
    "cluster t using t_pkey",
    "drop table t",
    "truncate t cascade",
]
LOCK_RULES = {rule for rule, _, _ in CASES} | {
    "adding-field-with-default",
    "changing-column-type",
    "adding-not-nullable-field",
    "disallowed-unique-constraint",
    "constraint-missing-not-valid",
    "adding-foreign-key-constraint",
    "require-concurrent-index-creation",
    "explicit-lock-table",
    "more-statements-after-access-exclusive",
    "ban-cluster",
    "ban-drop-column",
    "ban-drop-table",
    "renaming-column",
}
LOCK_RULES -= {"unindexed_foreign_keys", "adding-json-column", "creating-enum"}


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(LOCKING), min_size=1, max_size=5))
def test_no_lock_rule_fires_on_a_table_created_earlier_in_the_file(statements: list[str]) -> None:
    """Property: whatever locks `t` after the file's own CREATE TABLE blocks nobody."""
    sql = "create table t (a int, r tstzrange);\nalter table t enable row level security;\n"
    sql += ";\n".join(statements) + ";"
    assert _rules(sql) & LOCK_RULES == set(), sql
    hazards = _rules(";\n".join(statements) + ";")
    assert hazards & LOCK_RULES, "the same statements on an existing table are hazards"


# --- squawk's and eugene's ignore comments ---------------------------------------------------


def test_squawk_ignore_maps_to_our_rule_and_is_echoed() -> None:
    (finding,) = lint_sql(
        "-- squawk-ignore ban-drop-column\nalter table t drop column a;", path="m"
    )
    assert finding.rule == "ban-drop-column"
    assert finding.suppressed == "squawk-ignore ban-drop-column"
    assert not has_errors([finding])
    (again,) = lint_sql(
        "-- squawk-ignore adding-required-field\nalter table t add c int not null;", path="m"
    )
    assert again.rule == "adding-not-nullable-field" and again.suppressed


def test_squawk_ignore_file_and_eugene_ignore() -> None:
    whole = lint_sql("drop table t;\n-- squawk-ignore-file\nalter table u drop column a;", path="m")
    assert whole and all(f.suppressed for f in whole)
    named = lint_sql("-- squawk-ignore-file ban-drop-table\ndrop table t;\ndrop index i;", path="m")
    assert {
        ("ban-drop-table", True),
        ("require-concurrent-index-deletion", False),
    } <= {(f.rule, bool(f.suppressed)) for f in named}
    eugene = lint_sql("-- eugene: ignore E5, E4\nalter table t alter a type bigint;", path="m")
    assert {(f.rule, bool(f.suppressed)) for f in eugene} == {("changing-column-type", True)}


def test_unknown_squawk_rule_is_reported_and_style_rules_are_a_no_op() -> None:
    rules = _rules("-- squawk-ignore prefer-text-field\nselect 1;")
    assert rules == set()
    unknown = lint_sql("-- squawk-ignore no-such-rule\nselect 1;", path="m")
    assert [f.rule for f in unknown] == ["suppression-unknown-rule"]


COMMENTS = [
    "-- supamigrate:allow ban-drop-table gone since v2",
    "-- squawk-ignore ban-drop-column",
    "-- squawk-ignore changing-column-type, renaming-column",
    "-- eugene: ignore E4",
    "-- squawk-ignore require-concurrent-index-creation",
]
BODY = [
    "drop table t",
    "alter table t drop column a",
    "alter table t alter column a type bigint",
    "alter table u rename column a to b",
    "create index i on t (a)",
    "update t set a = 1",
    "alter table t add column c int",
]


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(BODY), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from(COMMENTS)), max_size=3),
)
def test_suppression_comments_change_nothing_but_suppression(
    statements: list[str], comments: list[tuple[int, str]]
) -> None:
    """Property: adding allow/ignore comments never adds, drops or moves a finding of a real
    rule; it only marks some suppressed (suppression problems are findings of their own)."""
    plain = ";\n".join(statements) + ";"
    lines = [s + ";" for s in statements]
    for at, comment in sorted(comments, reverse=True):
        lines.insert(min(at, len(lines)), comment)
    commented = "\n".join(lines)

    def real(sql: str) -> list[tuple[int, str]]:
        findings = [f for f in lint_sql(sql, path="m") if not f.rule.startswith("suppression-")]
        return sorted((f.line, f.rule) for f in findings)

    assert [rule for _, rule in real(plain)] == [rule for _, rule in real(commented)]


# --- Postgres agrees ---------------------------------------------------------------------------

# Default expressions written every way; Postgres decides whether ADD COLUMN rewrites.
DEFAULTS = [
    ("now()", False),
    ("current_timestamp", False),
    ("'x'::text || 'y'", False),
    ("lower('A')", False),
    ("(random() * 10)::int", True),
    ("md5(random()::text)", True),
    ("gen_random_uuid()::text", True),
    ("clock_timestamp()::text", True),
    ("nextval('s')::text", True),
    ("timeofday()", True),
    ("to_char(now(), 'YYYY')", False),
    ("format('%s-%s', 1, 2)", False),
]


@pytest.mark.parametrize(("default", "rewrites"), DEFAULTS)
def test_volatile_defaults_agree_with_postgres(cur: Any, default: str, rewrites: bool) -> None:
    """A new relfilenode after ADD COLUMN ... DEFAULT is exactly what lint calls a rewrite."""
    sql = f"alter table t add column c text default {default}"
    cur.execute("create sequence s; create table t (a int); insert into t values (1)")
    assert writes_anew(cur, sql) is rewrites
    assert ("adding-field-with-default" in _rules(sql + ";")) is rewrites


def test_non_volatile_builtins_match_this_servers_pg_proc(cur: Any) -> None:
    """No name lint treats as safe has a VOLATILE overload on the server the tests run on."""
    cur.execute(
        "select proname from pg_proc where pronamespace = 'pg_catalog'::regnamespace "
        "and provolatile = 'v'"
    )
    volatile = {row[0] for row in cur.fetchall()}
    assert NON_VOLATILE_BUILTINS.isdisjoint(volatile)
    assert {"now", "lower", "to_char"} <= NON_VOLATILE_BUILTINS


def test_argument_counts_match_this_servers_pg_proc(cur: Any) -> None:
    """Every argument count lint accepts for a built-in, some overload on the server takes
    (defaults and VARIADIC included), so a call lint calls a built-in is one: `now(123)` or
    `abs(1, 2)` is no built-in and counts as a function lint does not know."""
    cur.execute(
        "select proname, pronargs, pronargdefaults, provariadic <> 0 from pg_proc "
        "where pronamespace = 'pg_catalog'::regnamespace and prokind = 'f'"
    )
    exact: dict[str, set[int]] = {}
    least: dict[str, int] = {}
    for name, count, defaults, variadic in cur.fetchall():
        if variadic:
            least[name] = min(least.get(name, count), max(count - defaults, 0))
        else:
            exact.setdefault(name, set()).update(range(count - defaults, count + 1))
    for name, (counts, variadic_least) in ARGUMENT_COUNTS.items():
        if name not in exact and name not in least:
            continue  # gone in this major version (PG 17 dropped a few): none is accepted
        server = exact.get(name, set())
        assert all(c in server or c >= least.get(name, 1 << 30) for c in counts), name
        if variadic_least is not None:
            assert variadic_least >= least[name], name
    assert NO_ARGUMENT_BUILTINS <= NON_VOLATILE_BUILTINS and "now" in NO_ARGUMENT_BUILTINS
    for default in ("now(1)", "abs(1, 2)", "lower()"):
        assert "adding-field-with-default" in _rules(
            f"alter table t add column c int default {default};"
        )
    for default in ("now()", "abs(-1)", "round(1.5, 1)", "concat('a', 'b', 'c')", "lower('X')"):
        assert "adding-field-with-default" not in _rules(
            f"alter table t add column c text default {default};"
        )


def test_enum_value_used_in_its_own_transaction_is_55p04(conn: Any) -> None:
    """Postgres refuses the new value before the transaction that added it commits; in its
    own migration (committed first) the next one can use it."""
    import psycopg2

    with conn.cursor() as cur:
        cur.execute("create type status as enum ('new', 'done')")
        cur.execute("begin")
        cur.execute("alter type status add value 'archived' after 'done'")
        with pytest.raises(psycopg2.Error) as failure:
            cur.execute("select 'archived'::status")
        cur.execute("rollback")
        assert failure.value.pgcode == "55P04"
        cur.execute("alter type status add value 'archived' after 'done'")
        cur.execute("select 'archived'::status")
    same = "alter type status add value 'archived' after 'done';\nselect 'archived'::status;"
    assert "enum-value-used-in-same-migration" in _rules(same)
    assert "enum-value-used-in-same-migration" not in _rules(NO_TX + same)


DUPLICATES = [
    ("update t set a = 1, b = 2, a = 3", "update t set a = 1, b = 2"),
    ("insert into t (a, b, a) values (1, 2, 3)", "insert into t (a, b) values (1, 2)"),
    ("create table d (a int, b text, a text)", "create table d (a int, b text)"),
    ("create view v (a, a) as select 1, 2", "create view v (a, b) as select 1, 2"),
]


@pytest.mark.parametrize(("twice", "once"), DUPLICATES)
def test_a_column_named_twice_is_flagged_and_postgres_refuses_it(
    conn: Any, twice: str, once: str
) -> None:
    """ban-duplicate-column-assignments says Postgres refuses the statement: it does (42701
    or 42601), on the real server; the same statement with each column once runs, and is
    quiet."""
    import psycopg2

    with conn.cursor() as cur:
        cur.execute("create table t (a int, b int)")
        with pytest.raises(psycopg2.Error) as failure:
            cur.execute(twice)
        assert failure.value.pgcode in {"42701", "42601"}
        cur.execute(once)
    assert "ban-duplicate-column-assignments" in _rules(twice + ";")
    assert "ban-duplicate-column-assignments" not in _rules(once + ";")


# The strongest lock each new hazard takes on `t` (or the partitioned `p`), from pg_locks.
LOCKS = [
    ("reindex table t", "t", "ShareLock"),
    ("truncate t cascade", "t", "AccessExclusiveLock"),
    ("alter table p detach partition p1", "p", "AccessExclusiveLock"),
    ("alter table t add constraint x exclude using gist (r with &&)", "t", "AccessExclusiveLock"),
    ("alter table t alter column a drop not null", "t", "AccessExclusiveLock"),
    ("alter domain pos add constraint small check (value < 100)", "t", "ShareLock"),
    ("alter table t add constraint t_pk primary key using index t_a", "t", "AccessExclusiveLock"),
]
_STRENGTH = list(MODES)
SETUP = (
    "create domain pos as int check (value > 0);"
    "create table t (a int, b pos, r tstzrange); create unique index t_a on t (a);"
    "insert into t values (1, 1, null);"
    "create table p (k int) partition by range (k);"
    "create table p1 partition of p for values from (0) to (10)"
)


@pytest.mark.parametrize(("sql", "table", "mode"), LOCKS)
def test_new_hazards_take_the_locks_lint_says(cur: Any, sql: str, table: str, mode: str) -> None:
    """Each statement's lock, as pg_locks shows it inside the transaction, is the one its
    rule's message names; lint's ACCESS EXCLUSIVE model agrees."""
    cur.execute(SETUP)
    cur.execute("begin")
    cur.execute(sql)
    cur.execute(
        "select mode from pg_locks where pid = pg_backend_pid() and relation = %s::regclass",
        (table,),
    )
    modes = [row[0] for row in cur.fetchall()]
    cur.execute("rollback")
    assert max(modes, key=_STRENGTH.index) == mode
    (statement,) = read_sql(sql).statements
    assert bool(access_exclusive_tables(statement)) is (mode == "AccessExclusiveLock")
    # the setup is an earlier migration: lint knows t.a is nullable from it
    rules = {f.rule for f in lint_files([("1.sql", SETUP + ";"), ("2.sql", sql + ";")])}
    assert rules - {"more-statements-after-access-exclusive"}, "lint flags it"


def test_apply_failure_55p04_says_to_put_the_value_in_its_own_migration(project: Any) -> None:
    """The runner's advice for an enum value used in the transaction that adds it matches
    lint's: its own migration, not COMMIT; BEGIN; inside the file."""
    project.write("001_status.sql", "create type public.status as enum ('new', 'done');")
    project.write(
        "002_archive.sql",
        "alter type public.status add value 'archived' after 'done';\n"
        "select 'archived'::public.status;",
    )
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 1
    assert "55P04" in result.stdout
    assert "ADD VALUE in its own migration" in result.stdout
    lint = project.invoke("lint", "--all")
    assert "enum-value-used-in-same-migration" in lint.stdout


@pytest.mark.parametrize("made_before", [False, True])
def test_create_table_if_not_exists_of_a_table_made_earlier_is_not_new(made_before: bool) -> None:
    """CREATE TABLE IF NOT EXISTS of a table an earlier file made changes nothing: the table
    keeps its rows and readers, so a plain CREATE INDEX on it blocks writers as on any old
    table. Of a table no earlier file made, it is new: quiet, as a plain CREATE TABLE."""
    again = "create table if not exists public.t (id int);\ncreate index t_id on public.t (id);"
    files = [("2.sql", again)]
    if made_before:
        files.insert(0, ("1.sql", "create table public.t (id int);"))
    rules = {f.rule for f in lint_files(files) if f.path == "2.sql"}
    assert ("require-concurrent-index-creation" in rules) is made_before, rules


# Files whose findings depend on earlier files, and files that establish those facts.
HISTORY_FILES = [
    "create table a (x int, y int not null);\nalter table a enable row level security;",
    NO_TX + "create unique index concurrently a_x on a (x);",
    "alter table a add constraint a_pk primary key using index a_x;",
    "alter table a add constraint c check (x is not null) not valid;",
    "alter table a validate constraint c;",
    "alter table a alter column x set not null;",
    "alter table a alter column y drop not null;",
    "create function f() returns int language sql stable set search_path = '' as 'select 1';",
    "alter table a add column z int default f();",
    "create table b (id int primary key, a_x int references a (x));\n"
    "alter table b enable row level security;",
    NO_TX + "create index concurrently b_a on b (a_x);",
    "alter table a add column w int;\nupdate a set w = 1;",
    "drop table old;",
    "create domain public.pos as int check (value > 0);",
    "alter table a add column p public.pos;",
    "create table if not exists a (x int, y int not null);\ncreate index a_y on a (y);",
]


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(HISTORY_FILES), min_size=2, max_size=10))
@example([HISTORY_FILES[i] for i in (0, 3, 4, 12, 12, 5)])  # validated early, SET NOT NULL late
@example([HISTORY_FILES[i] for i in (9, 12, 12, 10)])  # the index for the key comes late
@example([HISTORY_FILES[i] for i in (0, 1, 12, 12, 2)])  # nullable early, PRIMARY KEY late
@example([HISTORY_FILES[i] for i in (13, 12, 12, 14)])  # a domain early, its column late
@example([HISTORY_FILES[i] for i in (0, 12, 12, 15)])  # IF NOT EXISTS of a table made early
def test_two_cores_find_exactly_what_one_finds(history: list[str]) -> None:
    """Property: linting the later half in a worker and replaying its facts gives the
    sequential findings, whatever earlier files establish for later ones."""
    files = [(f"{n:03}.sql", sql) for n, sql in enumerate(history)]
    assert lint_files(files, parallel=True) == lint_files(files, parallel=False)


def test_a_worker_that_dies_costs_time_not_findings() -> None:
    """The forked worker killed mid-way (out of memory, a signal): the parent lints the later
    half itself, and the findings are still the sequential ones."""
    parent = os.getpid()

    def dies_in_the_worker(text: str, path: str, known: Known) -> list[Finding]:
        if os.getpid() != parent:
            os._exit(9)
        return _lint_one(text, path, known)

    files = [(f"{n:03}.sql", sql) for n, sql in enumerate(HISTORY_FILES)]
    sequential = Known()
    expected = [f for path, sql in files for f in _lint_one(sql, path, sequential)]
    assert expected and lint_in_two(files, Known(), dies_in_the_worker) == expected


def test_lint_knows_the_configured_lock_timeout(project: Any) -> None:
    """With the runner's lock_timeout off (config 0), a lock wait on an existing table is
    flagged; with the default 5s it is not. squawk's ignore comment is echoed as allowed."""
    project.write("001_add.sql", "alter table public.t add column c int;")
    project.write("002_drop.sql", "-- squawk-ignore ban-drop-column\nalter table public.t drop c;")
    default = project.invoke("lint", "--all")
    assert "require-timeout-settings" not in default.stdout
    assert "(allowed: squawk-ignore ban-drop-column)" in default.stdout
    project.env["SUPAMIGRATE_LOCK_TIMEOUT"] = "0"
    off = project.invoke("lint", "--all")
    assert "require-timeout-settings" in off.stdout, off.stdout + off.stderr


def test_set_not_null_proven_by_a_validated_check_is_quick_under_the_lock() -> None:
    """After ADD COLUMN, a validated CHECK (c IS NOT NULL) lets SET NOT NULL skip its scan,
    so it does not count as work while the lock is held; SET NOT NULL on another column does."""
    base = (
        "alter table t add column c int;\n"
        "alter table t add constraint c_nn check (c is not null) not valid;\n"
        "alter table t validate constraint c_nn;\n"
    )
    assert "more-statements-after-access-exclusive" not in _rules(
        base + "alter table t alter column c set not null;"
    )
    assert "more-statements-after-access-exclusive" in _rules(
        base + "alter table t alter column d set not null;"
    )


def test_facts_cross_to_the_parent_as_they_were() -> None:
    """The worker's facts travel as plain tuples and come back as the same facts, of the
    same types (a Table prints as schema.name; an Index has its fields)."""
    from supamigrate.lint.known import plain_ops, typed_ops

    known = Known(log=[])
    for n, sql in enumerate(
        [*HISTORY_FILES, HISTORY_FILES[9].replace("create table b", "create table s.b")]
    ):
        _lint_one(sql, f"{n:03}.sql", known)
    ops = known.log or []
    assert {op[0] for op in ops} >= {"table", "index", "check", "validate", "foreign_key", "stable"}

    def shape(value: object) -> object:
        if isinstance(value, tuple):
            return (type(value).__name__, [shape(v) for v in value])
        return value

    back = typed_ops(plain_ops(ops))
    assert [shape(op) for op in back] == [shape(op) for op in ops]
    assert all(type(v) is tuple for op in plain_ops(ops) for v in op if isinstance(v, tuple))


def test_lint_reads_what_is_pending_and_says_why_when_it_cannot_ask(project: Any) -> None:
    """Plain `lint` reads the migrations the target has not applied; when the target cannot
    be asked, every migration, with the reason (masked) in the line that says so."""
    project.write("001_a.sql", "create table public.a (id int primary key);\n")
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    project.write("002_b.sql", "alter table public.a add column c int not null;\n")
    pending = project.invoke("lint", "--json")
    assert json.loads(pending.stdout)["files"] == ["migrations/002_b.sql"], pending.stdout
    wrong = project.target.with_user(project.target.user, "not-the-pw-7781").url()
    blind = project.invoke("lint", url=wrong)
    said = blind.stdout + blind.stderr
    assert "Linting every migration: the database could not be asked what is applied." in said
    assert "password authentication failed" in said and "Linted 2 file(s)" in said
    assert "not-the-pw-7781" not in said


_TABLES = st.sampled_from(["public.t", "public.u", "s.v"])
_COLUMNS = st.sampled_from(["a", "b", "c"])
_N = st.integers(0, 2)
# Statements whose findings may depend on facts from earlier files (and ones that make them).
_STATEMENT = st.one_of(
    st.builds("create table {} (a int, b int not null, c int);".format, _TABLES),
    st.builds(
        "create table if not exists {} (a int primary key, b int, c int references {} (a));".format,
        _TABLES,
        _TABLES,
    ),
    st.builds("create index i{2} on {0} ({1});".format, _TABLES, _COLUMNS, _N),
    st.builds("create unique index i{2} on {0} ({1}) where {1} > 0;".format, _TABLES, _COLUMNS, _N),
    st.builds(
        "alter table {} add constraint k{} check ({} is not null) not valid;".format,
        _TABLES,
        _N,
        _COLUMNS,
    ),
    st.builds("alter table {} validate constraint k{};".format, _TABLES, _N),
    st.builds("alter table {} alter column {} set not null;".format, _TABLES, _COLUMNS),
    st.builds("alter table {} alter column {} drop not null;".format, _TABLES, _COLUMNS),
    st.builds(
        "alter table {} add constraint p{} primary key using index i{};".format, _TABLES, _N, _N
    ),
    st.builds(
        "create function {}(a int, b int) returns int language sql {} set search_path = '' as 'select 1';".format,
        st.sampled_from(["public.abs", "public.f", "f"]),
        st.sampled_from(["stable", "immutable", "volatile"]),
    ),
    st.builds(
        "alter table {} add column d{} int default {};".format,
        _TABLES,
        _N,
        st.sampled_from(["abs(1, 2)", "f(1, 2)", "now()", "random()", "public.f(1, 2)"]),
    ),
    st.builds("create domain d{} as int check (value > 0);".format, _N),
    st.builds("alter table {} add column g{} d{};".format, _TABLES, _N, _N),
    st.builds("alter table {} add column h{} int references {} (a);".format, _TABLES, _N, _TABLES),
    st.builds("alter table {} add column z{} text;".format, _TABLES, _N),
    st.builds("drop table {};".format, _TABLES),
    st.builds("update {} set {} = 1;".format, _TABLES, _COLUMNS),
)


@settings(
    derandomize=True,
    max_examples=2000 if os.environ.get("SUPAMIGRATE_LONG") else 150,
    deadline=None,
)
@given(st.lists(st.lists(_STATEMENT, min_size=1, max_size=4), min_size=2, max_size=8))
@example(  # an adversarial review's: a user abs(int, int) made early, used as a default late
    [
        [
            "create function public.abs(a int, b int) returns int language sql immutable "
            "set search_path = '' as 'select 1';"
        ],
        ["alter table public.t add column d0 int default abs(1, 2);"],
    ]
)
@example(  # ... and a check validated early, SET NOT NULL on the same name late
    [
        [
            "create table public.t (a int, b int not null, c int);",
            "alter table public.t add constraint k0 check (a is not null) not valid;",
        ],
        ["alter table public.t validate constraint k0;"],
        [
            "alter table public.u add column z0 text;",
            "create table public.t (a int, b int not null, c int);",
            "alter table public.t alter column a set not null;",
        ],
    ]
)
def test_two_cores_agree_on_generated_histories(history: list[list[str]]) -> None:
    """Property: on generated histories whose files make and ask facts (stable functions,
    validated checks, indexes, domains, tables made before), two cores find what one finds.
    An answer that relied on a fact being absent must say it consulted the facts."""
    files = [(f"{n:03}.sql", "\n".join(statements)) for n, statements in enumerate(history)]
    sequential = lint_files(files, parallel=False)
    known = Known()
    two = _drop_indexed_foreign_keys(lint_in_two(files, known, _lint_one), known)
    assert two == sequential


_KEYED = st.one_of(
    _STATEMENT,
    st.builds("alter table {} add column f{} int references {} (a);".format, _TABLES, _N, _TABLES),
    st.builds(
        "create table {} (a int, b int, foreign key (a, b) references {} (a, b));".format,
        _TABLES,
        _TABLES,
    ),
    st.builds("create index m{} on {} (a, b);".format, _N, _TABLES),
    st.builds("create index e{} on {} ((a + 1), c);".format, _N, _TABLES),
)


_KEY = (
    "create table if not exists public.t (a int primary key, b int, c int references public.u (a));"
)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(st.lists(_KEYED, min_size=1, max_size=5), min_size=1, max_size=6))
@example([[_KEY, "create unique index i1 on public.t (c) where c > 0;"]])  # partial: no
@example([[_KEY, "create index i1 on public.t (c, a);"]])  # leading column: yes
@example([[_KEY, "create index i1 on public.t (a, c);"]])  # not leading: no
@example([[_KEY, "create index e1 on public.t ((c + 1), c);"]])  # expression first: no
@example([["create index i1 on public.t (c);"], [_KEY]])  # an earlier file's
@example([[_KEY], ["create index i1 on public.t (c);"]])  # a later file's: dropped at the end
@example(
    [
        [
            "create table public.v (a int, b int, foreign key (a, b) references public.u (a, b));",
            "create index m1 on public.v (b, a);",
        ]
    ]
)
def test_foreign_keys_left_unmade_are_those_the_run_would_drop(history: list[list[str]]) -> None:
    """Property: skipping a foreign key finding that an index of its file (or one known
    already) covers gives what making every one and dropping the covered ones at the end of
    the run gives, on generated histories of keys, full, partial, multi-column and expression
    indexes, in the same file, earlier and later ones."""
    from unittest import mock

    from supamigrate.lint import hazards

    files = [(f"{n:03}.sql", "\n".join(statements)) for n, statements in enumerate(history)]
    skipping = lint_files(files, parallel=False)
    with mock.patch.object(hazards, "_indexed", lambda *_: False):
        every = lint_files(files, parallel=False)
    assert skipping == every


def test_kinds_the_engine_does_not_learn_from_teach_nothing() -> None:
    """The engine calls learn only for LEARNT_KINDS: no statement of another kind in any
    example of both rule files makes a fact."""
    from test_lint import CASES as FIRST_CASES

    from supamigrate.lint.known import LEARNT_KINDS, learn

    seen = set()
    for _, hazard, safe in CASES + FIRST_CASES:
        for sql in (hazard, safe):
            for statement in read_sql(sql).statements:
                known = Known()
                known.log = []
                learn(known, statement)
                seen.add(statement.kind)
                assert statement.kind in LEARNT_KINDS or not known.log, statement.text
    assert seen - LEARNT_KINDS  # the examples do hold other kinds
