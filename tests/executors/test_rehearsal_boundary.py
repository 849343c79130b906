"""A rehearsal predicts the real run where 005 ran: the runner's boundary guard bounds each
tenant table a migration makes (executors/boundary_guard.py), and a later file meets the
guard's policies: a `tenant_id` they name cannot be retyped (0A000) or dropped (2BP01), a
policy of the same name cannot be made again (42710). Generated sequences of later files are
rehearsed on one database and applied for real on an identical copy; per file the verdicts,
and the guard's notices, must be the same, and the rehearsal changes nothing.

Fixed seed and few examples by default; SUPAMIGRATE_LONG=1 runs many more.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executors.test_rehearsal_differential import _compare, _files
from helpers.platform_fixtures import populate
from helpers.tenancy import REPO, apply, copy_shipped
from supamigrate.connect.db import session
from supamigrate.executors import fingerprint as fp
from supamigrate.executors.base import Settings
from supamigrate.executors.boundary_guard import NOTICE_PREFIX, guard_from
from supamigrate.executors.psycopg2 import Psycopg2Executor
from supamigrate.executors.results import Outcome, Result
from supamigrate.local.demo_app import create_app
from supamigrate.project.files import MigrationFile

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
_names = itertools.count(1)
COLUMNS = "id uuid primary key default gen_random_uuid(), name text"
STATEMENT = st.sampled_from(
    [
        f"create table if not exists public.projects ({COLUMNS}, tenant_id uuid);",
        f"create table if not exists public.projects ({COLUMNS});",
        f"do $$ begin create table public.projects ({COLUMNS}, tenant_id uuid); "
        "exception when duplicate_table then null; end $$;",
        "alter table public.projects add column if not exists tenant_id uuid;",
        "alter table public.projects alter column tenant_id type text;",
        "alter table public.projects drop column if exists tenant_id;",
        "alter table public.projects enable row level security;",
        "alter table public.projects disable row level security;",
        'create policy "tenant members can read" on public.projects for select '
        "to authenticated using (true);",
        'drop policy if exists "tenant boundary: select" on public.projects;',
        "insert into public.projects (name, tenant_id) select 'p', id from public.tenants limit 1;",
        "drop table if exists public.projects;",
    ]
)
FILE = st.lists(STATEMENT, min_size=1, max_size=3).map(lambda lines: "\n".join(lines) + "\n")
FILES = st.lists(FILE, min_size=2, max_size=4)


@pytest.fixture(scope="module")
def bounded(pg_server: Any) -> Iterator[str]:
    """A template database: the app with users and rows, 001-005 applied."""
    name = f"rehb_{uuid.uuid4().hex[:8]}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name} template supamigrate_template owner postgres")
    target = pg_server.user.with_database(name)
    with session(target) as conn, conn.cursor() as cur:
        create_app(cur, [])
        populate(cur, users=2, rows_per_user=1, app=False)
    apply(target)
    yield name
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop database {name} with (force)")


def _executor(target: Any, root: Path, todo: list[MigrationFile]) -> Psycopg2Executor:
    executor = Psycopg2Executor(Settings(target, root, root / "supabase"))
    executor.guard_from = guard_from(executor.read_history() or [], todo)  # as migrate does
    return executor


def _bounded(results: list[Result]) -> list[bool]:
    return [r.outcome is Outcome.OK and any(NOTICE_PREFIX in n for n in r.notices) for r in results]


@settings(
    max_examples=200 if LONG else 12,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(texts=FILES)
def test_the_rehearsal_runs_the_boundary_guard_as_the_real_run_does(
    pg_server: Any, bounded: str, tmp_path: Path, texts: list[str]
) -> None:
    copies = [f"{bounded}_{next(_names)}" for _ in range(2)]
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        for copy in copies:
            cur.execute(f"create database {copy} template {bounded} owner postgres")
    try:
        root = tmp_path / copies[0]
        todo = _files(root, texts)
        rehearsing = _executor(pg_server.user.with_database(copies[0]), root, todo)
        try:
            rehearsed = rehearsing.rehearse(todo)
        finally:
            rehearsing.close()
        stayed = [c for c in rehearsed.changed_outside or [] if not fp.is_harmless(c)]
        assert rehearsed.changed_outside is not None and stayed == [], stayed
        applying = _executor(pg_server.user.with_database(copies[1]), root, todo)
        try:
            real = applying.apply(todo, rerun=False, on_result=lambda _: None)
        finally:
            applying.close()
        _compare(texts, list(rehearsed), real)
        assert _bounded(list(rehearsed))[: len(real)] == _bounded(real), texts
    finally:
        with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
            for copy in copies:
                cur.execute(f"drop database if exists {copy} with (force)")


def test_migrate_rehearse_says_what_the_real_run_says(project: Any) -> None:
    """The whole command: the rehearsal shows the guard's notice under the file that made the
    table, and fails the later file where the real run then fails."""
    copy_shipped(project.root)
    shutil.copy(REPO / "supabase" / "config.toml", project.root / "supabase" / "config.toml")
    first = project.invoke("migrate", "--skip-confirm")
    assert first.returncode == 0, first.stdout + first.stderr
    project.write(
        "006_projects.sql",
        f"do $$ begin create table public.projects ({COLUMNS}, tenant_id uuid); "
        "exception when duplicate_table then null; end $$;\n",
    )
    project.write(
        "007_retype.sql", "alter table public.projects alter column tenant_id type text;\n"
    )
    rehearsed = project.invoke("migrate", "--rehearse")
    assert rehearsed.returncode == 1, rehearsed.stdout + rehearsed.stderr
    made, retyped = rehearsed.stdout.split("[2/2]")
    assert f"{NOTICE_PREFIX} public.projects" in made, rehearsed.stdout
    assert "failed" in retyped and "0A000" in retyped, rehearsed.stdout
    real = project.invoke("migrate", "--skip-confirm")
    assert real.returncode == 1, real.stdout + real.stderr
    made, retyped = real.stdout.split("[2/2]")
    assert f"{NOTICE_PREFIX} public.projects" in made, real.stdout
    assert "0A000" in retyped, real.stdout
