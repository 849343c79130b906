"""rollback-rls undoes only what 004 did, and only where 004 ran: an app's own RLS stays on."""

from __future__ import annotations

import shutil
from typing import Any

from helpers.platform_fixtures import populate
from helpers.project import REPO
from supamigrate.connect.db import session

APP_POLICY = (
    "alter table public.files enable row level security;"
    'create policy "files: owners read" on public.files for select to authenticated'
    " using (user_id = (select auth.uid()));"
)


def _ship(project: Any, numbers: tuple[str, ...]) -> None:
    for number in numbers:
        (path,) = (REPO / "migrations").glob(f"{number}_*.sql")
        shutil.copy(path, project.root / "migrations" / path.name)


def _files_state(project: Any) -> tuple[bool, list[str], int]:
    """(RLS on public.files, its policies, rows anon can read)."""
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select relrowsecurity, array(select polname::text from pg_policy "
            "where polrelid = 'public.files'::regclass order by 1) "
            "from pg_class where oid = 'public.files'::regclass"
        )
        enabled, policies = cur.fetchone()
        cur.execute("set local role anon")
        cur.execute("select count(*) from public.files")
        return bool(enabled), list(policies), int(cur.fetchone()[0])


def test_where_004_never_ran_nothing_is_touched(project: Any) -> None:
    """001-003 applied, 004 pending, the app's own RLS on files: rollback-rls changes nothing."""
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=3, rows_per_user=2, app=False)
        cur.execute(APP_POLICY)
    _ship(project, ("001", "002", "003"))
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    _ship(project, ("004",))
    result = project.invoke("rollback-rls", "--skip-confirm")
    assert result.returncode == 0, result.stderr
    assert "004 is not applied on this database" in result.stdout
    assert _files_state(project) == (True, ["files: owners read"], 0)


def test_the_apps_own_policy_keeps_rls_on(project: Any) -> None:
    """004 ran over a files table with its own policy: 004's policies go, RLS stays on."""
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=3, rows_per_user=2, app=False)
        cur.execute(APP_POLICY)
    _ship(project, ("001", "002", "003", "004"))
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    result = project.invoke("rollback-rls", "--skip-confirm")
    assert result.returncode == 0, result.stderr
    assert "public.files keeps RLS on" in result.stdout
    assert _files_state(project) == (True, ["files: owners read"], 0)


def test_a_project_without_004_is_refused(project: Any) -> None:
    """No 004 among the migrations: refused with the reason, exit 2, nothing changed."""
    _ship(project, ("001",))
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    result = project.invoke("rollback-rls", "--skip-confirm")
    assert result.returncode == 2 and "no 004 here" in result.stderr


def test_before_005_the_tenancy_tables_keep_001s_rls(project: Any) -> None:
    """A database where 004 ran and 005 did not (no record yet): 004's policies go, RLS goes
    from the platform tables 004 turned it on for, never from tenants and user_tenants."""
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=3, rows_per_user=2, app=False)
    _ship(project, ("001", "002", "003", "004"))
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    result = project.invoke("rollback-rls", "--skip-confirm")
    assert result.returncode == 0, result.stderr
    assert "tenants disable" not in result.stdout and "then `invoke" not in result.stdout
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select relname, relrowsecurity, (select count(*) from pg_policy where polrelid = c.oid) "
            "from pg_class c where relnamespace = 'public'::regnamespace and relkind = 'r' order by 1"
        )
        assert cur.fetchall() == [
            ("audit_logs", False, 0),
            ("files", False, 0),
            ("sessions", False, 0),
            ("tenants", True, 0),
            ("user_tenants", True, 0),
        ]
        cur.execute("set local role anon")
        cur.execute(
            "select (select count(*) from public.tenants) + (select count(*) from public.user_tenants)"
        )
        assert cur.fetchone() == (0,)
