"""`invoke link`, `--linked`, and the pooler rules: real CLI, real psql, no password in argv."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers.procscan import ArgvWatch
from helpers.project import REPO
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget, parse_db_url
from supamigrate.connect.pgpass import password_env, pgpass_line
from supamigrate.errors import ConfigError, UsageError
from supamigrate.executors.base import Settings
from supamigrate.executors.supabase_cli import SupabaseCliExecutor
from supamigrate.run.config import load_config
from supamigrate.run.link import derive_ref, link_command, link_env, linked_config

CLI = REPO / "node_modules" / ".bin" / "supabase"
REF = "abcdefghijklmnopqrst"
SECRET = "Lk7-unmistakable:pw"
POOLER_6543 = (
    f"postgresql://postgres.{REF}:{SECRET}@aws-0-eu-west-1.pooler.supabase.com:6543/postgres"
)
DIRECT = f"postgresql://postgres:{SECRET}@db.{REF}.supabase.co:5432/postgres"
needs_cli = pytest.mark.skipif(not CLI.exists(), reason="run `npm ci` for the Supabase CLI")


def _config(tmp_path: Path, url: str | None = None, **env: str) -> Any:
    environ = {**env, **({"DATABASE_URL": url} if url else {})}
    return load_config(tmp_path, environ=environ)


@pytest.mark.parametrize("url", [POOLER_6543, POOLER_6543.replace(":6543", ":5432"), DIRECT])
def test_the_ref_comes_from_the_database_url(tmp_path: Path, url: str) -> None:
    assert derive_ref(_config(tmp_path, url), None) == REF


def test_an_explicit_ref_wins_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, DIRECT)
    assert derive_ref(config, "zyxwvutsrqponmlkjihg") == "zyxwvutsrqponmlkjihg"
    with pytest.raises(UsageError, match="20 lowercase letters"):
        derive_ref(config, "my-project")
    with pytest.raises(UsageError, match="--project-ref"):
        derive_ref(_config(tmp_path), None)  # the local default says nothing about a project


def test_link_command_and_env_keep_the_password_out_of_argv(tmp_path: Path) -> None:
    config = _config(tmp_path, POOLER_6543)
    command = link_command(Path("supabase"), REF, tmp_path)
    assert command[1:4] == ["link", "--project-ref", REF]
    assert not any(SECRET in part for part in command)
    assert link_env(config, REF)["SUPABASE_DB_PASSWORD"] == SECRET
    # Another project's URL never lends it its password.
    assert link_env(config, "zyxwvutsrqponmlkjihg").get("SUPABASE_DB_PASSWORD") != SECRET


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "DATABASE_URL"))}
    return {**env, "HOME": "/nonexistent-home", "SUPABASE_CLI": str(CLI), **extra}


@needs_cli
@pytest.mark.parametrize("token", [None, "sbp_0123456789abcdef0123456789abcdef01234567"])
def test_link_offline_fails_with_a_hint_and_no_secret_anywhere(
    project: Any, token: str | None
) -> None:
    """No token, or no network: the CLI's own reason, masked, a next step, exit 1."""
    env = _cli_env(DATABASE_URL=DIRECT, **({"SUPABASE_ACCESS_TOKEN": token} if token else {}))
    with ArgvWatch(SECRET) as watch:
        result = subprocess.run(
            [sys.executable, "-m", "invoke", "link"],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1, result.stderr
    assert "supabase link` failed" in result.stderr and "Next:" in result.stderr
    assert ("SUPABASE_ACCESS_TOKEN" if token is None else "api.supabase.com") in result.stderr
    assert SECRET not in result.stdout + result.stderr
    if token:
        assert token not in result.stdout + result.stderr
    assert "supabase" in watch.programs and watch.hits == []
    assert not (project.root / "supabase" / ".temp" / "project-ref").exists()


def test_link_is_a_no_op_when_already_linked(project: Any) -> None:
    temp = project.root / "supabase" / ".temp"
    temp.mkdir()
    (temp / "project-ref").write_text(REF)
    result = project.invoke("link", "--project-ref", REF)
    assert result.returncode == 0 and "Already linked" in result.stdout


def test_linked_mode_targets_the_saved_pooler_url(tmp_path: Path) -> None:
    temp = tmp_path / "supabase" / ".temp"
    temp.mkdir(parents=True)
    (temp / "project-ref").write_text(REF)
    (temp / "pooler-url").write_text(
        f"postgresql://postgres.{REF}@aws-0-eu-west-1.pooler.supabase.com:5432/postgres"
    )
    config = linked_config(_config(tmp_path, SUPABASE_DB_PASSWORD=SECRET))
    assert config.linked and config.target.password == SECRET
    assert config.target.connection_kind == "session pooler" and config.target.project_ref == REF
    settings = Settings(
        config.target,
        tmp_path,
        config.supabase_dir,
        linked=True,
        environ={"SUPABASE_CLI": str(CLI)},
    )
    executor = SupabaseCliExecutor(settings)
    command = executor.command(dry=True, include_all=False)
    assert "--remote" in command and not any(SECRET in part for part in command)
    assert executor.environment()["SUPABASE_DB_PASSWORD"] == SECRET
    executor.close()


def test_linked_mode_explains_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invoke link"):
        linked_config(_config(tmp_path, SUPABASE_DB_PASSWORD=SECRET))
    (tmp_path / "supabase" / ".temp").mkdir(parents=True)
    (tmp_path / "supabase" / ".temp" / "project-ref").write_text(REF)
    with pytest.raises(ConfigError, match="SUPABASE_DB_PASSWORD"):
        linked_config(_config(tmp_path))


def test_linked_mode_applies_through_the_saved_url(project: Any, db: Any) -> None:
    """--linked with the saved URL pointing at the test server: applies, banner says so."""
    temp = project.root / "supabase" / ".temp"
    temp.mkdir()
    (temp / "project-ref").write_text(REF)
    (temp / "pooler-url").write_text(db.url(with_password=False))
    project.write("001_t.sql", "create table public.t (id int);\n")
    project.env["SUPABASE_DB_PASSWORD"] = db.password
    result = project.invoke("migrate", "--linked", "--method", "psycopg2", "--skip-confirm")
    assert result.returncode == 0, result.stderr
    assert f"from linked project {REF}" in result.stdout and "1 ok" in result.stdout


def test_no_transaction_files_are_refused_on_the_transaction_pooler(tmp_path: Path) -> None:
    from supamigrate.project.files import MigrationFile
    from supamigrate.run.preflight import check_session_needs

    path = tmp_path / "20251201000003_backfill.sql"
    path.write_text("-- supamigrate:no-transaction\nselect 1;\n")
    migration = MigrationFile("20251201000003", "backfill", path, path.read_text(), "003_backfill")
    with pytest.raises(UsageError, match="session pooler"):
        check_session_needs([migration], parse_db_url(POOLER_6543))
    check_session_needs([migration], parse_db_url(POOLER_6543.replace(":6543", ":5432")))


def test_auto_skips_the_cli_on_the_transaction_pooler(tmp_path: Path) -> None:
    from supamigrate.executors.registry import choose
    from supamigrate.run.commands import connection_notes

    (tmp_path / "supabase" / ".temp").mkdir(parents=True)
    (tmp_path / "supabase" / ".temp" / "project-ref").write_text(REF)
    config = _config(tmp_path, POOLER_6543)
    environ = {"SUPABASE_CLI": str(CLI) if CLI.exists() else "/bin/true"}
    settings = Settings(config.target, config.root, config.supabase_dir, environ=environ)
    choice = choose("auto", config.methods, settings)
    assert choice.name == "psycopg2"
    assert "transaction pooler" in dict(choice.skipped)["supabase"]
    assert any("no-transaction" in note for note in connection_notes(config))


def test_psql_gets_an_in_memory_pgpass_that_never_touches_disk(tmp_path: Path) -> None:
    """The pgpass handed to psql is a 0600 memfd (no path on any file system), closed after."""
    target = parse_db_url(f"postgresql://u:{SECRET}@127.0.0.1:5432/d")
    assert pgpass_line(target) == "127.0.0.1:5432:d:u:Lk7-unmistakable\\:pw\n"
    with password_env(target) as (env, fds):
        path = Path(env["PGPASSFILE"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == pgpass_line(target)
        assert str(path.readlink()).startswith("/memfd:")
    assert all(not Path(f"/proc/self/fd/{fd}").exists() for fd in fds)


def test_psql_method_authenticates_with_a_tricky_password(
    project: Any, pg_server: Any, db: Any
) -> None:
    """A role whose password has ':' and '\\' applies through psql via the pgpass file."""
    tricky = "Pw:with\\back:slash-91"
    role = f"tricky_{os.getpid()}"
    _admin(pg_server, f"create role {role} login superuser password '{tricky}'")
    try:
        target = db.with_user(role, tricky)
        project.write("001_t.sql", "create table public.t (id int);\n")
        with ArgvWatch(tricky) as watch:
            result = project.invoke(
                "migrate", "--method", "psql", "--skip-confirm", url=target.url()
            )
        assert result.returncode == 0, result.stderr
        assert "psql" in watch.programs and watch.hits == []
        assert tricky not in result.stdout + result.stderr
    finally:
        _admin(pg_server.admin.with_database(db.database), f"drop owned by {role}")
        _admin(pg_server, f"drop role {role}")


def _admin(where: Any, sql: str) -> None:
    target = getattr(where, "admin", where)
    with session(target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)


def test_a_password_with_a_line_break_is_refused_for_psql_not_cut() -> None:
    """psql's password file has no escape for a line break: such a password would arrive
    cut in two (and fail as a wrong password). It is refused with what to do instead."""
    target = DbTarget("127.0.0.1", 5432, "u", "d", "ab\ncd:Zk")
    with pytest.raises(ConfigError, match="line break") as refused:
        pgpass_line(target)
    assert "Zk" not in str(refused.value) and "cd" not in str(refused.value)
