"""Safety under concurrency, kills, lock contention; and passwords never shown."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from helpers.polling import query, wait_for
from supamigrate.connect.db import session


def test_sigkill_mid_migration_leaves_no_trace(project: Any) -> None:
    """A runner killed during a slow migration: no table, no row; the next run completes it."""
    project.write(
        "001_cfg.sql",
        "create table public.sleep_cfg (secs float);\ninsert into public.sleep_cfg values (60);\n",
    )
    project.write(
        "002_slow.sql",
        "create table public.slow (id int);\n"
        "select pg_sleep((select secs from public.sleep_cfg));\n"
        "insert into public.slow values (1);\n",
    )
    assert project.invoke("migrate", "--skip-confirm", "--migration", "001").returncode == 0
    runner = project.popen("migrate", "--skip-confirm")
    wait_for(
        project.target,
        "select 1 from pg_stat_activity where query like '%pg_sleep((select secs%' and state = 'active' and pid <> pg_backend_pid()",
    )
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=10)
    # The server notices the vanished client (client_connection_check_interval) and rolls back.
    wait_for(
        project.target,
        "select 1 where not exists (select 1 from pg_stat_activity where query like '%pg_sleep((select secs%' and pid <> pg_backend_pid())",
    )
    assert query(project.target, "select to_regclass('public.slow')") == [(None,)]
    assert query(project.target, "select version from supabase_migrations.schema_migrations") == [
        ("20251201000001",)
    ]
    query(project.target, "update public.sleep_cfg set secs = 0")
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    assert query(project.target, "select count(*) from public.slow") == [(1,)]


def test_lock_timeout_is_reported_with_advice(project: Any) -> None:
    """A migration blocked by another transaction's lock gives up after lock_timeout, saying why."""
    project.write("001_busy.sql", "create table public.busy (id int);\n")
    project.invoke("migrate", "--skip-confirm")
    project.write("002_alter.sql", "alter table public.busy add column c int;\n")
    with session(project.target) as holder, holder.cursor() as cur:
        cur.execute("lock table public.busy in access share mode")  # held until we leave
        started = time.monotonic()
        result = project.invoke("migrate", "--skip-confirm", "--lock-timeout", "1s")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "error 55P03" in result.stdout and "lock_timeout" in result.stdout
    # no statement can be named without waiting again: the report says so, and how to get it
    assert "names no statement" in result.stdout and "--method psql" in result.stdout
    assert elapsed < 15
    assert query(project.target, "select count(*) from supabase_migrations.schema_migrations") == [
        (1,)
    ]


def test_password_never_appears_in_any_output(project: Any, pg_server: Any) -> None:
    """With a distinctive password, no output of any task (ok, failure, json, errors) shows it."""
    password = "Zx9-Unique@Secret:Pw"
    role = f"masker_{project.target.database}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create role {role} login password %s", (password,))
        cur.execute(f"grant all on database {project.target.database} to {role}")
    with (
        session(pg_server.admin.with_database(project.target.database), autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(f"grant all on schema public to {role}")
    url = project.target.with_user(role, password).url()
    project.write("001_ok.sql", "create table public.masked (id int);\n")
    project.write("002_fails.sql", f"select '{password}'::int;\n")
    runs = [
        project.invoke("status", url=url),
        project.invoke("migrate", "--dry", url=url),
        project.invoke("migrate", "--skip-confirm", url=url),
        project.invoke("migrate", "--skip-confirm", "--json", url=url),
        project.invoke("status", url=url.replace("@127.0.0.1", "@127.0.0.1:1")),  # malformed
        project.invoke("status", url=url.replace(f":{project.target.port}/", ":1/")),  # refused
        project.invoke("status", url=project.target.with_user(role, password + "x").url()),  # wrong
    ]
    assert runs[2].returncode == 1  # the failing migration really ran and failed
    for run in runs:
        text = run.stdout + run.stderr
        for form in (password, "Zx9-Unique", "Zx9-Unique%40Secret%3APw"):
            assert form not in text, text
    assert all(run.returncode in (0, 1, 2) for run in runs)
    assert runs[4].returncode == 2 and runs[5].returncode == 1 and runs[6].returncode == 1


def test_user_without_create_privilege_gets_a_clear_error(project: Any, pg_server: Any) -> None:
    """A role that cannot create the history table: one masked line, exit 1, nothing applied."""
    role = f"reader_{project.target.database}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create role {role} login password 'reader-pw-123'")
    project.write("001_t.sql", "create table public.t (id int);\n")
    result = project.invoke(
        "migrate", "--skip-confirm", url=project.target.with_user(role, "reader-pw-123").url()
    )
    assert result.returncode == 1
    assert (
        "Cannot create the history table supabase_migrations.schema_migrations (42501"
        in result.stderr
    )
    assert "Traceback" not in result.stderr and "reader-pw-123" not in result.stdout + result.stderr
    assert query(project.target, "select to_regclass('public.t')") == [(None,)]
    # The table is the problem, not the migration: no failure block blames its line 1.
    assert "001_t ... failed" not in result.stdout and "line 1" not in result.stdout
