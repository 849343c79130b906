"""The pre-commit hook, through the real `pre-commit try-repo` from a throwaway repository: it
fails on a hazardous migration naming the rule, and passes on its safe rewrite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.project import REPO

pytest.importorskip("pre_commit", reason="pre-commit is a dev dependency (pip install -e '.[dev]')")

GIT = ["git", "-c", "user.name=supamigrate tests", "-c", "user.email=tests@example.invalid"]
HAZARD = "alter table public.files alter column size type bigint;\n"
SAFE = "alter table public.files add column size_big bigint;\n"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def _snapshot(dest: Path) -> Path:
    """This working tree as it is now (uncommitted edits included) as a one-commit repository:
    try-repo installs what a commit holds."""
    listed = _git(REPO, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "snapshot")
    return dest


def _try_repo(work: Path, hooks: Path, home: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "CI"))}
    env.update(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never")
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), "supamigrate-lint"]
    return subprocess.run(
        [*command, "--files", *files],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_hook_fails_on_a_hazard_and_passes_its_safe_rewrite(tmp_path: Path) -> None:
    """In a repository that is no supamigrate project: the hazard fails the hook with the
    rule's name; the safe rewrite passes; a file outside a migrations folder is not read."""
    hooks = _snapshot(tmp_path / "supamigrate")
    work = tmp_path / "app"
    (work / "supabase" / "migrations").mkdir(parents=True)
    _git(work, "init", "-q")
    migration = work / "supabase" / "migrations" / "20260101120000_size.sql"
    migration.write_text(HAZARD)
    elsewhere = work / "scripts" / "report.sql"
    elsewhere.parent.mkdir()
    elsewhere.write_text(HAZARD)
    _git(work, "add", "-A")
    files = ("supabase/migrations/20260101120000_size.sql", "scripts/report.sql")

    failed = _try_repo(work, hooks, tmp_path / "cache", *files)
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "supabase/migrations/20260101120000_size.sql:1: error changing-column-type" in out
    assert "scripts/report.sql" not in out
    assert "Linted 1 file(s): errors found." in out

    migration.write_text(SAFE)
    _git(work, "add", "-A")
    passed = _try_repo(work, hooks, tmp_path / "cache", *files)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
