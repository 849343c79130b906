"""The `supamigrate` command in another Supabase repo: found from a subfolder, nothing written
into a repo that only has supabase/migrations."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from supamigrate.connect.dburl import DbTarget

COMMAND = shutil.which("supamigrate")


def _run(cwd: Path, target: DbTarget, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["DATABASE_URL"] = target.url()
    assert COMMAND is not None
    return subprocess.run(
        [COMMAND, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(COMMAND is None, reason="the package is not installed (pip install -e .)")
def test_supamigrate_in_a_repo_with_only_supabase_migrations(tmp_path: Path, db: Any) -> None:
    """--list, status and migrate work from a subfolder; the repo gains no file."""
    repo = tmp_path / "my-app"
    (repo / "supabase" / "migrations").mkdir(parents=True)
    (repo / "web" / "src").mkdir(parents=True)
    init = repo / "supabase" / "migrations" / "20260101120000_init.sql"
    init.write_text("create table public.profiles (id uuid primary key, name text);\n")
    before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    here = repo / "web" / "src"
    listed = _run(here, db, "--list")
    assert listed.returncode == 0 and "migrate" in listed.stdout and "db.start" in listed.stdout
    status = _run(here, db, "status")
    assert status.returncode == 0 and "20260101120000_init  pending" in status.stdout
    applied = _run(here, db, "migrate", "--skip-confirm")
    assert applied.returncode == 0 and "[1/1] 20260101120000_init ... ok" in applied.stdout
    assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == before


@pytest.mark.skipif(COMMAND is None, reason="the package is not installed (pip install -e .)")
def test_outside_any_project_says_where_it_looked(tmp_path: Path, db: Any) -> None:
    """No supabase/ and no [tool.supamigrate] upward: one line, exit 2."""
    result = _run(tmp_path, db, "status")
    assert result.returncode == 2 and "No Supabase project found" in result.stderr
