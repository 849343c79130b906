"""A team's ordinary day with no flags: the shipped four, a file from `supabase migration new`,
a migrations/005 written after it, the mirror run twice, rollback-rls and back."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pytest

from helpers.platform_fixtures import populate
from helpers.project import REPO
from helpers.tenancy import copy_shipped
from supamigrate.connect.db import session

CLI = REPO / "node_modules" / ".bin" / "supabase"


def _applied(project: Any) -> list[str]:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select version || '_' || name from supabase_migrations.schema_migrations order by 1"
        )
        return [row[0] for row in cur.fetchall()]


def _rls_on_files(project: Any) -> bool:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select relrowsecurity from pg_class where oid = 'public.files'::regclass")
        return bool(cur.fetchone()[0])


@pytest.mark.skipif(not CLI.exists(), reason="npm ci has not installed the Supabase CLI")
def test_a_teams_day(project: Any) -> None:
    """Both new files apply in the order written with no flag; 006 keeps its version through two
    mirrors; rollback-rls then `invoke migrate --migration 004` and 005 turn RLS back on."""
    project.env.pop("SOURCE_DATE_EPOCH")  # the real clock, as on a developer's machine
    copy_shipped(project.root)
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=5, rows_per_user=3, app=False)  # files had no RLS before 004
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    made = subprocess.run(
        [str(CLI), "migration", "new", "add_notes", "--workdir", str(project.root)],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": ""},
        check=True,
    )
    (cli_file,) = (project.root / "supabase" / "migrations").glob("*_add_notes.sql")
    cli_file.write_text(
        "create table public.notes (id int primary key, body text);\n"
        "alter table public.notes enable row level security;\n"
    )
    time.sleep(1.1)  # written a moment later, as people do
    project.write("006_pin_notes.sql", "alter table public.notes add column pinned boolean;\n")
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0, (made.stdout, result.stdout, result.stderr)
    applied = _applied(project)
    assert applied[-2:] == [cli_file.stem, applied[-1]] and applied[-1].endswith("_pin_notes")
    for _ in range(2):
        assert project.invoke("mirror").returncode == 0
        assert (project.root / "supabase" / "migrations" / f"{applied[-1]}.sql").is_file()
    rolled = project.invoke("rollback-rls", "--skip-confirm")
    assert rolled.returncode == 0 and not _rls_on_files(project)
    assert "invoke migrate --migration 004" in rolled.stdout
    assert "then `invoke migrate --migration 005`" in rolled.stdout
    for number in ("004", "005"):
        again = project.invoke("migrate", "--skip-confirm", "--migration", number)
        assert again.returncode == 0, again.stdout + again.stderr
    assert _rls_on_files(project)
    assert project.invoke("verify").returncode == 0
