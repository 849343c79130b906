"""What a rollback cannot undo, and what one transaction cannot tell: a rehearsal runs on the
real target, so a file calling setval(), making a replication slot or reaching a second
connection is not run (not rehearsed from here, with the line and why); what stays anyway (a
call no reading can see) is found by the fingerprint and fails the rehearsal. Each case is
checked against the database afterwards, as the app would meet it."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from supamigrate.connect.db import session

SLOT = f"outlives_slot_{os.getpid()}"
BUMP = (
    "create function public.bump() returns trigger language plpgsql as "
    "$$ begin perform setval('public.s', 1, false); return new; end $$"
)
ORDERS = (
    "create table public.orders (id serial primary key, v text);\n"
    "insert into public.orders (v) select 'x' from generate_series(1, 100);\n"
)


def _sql(project: Any, sql: str) -> list[Any]:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []


def _rehearse(project: Any, *flags: str) -> tuple[int, dict[str, Any]]:
    result = project.invoke("migrate", "--rehearse", "--json", *flags)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_setval_is_not_run_and_the_apps_next_insert_works(project: Any) -> None:
    """`truncate; setval(..., 1, false)`: not rehearsed from line 2 (exit 0, a file not
    rehearsed is no failure), the sequence where it was, the app's next insert succeeds, and
    the file after it is not rehearsed either."""
    _sql(project, ORDERS)
    project.write(
        "001_reset.sql",
        "truncate public.orders;\n"
        "select setval(pg_get_serial_sequence('public.orders', 'id'), 1, false);\n",
    )
    project.write("002_after.sql", "select 1;\n")
    code, doc = _rehearse(project)
    assert code == 0, doc
    first, second = doc["rehearsal"]
    assert first["result"] == "not_rehearsed", first
    assert first["not_rehearsed_because"].startswith("line 2: setval()"), first
    assert second["result"] == "not_rehearsed", second
    assert doc["summary"]["changed_outside"] == [], doc["summary"]
    assert _sql(project, "select last_value from public.orders_id_seq") == [(100,)]
    (row,) = _sql(project, "insert into public.orders (v) values ('app') returning id")
    assert row == (101,)


@pytest.mark.parametrize(
    ("setup", "sql", "why"),
    [
        ("", "do $$ begin perform setval('public.s', 1, false); end $$;\n", "line 1: setval()"),
        (
            "",
            "create function public.reset_s() returns bigint language sql\n"
            "  as $$ select setval('public.s', 1, false) $$;\nselect public.reset_s();\n",
            "line 3: reset_s() calls setval()",
        ),
        (
            "create function public.reset_s() returns void language plpgsql as "
            "$$ begin perform setval('public.s', 1, false); end $$;",
            "-- the function is on the target already\nselect public.reset_s();\n",
            "line 2: reset_s(), a function on the target",
        ),
        (
            "",
            "create table public.t (id int);\n" + BUMP + ";\n"
            "create trigger bump after insert on public.t\n"
            "  for each row execute function public.bump();\n"
            "insert into public.t values (1);\n",
            "line 3: bump() calls setval()",
        ),
        (
            "create table public.t (id int);" + BUMP + "; create trigger bump after insert on "
            "public.t for each row execute function public.bump();",
            "select 1;\ninsert into public.t values (1);\n",
            "line 2: it writes public.t, whose trigger function bump()",
        ),
        ("", "select pg_terminate_backend(0);\n", "line 1: pg_terminate_backend()"),
        (
            "",
            "create table public.cdc (id int primary key);\n"
            f"select pg_create_physical_replication_slot('{SLOT}', true);\n",
            "line 2: pg_create_physical_replication_slot()",
        ),
        (
            "",
            "select 1;\nselect pg_logical_emit_message(false, 'p', 'x');\n",
            "line 2: pg_logical_emit_message()",
        ),
    ],
    ids=[
        "do-block",
        "made-here",
        "on-target",
        "trigger-made-here",
        "trigger-on-target",
        "terminate",
        "slot",
        "emit-message",
    ],
)
def test_a_call_no_rollback_undoes_is_found_where_it_hides(
    project: Any, setup: str, sql: str, why: str
) -> None:
    _sql(project, "create sequence public.s; select nextval('public.s');" + setup)
    project.write("001_hidden.sql", sql)
    code, doc = _rehearse(project)
    (verdict,) = doc["rehearsal"]
    assert code == 0 and verdict["result"] == "not_rehearsed", doc
    assert verdict["not_rehearsed_because"].startswith(why), verdict
    assert _sql(project, "select last_value from public.s") == [(1,)]
    slots = "select count(*) from pg_replication_slots where slot_name = %s"
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(slots, (SLOT,))
        assert cur.fetchall() == [(0,)]


def test_a_transactional_message_is_rehearsed(project: Any) -> None:
    """pg_logical_emit_message(true, ...) goes with the transaction: rehearsed like any call."""
    project.write("001_message.sql", "select pg_logical_emit_message(true, 'p', 'x');\n")
    code, doc = _rehearse(project)
    assert code == 0 and doc["rehearsal"][0]["result"] == "ok", doc


def test_what_stays_anyway_is_found_and_fails_the_rehearsal(project: Any) -> None:
    """A slot made and a sequence set back through SQL built at run time (no reading sees
    them): the rehearsal does not say "nothing was changed", names both, exits 1."""
    _sql(project, ORDERS)
    slot = f"rehearsal_slot_{os.getpid()}"
    project.write(
        "001_dynamic.sql",
        "do $$ begin execute 'select set' || 'val(''public.orders_id_seq'', 1, false)'; end $$;\n"
        f"do $$ begin execute 'select pg_create_physical' || '_replication_slot(''{slot}'')';"
        " end $$;\n",
    )
    undo = (
        "select setval('public.orders_id_seq', 100);\n"
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
        f"where slot_name = '{slot}'"
    )
    try:
        code, doc = _rehearse(project)
        _sql(project, undo)  # as the rehearsal says to: then the same again, in words
        human = project.invoke("migrate", "--rehearse").stdout
    finally:
        _sql(project, undo)
    assert code == 1, doc
    changed = doc["summary"]["changed_outside"]
    assert any(c.startswith(f"replication slot {slot} (physical) made") for c in changed), changed
    assert any("orders_id_seq was set back from 100" in c for c in changed), changed
    assert "nothing was changed" not in human and "NOT these changes" in human


def test_a_key_holding_the_shared_now_is_not_called_a_failure(project: Any) -> None:
    """One insert per file into a table keyed by now(): the real run passes (a clock per
    file); the rehearsal (one clock) says why it cannot tell, and does not say failed."""
    project.write(
        "001_log.sql",
        "create table public.app_log (at timestamptz primary key default now(), note text);\n"
        "insert into public.app_log (note) values ('a');\n",
    )
    project.write("002_log.sql", "insert into public.app_log (note) values ('b');\n")
    code, doc = _rehearse(project)
    assert code == 0 and doc["summary"]["failed"] == 0, doc
    second = doc["rehearsal"][1]
    assert second["result"] == "not_rehearsed", second
    assert "one transaction with one clock" in second["not_rehearsed_because"], second
    assert project.invoke("migrate", "--skip-confirm").returncode == 0


def test_a_pg_temp_function_does_not_reach_the_next_file(project: Any) -> None:
    """The real run's clean session drops a file's pg_temp function: the rehearsal too, so
    using it in the next file fails in both (42883)."""
    project.write(
        "001_helper.sql",
        "create function pg_temp.helper() returns int language sql as 'select 41';\n"
        "create table public.t2 (id int);\n",
    )
    project.write("002_use.sql", "insert into public.t2 select pg_temp.helper();\n")
    code, doc = _rehearse(project)
    assert code == 1, doc
    assert doc["rehearsal"][1]["error"]["sqlstate"] == "42883", doc["rehearsal"][1]
    real = project.invoke("migrate", "--skip-confirm")
    assert real.returncode == 1 and "42883" in real.stdout


def test_every_pending_file_is_accounted_for(project: Any) -> None:
    """The first of three fails: the other two are not rehearsed (the real run stops there),
    in the text and in --json; --continue-on-error with --rehearse is refused in one line."""
    project.write("001_a.sql", "select 1/0;\n")
    project.write("002_b.sql", "select 1;\n")
    project.write("003_c.sql", "select 2;\n")
    code, doc = _rehearse(project)
    assert code == 1
    assert [r["result"] for r in doc["rehearsal"]] == ["failed", "not_rehearsed", "not_rehearsed"]
    assert doc["summary"]["failed"] == 1 and doc["summary"]["not_rehearsed"] == 2, doc
    human = project.invoke("migrate", "--rehearse").stdout
    assert "1 failed, 2 not rehearsed" in human and "[3/3]" in human, human
    refused = project.invoke("migrate", "--rehearse", "--continue-on-error")
    assert refused.returncode == 2 and refused.stdout == "", refused
    (line,) = refused.stderr.strip().splitlines()
    assert "--continue-on-error and --rehearse" in line, line


def test_a_do_block_lint_does_not_read_is_no_disagreement(project: Any) -> None:
    """Lint says it does not analyse a DO block: a lock the block takes is no disagreement,
    nor is a later statement that finds that lock held."""
    _sql(project, "create table public.t (id int);")
    project.write(
        "001_do.sql",
        "do $$ begin execute 'alter table public.t add column c int'; end $$;\n"
        "alter table public.t add column d int;\n",
    )
    result = project.invoke("migrate", "--rehearse")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AccessExclusiveLock on public.t" in result.stdout, result.stdout
    assert "disagree" not in result.stdout, result.stdout


def test_a_database_setting_made_on_a_second_connection_is_found(
    project: Any, pg_server: Any
) -> None:
    """ALTER DATABASE ... SET through dblink (built at run time): it stays after the rollback,
    and the rehearsal names it and exits 1."""
    with session(pg_server.admin.with_database(project.target.database), autocommit=True) as c:
        c.cursor().execute("create extension dblink")
    user = project.target
    dsn = f"host={user.host} port={user.port} dbname={user.database} user={user.user} password={user.password}"
    change = f"alter database {user.database} set work_mem = '8MB'"
    project.write(
        "001_setting.sql",
        f"do $$ begin execute format('select dblink' || '_exec(%L, %L)', '{dsn}', "
        f"$q${change}$q$); end $$;\n",
    )
    code, doc = _rehearse(project)
    _sql(project, f"alter database {user.database} reset work_mem")
    assert code == 1, doc
    changed = doc["summary"]["changed_outside"]
    assert any(c.startswith("database setting") for c in changed), changed


def test_what_the_rehearsal_cannot_reset_between_files_is_said(project: Any) -> None:
    """A text search dictionary in pg_temp: the real run's DISCARD TEMP drops it, the rehearsal does
    not; the next file is not rehearsed, with that reason, rather than run in a session the
    real run would not give it."""
    project.write(
        "001_dict.sql", "create text search dictionary pg_temp.dict (template = simple);\n"
    )
    project.write("002_next.sql", "select 1;\n")
    code, doc = _rehearse(project)
    assert code == 0, doc
    first, second = doc["rehearsal"]
    assert first["result"] == "ok" and second["result"] == "not_rehearsed", doc
    why = second["not_rehearsed_because"]
    assert "left a text search dictionary dict in pg_temp" in why, second
