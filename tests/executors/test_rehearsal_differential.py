"""A rehearsal predicts the real run, differentially: generated sequences of migration files
(DDL and DML, deferred and immediate constraints, enum changes, settings, failing statements,
no-transaction files, calls no rollback undoes (setval, a replication slot), session state
across files (a pg_temp function or operator, currval), rows keyed by now()) are rehearsed on one database and applied for real on an identical copy
(CREATE DATABASE ... TEMPLATE). Per file, the rehearsal's verdict (ok; failed with SQLSTATE at
file and line; not rehearsed from here) must be the real run's, up to the real run's first
failure. "Not rehearsed" is neither: it must only come where only a commit could tell.

Fixed seed and few examples by default; SUPAMIGRATE_LONG=1 runs many more.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supamigrate.connect.db import session
from supamigrate.executors import fingerprint as fp
from supamigrate.executors.base import Settings
from supamigrate.executors.registry import REGISTRY
from supamigrate.executors.results import Outcome, Result
from supamigrate.project.files import MigrationFile

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
BASE = """
create table public.parent (id int primary key);
create table public.child (id int primary key,
  pid int references public.parent deferrable initially deferred);
create table public.imm (id int primary key,
  pid int references public.parent deferrable initially immediate);
create type public.mood as enum ('calm');
create table public.moods (m public.mood);
create schema other;
insert into public.parent values (1), (2);
create table public.numbered (id serial primary key);
insert into public.numbered default values;
insert into public.numbered default values;
create table public.clock (at timestamptz primary key default now(), note text);
"""
SLOT = f"diff_slot_{os.getpid()}"
_names = itertools.count(1)

keys = st.integers(1, 5)
values = st.sampled_from(["v1", "v2"])
STATEMENT = st.one_of(
    keys.map(lambda k: f"insert into public.parent values ({k});"),
    st.tuples(keys, keys).map(lambda kp: f"insert into public.child values ({kp[0]}, {kp[1]});"),
    st.tuples(keys, keys).map(lambda kp: f"insert into public.imm values ({kp[0]}, {kp[1]});"),
    keys.map(lambda k: f"delete from public.parent where id = {k};"),
    keys.map(lambda k: f"update public.child set pid = {k};"),
    st.sampled_from(
        [
            "set constraints all immediate;",
            "set constraints all deferred;",
            "set constraints public.child_pid_fkey immediate;",
            "set constraints public.imm_pid_fkey deferred;",
            "set search_path = other;",
            "set role authenticated;",
            # The file's own timeout, far from any statement's time (a 1ms one is a coin toss).
            "set local statement_timeout = '250ms';",
            "select pg_sleep(0.6);",
            "insert into parent values (4);",
            "create temp table scratch (id int);",
            "select 1/0;",
            "create table public.fresh (id int primary key,\n  pid int references public.parent"
            " deferrable initially deferred);",
            "insert into public.fresh values (1, 4);",
            "alter table public.child add column note text;",
            "create index on public.child (pid);",
        ]
    ),
    st.sampled_from(
        ACROSS := [
            # No rollback undoes these: a rehearsal must not run them, nor anything after.
            "select setval('public.numbered_id_seq', 1, false);",
            "select 1 from (select pg_create_physical_replication_slot('" + SLOT + "')) s;",
            "insert into public.numbered default values;",
            # Session state the real run's clean session drops between files.
            "select currval('public.numbered_id_seq');",
            "create function pg_temp.helper() returns int language sql as 'select 41';",
            "select pg_temp.helper();",
            "create operator pg_temp.<<< (function = int4eq, leftarg = int, rightarg = int);",
            "select 1 operator(pg_temp.<<<) 1;",
            # One now() per file there, one for the whole rehearsal here.
            "insert into public.clock (note) values ('x');",
            "insert into public.clock (note) values ('x');",
            # The file's own DISCARD TEMP; a cursor WITH HOLD, whose rest COMMIT runs.
            "create temp table scratch2 (id int);\ndiscard temp;",
            "declare held cursor with hold for select 1 / (x - 2) from generate_series(1, 3) x;",
        ]
    ),
    values.map(lambda v: f"alter type public.mood add value if not exists '{v}';"),
    values.map(lambda v: f"insert into public.moods values ('{v}');"),
)
# A statement may follow a comment line, so lines are counted past comments.
LINE = st.tuples(st.booleans(), STATEMENT).map(lambda cs: ("-- why\n" if cs[0] else "") + cs[1])
TRANSACTIONAL = st.lists(LINE, min_size=1, max_size=4).map(lambda lines: "\n".join(lines) + "\n")
NO_TRANSACTION = st.sampled_from(
    [
        "-- supamigrate:no-transaction\ncreate index concurrently if not exists p_idx"
        " on public.parent (id);\n",
        "-- supamigrate:no-transaction\ninsert into public.parent values (5);\n",
    ]
)
# Files made mostly of what crosses a file's boundary: several files each, so a file meets
# what an earlier one left (or should not have left).
ACROSS_FILES = st.lists(
    st.lists(st.sampled_from([*ACROSS, "insert into public.parent values (3);"]), max_size=3)
    .filter(bool)
    .map(lambda lines: "\n".join(lines) + "\n"),
    min_size=2,
    max_size=4,
)
FILES = st.lists(
    st.one_of(TRANSACTIONAL, TRANSACTIONAL, TRANSACTIONAL, NO_TRANSACTION), min_size=1, max_size=4
)


def _files(root: Path, texts: list[str]) -> list[MigrationFile]:
    folder = root / "supabase" / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    found = []
    for index, sql in enumerate(texts, 1):
        version = f"2025010100{index:04d}"
        path = folder / f"{version}_m{index}.sql"
        path.write_text(sql)
        found.append(MigrationFile(version, f"m{index}", path, sql, f"{version}_m{index}"))
    return found


def _executor(db: Any, root: Path) -> Any:
    return REGISTRY["psycopg2"](
        Settings(db, root, root / "supabase", environ=dict(os.environ), say=lambda _: None)
    )


def _verdict(result: Result) -> tuple[str, str, int]:
    failure = result.failure
    if failure is None:
        return (result.outcome.value, "", 0)
    return ("failed", failure.sqlstate, failure.line)


@pytest.fixture(scope="module")
def base(pg_server: Any) -> Iterator[str]:
    """The database every example starts from: the shim and BASE."""
    name = f"diff_base_{os.getpid()}"
    user = pg_server.user
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name} template supamigrate_template owner {user.user}")
    with session(user.with_database(name)) as conn, conn.cursor() as cur:
        cur.execute(BASE)
    yield name
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop database if exists {name} with (force)")


@settings(
    max_examples=400 if LONG else 20,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(texts=FILES)
def test_the_rehearsal_predicts_the_real_run(
    pg_server: Any, base: str, tmp_path: Path, texts: list[str]
) -> None:
    """Per file, up to the real run's first failure: ok where it is ok, failed with the same
    SQLSTATE (and line, where the real run names one) where it fails, or not rehearsed from
    here, only where only a commit could tell (after a no-transaction file, an enum value added
    by an earlier file, a call no rollback undoes, a key holding the shared now()); and the
    rehearsal changed nothing (so the next example starts from the same database)."""
    _check(pg_server, base, tmp_path, texts)


@settings(
    max_examples=200 if LONG else 12,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(texts=ACROSS_FILES)
def test_what_crosses_a_files_boundary_is_predicted(
    pg_server: Any, base: str, tmp_path: Path, texts: list[str]
) -> None:
    """The same property over files that meet what earlier files left: a pg_temp function and
    currval() (the real run's clean session drops them), now()-keyed rows (one clock here, one
    per file there), setval() and a replication slot (no rollback undoes them: never run by a
    rehearsal, and nothing of them stays)."""
    _check(pg_server, base, tmp_path, texts)


def _check(pg_server: Any, base: str, tmp_path: Path, texts: list[str]) -> None:
    copy = f"{base}_{next(_names)}"
    admin, user = pg_server.admin, pg_server.user
    with session(admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {copy} template {base} owner {user.user}")
    try:
        root = tmp_path / copy
        migrations = _files(root, texts)
        rehearsing = _executor(user.with_database(base), root)
        try:
            rehearsed = rehearsing.rehearse(migrations)
        finally:
            rehearsing.close()
        # Only a sequence moved forward (nextval is never rolled back) may stay.
        stayed = [c for c in rehearsed.changed_outside or [] if not fp.is_harmless(c)]
        assert rehearsed.changed_outside is not None and stayed == [], stayed
        applying = _executor(user.with_database(copy), root)
        try:
            applying.read_history()
            real = applying.apply(migrations, rerun=False, on_result=lambda _: None)
        finally:
            applying.close()
        _compare(texts, list(rehearsed), real)
    finally:
        with session(admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"drop database if exists {copy} with (force)")
            cur.execute(
                "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                "where slot_name = %s",
                (SLOT,),
            )


@pytest.mark.parametrize(
    "texts",
    [
        # COMMIT runs the rest of a cursor WITH HOLD: 22012 there, at COMMIT
        ["declare c cursor with hold for select 1 / (x - 2) from generate_series(1, 3) x;\n"],
        ["declare c cursor with hold for select x from generate_series(1, 3) x;\n", "select 1;\n"],
        # a file's DISCARD TEMP dropped the rehearsal's guard too: 55006 there, ok for real
        ["create temp table tt (id int);\ndiscard temp;\n", "select 1;\n"],
        [
            "create function pg_temp.f() returns int language sql as 'select 1';\ndiscard temp;\n"
            "select pg_temp.f();\n"
        ],
        # a file the server cannot parse: nothing of it runs (the rehearsal ran what parsed)
        ["do $$ begin perform 1; end;\n"],
        ["select 1;\n", "create table public.half (x int);\n/* open\n"],
        # an enum value an earlier file added by SQL the parser does not see (a DO block):
        # only a commit could tell (the real run commits it first); in the same file: 55P04
        [
            "do $$ begin alter type public.mood add value 'v3'; end $$;\n",
            "insert into public.moods values ('v3');\n",
        ],
        [
            "do $$ begin alter type public.mood add value 'v3'; end $$;\n"
            "insert into public.moods values ('v3');\n"
        ],
    ],
    ids=[
        "held-cursor-fails",
        "held-cursor-ok",
        "discard-temp",
        "discard-temp-function",
        "unterminated-dollar",
        "unterminated-comment",
        "enum-value-in-do-block",
        "enum-value-in-do-block-same-file",
    ],
)
def test_commit_time_session_work_is_predicted(
    pg_server: Any, base: str, tmp_path: Path, texts: list[str]
) -> None:
    """What COMMIT and a file's own DISCARD TEMP do, found by the property above; a file that
    does not parse (migrate refuses it first; the executor must not call it ok either)."""
    _check(pg_server, base, tmp_path, texts)


def test_constraints_the_migrator_cannot_name_are_left_to_their_owners(
    pg_server: Any, base: str, tmp_path: Path
) -> None:
    """A deferrable constraint in a schema the migrator may not use, or in another session's
    temp schema (an app's connection), cannot be named in SET CONSTRAINTS (42501), and no
    file of this rehearsal can have left work pending there: every file "failed at COMMIT"
    in the rehearsal, and applied for real."""
    texts = ["create table public.zz (x int);\n", "insert into public.child values (9, 7);\n"]
    copies = [f"{base}_{next(_names)}" for _ in range(2)]
    admin = pg_server.admin
    with session(admin, autocommit=True) as conn, conn.cursor() as cur:
        for copy in copies:
            cur.execute(f"create database {copy} template {base} owner {pg_server.user.user}")
    closed = "create table locked.c (pid int references locked.p deferrable initially deferred)"
    try:
        for copy in copies:
            with session(admin.with_database(copy), autocommit=True) as conn, conn.cursor() as cur:
                cur.execute(
                    "create schema locked; create table locked.p (id int primary key);"
                    f"{closed}; revoke all on schema locked from public"
                )
        with session(admin.with_database(copies[0])) as other, other.cursor() as cur:
            cur.execute(  # another session's temp table, open while the rehearsal runs
                "create temp table held (id int primary key, "
                "pid int references held deferrable initially deferred)"
            )
            root = tmp_path / copies[0]
            migrations = _files(root, texts)
            rehearsing = _executor(pg_server.user.with_database(copies[0]), root)
            try:
                rehearsed = rehearsing.rehearse(migrations)
            finally:
                rehearsing.close()
        applying = _executor(pg_server.user.with_database(copies[1]), root)
        try:
            applying.read_history()
            real = applying.apply(migrations, rerun=False, on_result=lambda _: None)
        finally:
            applying.close()
        _compare(texts, list(rehearsed), real)
        assert real[0].outcome is Outcome.OK, real[0].failure
        assert _verdict(rehearsed[1])[:2] == ("failed", "23503"), rehearsed[1]  # still checked
    finally:
        with session(admin, autocommit=True) as conn, conn.cursor() as cur:
            for copy in copies:
                cur.execute(f"drop database if exists {copy} with (force)")


_NOT_IN_TEMP = ("42883", "42P01", "42704")


def _compare(texts: list[str], rehearsed: list[Result], real: list[Result]) -> None:
    shown = "\n".join(f"--- file {i}\n{t}" for i, t in enumerate(texts, 1))
    stopped = False
    for index, done in enumerate(real):
        if index >= len(rehearsed):
            raise AssertionError(f"the rehearsal stopped before file {index + 1}\n{shown}")
        guess = rehearsed[index]
        if guess.outcome is Outcome.NOT_REHEARSED:
            why = guess.trace.stopped if guess.trace else ""
            if not stopped:
                allowed = (
                    "runs outside a transaction",
                    "enum",
                    "(--rehearse-limit)",
                    "a rehearsal does not run it on the target",
                    "one transaction with one clock",
                )
                assert any(reason in why for reason in allowed), f"{why}\n{shown}"
            stopped = True
            continue
        assert not stopped, f"a file after one not rehearsed was rehearsed\n{shown}"
        want, got = _verdict(done), _verdict(guess)
        if done.outcome is Outcome.PARTIAL:
            want = ("failed", want[1], want[2])
        if want[2] == 0:  # the real run could not name a line (an error at COMMIT, a timeout)
            got = (got[0], got[1], 0)
        if want[1] == "3F000" and got[1] in _NOT_IN_TEMP and "pg_temp." in texts[index]:
            # A session that never made a temp object has no pg_temp schema (3F000); the
            # rehearsal's own guard is a temp table, so there the object is missing (42883).
            # The same failure at the same line: a known limit (docs/decisions.md).
            got = (got[0], want[1], got[2])
        assert got == want, f"file {index + 1}: rehearsal {got}, real {want}\n{shown}"
