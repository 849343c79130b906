"""Interop with the real Supabase CLI (npm package `supabase`): one history, two writers.

Skipped only when the npm packages are absent; `.ci/run` installs them with `npm ci`.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from helpers.project import REPO
from helpers.supabase_cli import CLI, cli, push, rows
from helpers.tenancy import copy_shipped

pytestmark = pytest.mark.skipif(not CLI.exists(), reason="Supabase CLI not installed: run `npm ci`")

AWKWARD = {
    "001_comments.sql": "-- leading comment\ncreate table public.a (id int); -- trailing on the line\n/* block ; comment */\ncreate table public.b (id int);\n-- last words\n",
    "002_dollars.sql": "create function public.f() returns text language plpgsql as $outer$\nbegin\n  return $inner$ ; nested ; $inner$;\nend\n$outer$;\ndo $$ begin perform 1; end $$;\n",
    "003_strings.sql": "create table public.s (t text);\ninsert into public.s values (E'tab\\there'), ('it''s; fine');\n",
    "004_no_trailing_semicolon.sql": "create table public.n (id int);\ninsert into public.n values (1)",
    "005_one_line.sql": "create table public.o (id int); insert into public.o values (1); insert into public.o values (2);\n",
}


def _shipped(project: Any) -> None:
    copy_shipped(project.root)
    shutil.copy(REPO / "supabase" / "config.toml", project.root / "supabase" / "config.toml")
    assert project.invoke("mirror").returncode == 0


@pytest.mark.parametrize("files", ["shipped", "awkward"])
def test_our_statements_equal_the_clis_row_for_row(project: Any, make_db: Any, files: str) -> None:
    """The same files applied by the CLI and by supamigrate store identical history rows."""
    if files == "shipped":
        _shipped(project)
    else:
        for name, sql in AWKWARD.items():
            project.write(name, sql)
        assert project.invoke("mirror").returncode == 0
    theirs = make_db()
    result = push(project.root, theirs)
    assert result.returncode == 0, result.stderr
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    ours = rows(project.target)
    assert len(ours) == len(AWKWARD) if files == "awkward" else len(ours) == 5
    assert ours == rows(theirs)


def test_cli_first_then_supamigrate(project: Any) -> None:
    """The CLI applies 001-002; supamigrate applies only 003-005 and sees no drift."""
    _shipped(project)
    mirrors = sorted((project.root / "supabase" / "migrations").glob("*.sql"))
    held = [p.rename(p.with_suffix(".held")) for p in mirrors[2:]]
    assert push(project.root, project.target).returncode == 0
    for path in held:
        path.rename(path.with_suffix(".sql"))
    status = project.invoke("status")
    assert "2 applied, 3 pending" in status.stdout  # the CLI's rows count as applied, not drifted
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "Will apply 3 migration(s): 003_backfill_tenant_data, 004_enable_rls_policies, "
        "005_enforce_tenant_boundary" in result.stdout
    )
    assert [r[0] for r in rows(project.target)] == [f"2025120100000{n}" for n in range(1, 6)]


def test_supamigrate_first_then_cli(project: Any) -> None:
    """supamigrate applies 001-002; `supabase db push` applies only 003-005; the CLI lists all five."""
    _shipped(project)
    for number in ("001", "002"):
        assert project.invoke("migrate", "--skip-confirm", "--migration", number).returncode == 0
    result = push(project.root, project.target)
    assert result.returncode == 0, result.stderr
    applied = result.stdout + result.stderr
    assert "20251201000003_backfill_tenant_data.sql" in applied
    assert "20251201000001_create_tenant_management_tables.sql" not in applied
    listing = cli(project.root, project.target, "migration", "list")
    assert listing.returncode == 0, listing.stderr
    for number in range(1, 6):
        line = next(
            line for line in listing.stdout.splitlines() if f"2025120100000{number}" in line
        )
        assert line.count(f"2025120100000{number}") == 2, line  # local and remote columns
    assert "drifted" not in project.invoke("status").stdout
