"""The method chain: auto's choice and reasons, the real CLI as a method, manual steps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers.project import REPO, paste_into_psql
from supamigrate.connect.db import session
from supamigrate.connect.dburl import parse_db_url
from supamigrate.executors.base import Settings
from supamigrate.executors.supabase_cli import SupabaseCliExecutor

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
    (tmp_path / "supabase" / ".temp").mkdir(parents=True)
    (tmp_path / "supabase" / ".temp" / "project-ref").write_text("abcdefghijklmnopqrst")
    settings = Settings(target, tmp_path, tmp_path / "supabase", environ={"SUPABASE_CLI": str(CLI)})
    executor = SupabaseCliExecutor(settings)
    command = executor.command(dry=False, include_all=True)
    assert not any("Secret-Pw-42" in part for part in command)
    assert (
        "--remote=postgresql://postgres@db.abcdefghijklmnopqrst.supabase.co:5432/postgres"
        in command
    )
    assert "--yes" in command and "--include-all" in command
    assert executor.environment()["PGPASSWORD"] == "Secret-Pw-42"
    executor.close()


def test_auto_says_why_it_skipped_the_cli(project: Any) -> None:
    """Not linked: auto uses psycopg2 and says the project is not linked."""
    project.write("001_log.sql", M1)
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0
    assert "Method: psycopg2 (auto); skipped: supabase:" in result.stdout
    assert "not linked" in result.stdout or "CLI not found" in result.stdout


def test_a_method_that_cannot_run_is_refused(project: Any) -> None:
    """--method supabase on an unlinked project is a usage error naming why, exit 2."""
    result = project.invoke("migrate", "--skip-confirm", "--method", "supabase")
    assert result.returncode == 2 and "cannot run" in result.stderr
    assert "not linked" in result.stderr or "CLI not found" in result.stderr


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
    assert (
        "[1/1] 002_more ... ok (" in result.stdout
        and "does not show the migrations' notices" in result.stdout
    )
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
    psql = paste_into_psql(project.target, sql)
    assert psql.returncode == 0, psql.stderr
    assert _versions(project.target) == ["20251201000001", "20251201000002"]
    assert "Nothing to apply: 2 applied." in project.invoke("migrate", "--skip-confirm").stdout


def test_manual_keeps_a_crlf_files_history_row(project: Any, make_db: Any) -> None:
    """Printed line by line and pasted, the block still records the CRLF file's own text (the
    row the CLI and psycopg2 write for it): its history insert spells CR as an escape."""
    project.write(
        "001_crlf.sql",
        "create table public.tpl (\r\n  id int,\r\n  body text\r\n);\r\n"
        "alter table public.tpl enable row level security;\r\n",
    )
    result = project.invoke("migrate", "--method", "manual")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-- ====="))
    end = next(i for i, line in enumerate(lines) if line.startswith("3. Check"))
    assert paste_into_psql(project.target, "\n".join(lines[start:end])).returncode == 0
    other = make_db()
    ours = project.invoke("migrate", "--skip-confirm", "--method", "psycopg2", url=other.url())
    assert ours.returncode == 0, ours.stdout + ours.stderr
    select = "select version, name, statements from supabase_migrations.schema_migrations"
    with session(project.target) as a, a.cursor() as pasted, session(other) as b, b.cursor() as run:
        pasted.execute(select)
        run.execute(select)
        rows = pasted.fetchall()
        assert rows == run.fetchall() and "\r" in rows[0][2][0]


BROKEN = "insert into public.log values ('x');\n\nalter table public.log\n  add column y int references public.nope(id);\n"


def test_psql_method_applies_like_psycopg2(project: Any, make_db: Any) -> None:
    """One psql process applies everything; history rows equal those psycopg2 writes."""
    from helpers.tenancy import copy_shipped

    copy_shipped(project.root)
    result = project.invoke("migrate", "--skip-confirm", "--method", "psql")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Method: psql (forced by --method)" in result.stdout
    assert "[4/5] 004_enable_rls_policies ... ok" in result.stdout
    assert "[5/5] 005_enforce_tenant_boundary ... ok" in result.stdout
    assert "NOTICE:  003: public.files does not exist, skipped" in result.stdout
    other = make_db()
    assert (
        project.invoke(
            "migrate", "--skip-confirm", "--method", "psycopg2", url=other.url()
        ).returncode
        == 0
    )
    with session(project.target) as a, a.cursor() as ca, session(other) as b, b.cursor() as cb:
        query = (
            "select version, name, statements from supabase_migrations.schema_migrations order by 1"
        )
        ca.execute(query)
        cb.execute(query)
        assert ca.fetchall() == cb.fetchall()
    again = project.invoke("migrate", "--skip-confirm", "--method", "psql")
    assert "Nothing to apply: 5 applied." in again.stdout


def test_psql_failure_stops_rolls_back_and_names_the_line(project: Any) -> None:
    """A failing file under psql: SQLSTATE, line, rolled back, later files not run, exit 1."""
    project.write("001_log.sql", M1)
    project.write("002_broken.sql", BROKEN)
    project.write("003_more.sql", M2)
    result = project.invoke("migrate", "--skip-confirm", "--method", "psql")
    assert result.returncode == 1
    assert "[2/3] 002_broken ... failed" in result.stdout
    assert 'error 42P01: relation "public.nope" does not exist' in result.stdout
    assert "at line 3 of" in result.stdout and "Rolled back" in result.stdout
    assert "1 ok, 1 failed, 1 not run" in result.stdout
    assert _versions(project.target) == ["20251201000001"]
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from public.log")
        assert cur.fetchone() == (1,)  # 002's insert was rolled back with it
    cont = project.invoke("migrate", "--skip-confirm", "--method", "psql", "--continue-on-error")
    assert cont.returncode == 1 and _versions(project.target) == [
        "20251201000001",
        "20251201000003",
    ]


def test_psql_gets_no_password_in_argv(project: Any) -> None:
    """psql is started as `psql -X -f -`: the connection from PG* variables, the password from
    an in-memory pgpass (tests/run/test_link.py watches the real argv during a run)."""
    from supamigrate.executors.psql import PsqlExecutor

    target = project.target.with_user("postgres", "Distinct-Pw-77")
    executor = PsqlExecutor(Settings(target, project.root, project.root / "supabase"))
    assert "Distinct-Pw-77" not in " ".join(executor.env.values())
    script, _ = executor._script([], rerun=False)
    assert "Distinct-Pw-77" not in script


def test_the_pinned_cli_is_the_verified_one(tmp_path: Path) -> None:
    """package-lock pins the CLI version the splitter was verified against, and the installed
    binary is it (no note); another version gets a one-line note."""
    import json

    from supamigrate.executors.supabase_cli import version_note
    from supamigrate.sql.sqlsplit import VERIFIED_CLI_VERSION

    lock = json.loads((REPO / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/supabase"]["version"] == VERIFIED_CLI_VERSION
    settings = Settings(
        parse_db_url("postgresql://u@h/d"),
        tmp_path,
        tmp_path / "supabase",
        environ={"SUPABASE_CLI": str(CLI)},
    )
    if CLI.exists():
        assert SupabaseCliExecutor(settings).version_notes() == []
    (note,) = version_note("3.2.0", CLI)
    assert "3.2.0" in note and VERIFIED_CLI_VERSION in note


@pytest.mark.skipif(not CLI.exists(), reason="npm ci has not installed the Supabase CLI")
def test_two_cli_runners_at_once_report_the_truth(project: Any) -> None:
    """Two runners through the CLI together: each migration applied once; each runner reports
    a migration ok (its push applied it) or skipped (the other did), never a false failure."""
    for number in (1, 2, 3):
        project.write(
            f"00{number}_m{number}.sql",
            f"create table public.m{number} (id int);\nselect pg_sleep(0.3);\n",
        )
    assert project.invoke("mirror").returncode == 0
    (project.root / "supabase" / ".temp").mkdir()
    (project.root / "supabase" / ".temp" / "project-ref").write_text("abcdefghijklmnopqrst\n")
    project.env["SUPABASE_CLI"] = str(CLI)
    runners = [project.popen("migrate", "--skip-confirm", "--method", "supabase") for _ in range(2)]
    outputs = [runner.communicate(timeout=120) for runner in runners]
    assert [r.returncode for r in runners] == [0, 0], outputs
    assert _versions(project.target) == ["20251201000001", "20251201000002", "20251201000003"]
    combined = "".join(out for out, _ in outputs)
    for number in (1, 2, 3):
        assert combined.count(f"00{number}_m{number} ... ok") == 1, combined


def test_every_method_name_opens_the_method_of_that_name() -> None:
    """The registry imports a method only when asked for it (a no-op run with --method
    psycopg2 loads no other): each name still gives the class that answers to it, and a
    fresh `--method psycopg2` lookup loads only that method's module."""
    from supamigrate.executors.registry import METHOD_NAMES, REGISTRY

    assert METHOD_NAMES == ("supabase", "psycopg2", "psql", "manual")
    assert all(REGISTRY[name].name == name for name in METHOD_NAMES)
    code = (
        "import sys; from supamigrate.executors.registry import REGISTRY;"
        "REGISTRY['psycopg2']; print(sorted(m for m in sys.modules if m in "
        "{'supamigrate.executors.psql', 'supamigrate.executors.supabase_cli', "
        "'supamigrate.executors.manual', 'supamigrate.executors.psycopg2'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['supamigrate.executors.psycopg2']", done.stderr
