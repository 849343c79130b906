"""rollback-rls returns each platform table's RLS to what it was before 004 (hypothesis).

Generated pre-tenant apps: each of files, audit_logs and sessions with RLS on or off and with
or without a policy of the app's (RLS on and no policy is Supabase's deny-all table, read by
service_role only); 001-005 applied by a method (psycopg2, psql; the Supabase CLI once), in one run or 004 and 005 in runs of their
own; then rollback-rls. Every table's RLS flag and policies are what they were before, and
anon reads no row of a table whose RLS was on.

Found on the shape users have: an audit log with RLS on and no policy had its RLS turned OFF
by rollback-rls (005 could only guess that 004 had turned it on), and anon read every row.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers.platform_fixtures import populate
from helpers.project import REPO, Project
from helpers.supabase_cli import CLI
from supamigrate.connect.db import session

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
TABLES = ("files", "audit_logs", "sessions")

State = dict[str, tuple[bool, tuple[str, ...]]]


def _ship(project: Project, numbers: tuple[str, ...]) -> None:
    for number in numbers:
        (path,) = (REPO / "migrations").glob(f"{number}_*.sql")
        shutil.copy(path, project.root / "migrations" / path.name)


def _state(project: Project) -> State:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select c.relname::text, c.relrowsecurity, array(select polname::text from "
            "pg_policy where polrelid = c.oid order by 1) from pg_class c "
            "where c.relnamespace = 'public'::regnamespace and c.relname = any(%s)",
            (list(TABLES),),
        )
        return {name: (bool(rls), tuple(policies)) for name, rls, policies in cur.fetchall()}


def _anon_reads(project: Project, table: str) -> int:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("set local role anon")
        cur.execute(f"select count(*) from public.{table}")
        return int(cur.fetchone()[0])


apps = st.fixed_dictionaries(
    {t: st.tuples(st.booleans(), st.booleans()) for t in TABLES}  # (RLS on, a policy of its own)
)


@settings(
    max_examples=40 if LONG else 3,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(  # the deny-all audit log of the shape users have
    app={"files": (True, True), "audit_logs": (True, False), "sessions": (True, True)},
    method="psycopg2",
    separate=False,
)
@example(  # the Supabase CLI applies 004: the note is taken right before its push
    app={"files": (True, False), "audit_logs": (True, False), "sessions": (False, True)},
    method="supabase",
    separate=True,
)
@given(
    app=apps,
    method=st.sampled_from(("psycopg2", "psql")),
    separate=st.booleans(),
)
def test_rollback_rls_leaves_each_tables_rls_as_it_was_before_004(
    make_db: Callable[[], Any],
    tmp_path_factory: Any,
    app: dict[str, tuple[bool, bool]],
    method: str,
    separate: bool,
) -> None:
    project = Project.create(Path(tmp_path_factory.mktemp("app")), make_db())
    if method == "supabase":  # the CLI pushes to the URL; it wants the repo's config.toml
        project.env["SUPABASE_CLI"] = str(CLI)
        shutil.copy(REPO / "supabase" / "config.toml", project.root / "supabase" / "config.toml")
        (project.root / "supabase" / ".temp").mkdir()
        (project.root / "supabase" / ".temp" / "project-ref").write_text("abcdefghijklmnopqrst\n")
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=3, rows_per_user=2, app=False)
        for table, (rls, policy) in app.items():
            cur.execute(f"alter table public.{table} disable row level security")
            for (name,) in _policies(cur, table):
                cur.execute(f'drop policy "{name}" on public.{table}')
            if policy:
                cur.execute(
                    f'create policy "{table}: own rows" on public.{table} for select '
                    "to authenticated using (user_id = (select auth.uid()))"
                )
            if rls:
                cur.execute(f"alter table public.{table} enable row level security")
    before = _state(project)
    runs = (
        (("001", "002", "003", "004"), ("005",))
        if separate
        else (("001", "002", "003", "004", "005"),)
    )
    for numbers in runs:
        _ship(project, numbers)
        result = project.invoke("migrate", "--skip-confirm", "--method", method)
        assert result.returncode == 0, result.stdout + result.stderr
    result = project.invoke("rollback-rls", "--skip-confirm")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _state(project) == before, result.stdout
    # Again, as the rollback's own message says: the note is taken afresh, in silence.
    again = project.invoke("migrate", "--skip-confirm", "--method", method)
    assert again.returncode == 0 and "rls_before_004" not in again.stdout, again.stdout
    result = project.invoke("rollback-rls", "--skip-confirm")
    assert result.returncode == 0 and _state(project) == before, result.stdout
    for table, (rls, _) in app.items():
        if rls:
            assert _anon_reads(project, table) == 0, table


def _policies(cur: Any, table: str) -> list[tuple[str]]:
    cur.execute(f"select polname from pg_policy where polrelid = 'public.{table}'::regclass")
    return list(cur.fetchall())
