"""The password never shows: not in stdout, stderr, files written, or any process's argv.

Every method runs against a role whose password is a distinctive string, applying one good
migration and then failing on a bad one, while a watcher reads /proc/*/cmdline of every
process on the machine every few milliseconds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers.procscan import ArgvWatch
from helpers.project import REPO, Project
from supamigrate.connect.db import session

SECRET = "Qv7-Distinctive-Secret-4417"
CLI = REPO / "node_modules" / ".bin" / "supabase"
# psycopg2 is the driver and psql the client for everything but the push itself.
PROGRAMS = {"psycopg2": None, "psql": "psql", "supabase": "supabase", "manual": None}


@pytest.fixture
def secret_project(tmp_path: Path, db: Any, pg_server: Any) -> Any:
    role = f"secret_{db.database}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create role {role} login superuser password %s", (SECRET,))
    project = Project.create(tmp_path / "app", db.with_user(role, SECRET))
    project.env["SUPABASE_CLI"] = str(CLI)
    yield project
    with session(pg_server.admin.with_database(db.database), autocommit=True) as conn:
        conn.cursor().execute(f"drop owned by {role}")
    with session(pg_server.admin, autocommit=True) as conn:
        conn.cursor().execute(f"drop role {role}")


def _runs(project: Project, method: str) -> list[subprocess.CompletedProcess[str]]:
    args = ("--method", method)
    project.write("001_ok.sql", "create table public.ok_table (id int);\n")
    runs = [
        project.invoke("status", "--method", "psycopg2"),
        project.invoke("migrate", "--dry", *args),
        project.invoke("migrate", "--skip-confirm", *args),
    ]
    project.write("002_bad.sql", "select 1/0;\n")
    runs.append(project.invoke("migrate", "--skip-confirm", *args))
    return runs


@pytest.mark.parametrize("method", list(PROGRAMS))
def test_the_password_never_shows(secret_project: Project, method: str, pg_server: Any) -> None:
    if method == "supabase":
        if not CLI.exists():
            pytest.skip("run `npm ci` for the Supabase CLI")
        temp = secret_project.root / "supabase" / ".temp"
        temp.mkdir(parents=True)
        (temp / "project-ref").write_text("abcdefghijklmnopqrst")
    with ArgvWatch(SECRET) as watch:
        runs = _runs(secret_project, method)
    assert runs[2].returncode == 0, runs[2].stderr  # the good migration really applied
    if method != "manual":
        assert runs[3].returncode == 1  # and the bad one really ran and failed
    for run in runs:
        assert SECRET not in run.stdout + run.stderr
    written = [p for p in secret_project.root.rglob("*") if p.is_file()]
    if pg_server.server is not None:
        written.append(pg_server.server.log_file)
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
    assert watch.hits == []
    assert "python" in " ".join(watch.programs)
    if PROGRAMS[method]:
        assert PROGRAMS[method] in watch.programs, watch.programs  # the watch saw the child


def test_invokes_debug_log_masks_the_password(secret_project: Project) -> None:
    """Invoke's `--debug` logs every argv token (a `--db-url` typed with its password): the
    log masks it (usage.guard, which the `supamigrate` program and this repo's tasks.py share)."""
    url = secret_project.target.url()
    assert SECRET in url
    secret_project.write("001_ok.sql", "create table public.ok_table (id int);\n")
    result = secret_project.invoke("--debug", "status", "--db-url", url)
    assert result.returncode == 0, result.stderr
    assert "invoke.parser" in result.stderr  # the debug log really ran
    assert SECRET not in result.stdout + result.stderr
