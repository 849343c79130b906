"""The method chain: auto's choice and reasons, the real CLI as a method, manual steps."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from project import REPO
from supamigrate.db import session
from supamigrate.dburl import parse_db_url
from supamigrate.executors.supabase_cli import push_command, push_env

CLI = REPO / "node_modules" / ".bin" / "supabase"
M1 = "create table public.log (name text);\ninsert into public.log values ('001');\n"
M2 = "insert into public.log values ('002');\n"


def _versions(target: Any) -> list[str]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('supabase_migrations.schema_migrations') is not null")
        if not cur.fetchone()[0]:
            return []
        cur.execute("select version from supabase_migrations.schema_migrations order by 1")
        return [row[0] for row in cur.fetchall()]


def test_push_command_keeps_the_password_out_of_argv(tmp_path: Path) -> None:
    """The CLI gets the URL without its password; the password travels in PGPASSWORD."""
    target = parse_db_url(
        "postgresql://postgres:Secret-Pw-42@db.abcdefghijklmnopqrst.supabase.co:5432/postgres"
    )
    command = push_command(Path("supabase"), target, tmp_path, dry=False, include_all=True)
    assert not any("Secret-Pw-42" in part for part in command)
    assert (
        "--remote=postgresql://postgres@db.abcdefghijklmnopqrst.supabase.co:5432/postgres"
        in command
    )
    assert "--yes" in command and "--include-all" in command
    assert push_env(target, {})["PGPASSWORD"] == "Secret-Pw-42"


def test_auto_says_why_it_skipped_the_cli(project: Any) -> None:
    """Not linked: auto uses psycopg2 and says the project is not linked."""
    project.write("001_log.sql", M1)
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0
    assert "Method: psycopg2 (auto); skipped: supabase:" in result.stdout
    assert "not linked" in result.stdout or "CLI not found" in result.stdout


def test_psql_method_is_refused_for_now(project: Any) -> None:
    """A method that cannot run is a usage error naming why."""
    result = project.invoke("migrate", "--skip-confirm", "--method", "psql")
    assert result.returncode == 2 and "not implemented yet" in result.stderr


@pytest.mark.skipif(not CLI.exists(), reason="Supabase CLI not installed: run `npm ci`")
def test_linked_project_pushes_through_the_real_cli(project: Any) -> None:
    """Linked + CLI found: auto picks supabase; psycopg2 applied 001, the CLI applies only 002."""
    project.write("001_log.sql", M1)
    project.write("002_more.sql", M2)
    assert (
        project.invoke(
            "migrate", "--skip-confirm", "--method", "psycopg2", "--migration", "001"
        ).returncode
        == 0
    )
    (project.root / "supabase" / ".temp").mkdir()
    (project.root / "supabase" / ".temp" / "project-ref").write_text("abcdefghijklmnopqrst\n")
    project.env["SUPABASE_CLI"] = str(CLI)
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Method: supabase (auto)" in result.stdout
    assert "[1/1] 002_more ... ok (by supabase db push)" in result.stdout
    assert "--remote=postgresql://postgres@127.0.0.1" in result.stdout  # no password in the command
    assert ":postgres@" not in result.stdout
    assert _versions(project.target) == ["20251201000001", "20251201000002"]
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select name from public.log order by 1")
        assert cur.fetchall() == [("001",), ("002",)]


def test_manual_prints_steps_that_really_work(project: Any) -> None:
    """--method manual changes nothing; pasting its SQL into psql applies and records them."""
    project.write("001_log.sql", M1)
    project.write("002_more.sql", M2)
    result = project.invoke("migrate", "--method", "manual")
    assert result.returncode == 0
    assert "SQL Editor" in result.stdout and "nothing was changed" in result.stdout
    assert _versions(project.target) == []
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-- ====="))
    end = next(i for i, line in enumerate(lines) if line.startswith("3. Check"))
    sql = "\n".join(lines[start:end])
    env = {"PGPASSWORD": project.target.password or "", "PATH": "/usr/bin:/bin"}
    target = project.target
    psql = subprocess.run(
        [
            "psql",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            target.host,
            "-p",
            str(target.port),
            "-U",
            target.user,
            target.database,
        ],
        input=sql,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert psql.returncode == 0, psql.stderr
    assert _versions(project.target) == ["20251201000001", "20251201000002"]
    assert "Nothing to apply: 2 applied." in project.invoke("migrate", "--skip-confirm").stdout
