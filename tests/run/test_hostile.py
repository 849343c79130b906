"""Hostile input, fuzzed: any URL, .env bytes, flag value, file name or file bytes gives either a
working value or one SupamigrateError line, never a traceback; secrets never show."""

from __future__ import annotations

import os
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.project import Project
from supamigrate.connect.db import session
from supamigrate.connect.dburl import parse_db_url
from supamigrate.connect.masking import mask
from supamigrate.errors import SupamigrateError
from supamigrate.project.files import MigrationFile, discover_sources, read_utf8
from supamigrate.run.config import load_config
from supamigrate.run.preflight import check_files

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
URL_PARTS = st.sampled_from(
    [
        "postgresql://",
        "postgres://",
        "u",
        ":",
        "@",
        "/",
        "?",
        "&",
        "=",
        "%",
        "%4",
        "#",
        "[",
        "]",
        "h",
        "6543",
        "99999",
        "sslpassword",
        "password",
        "pgbouncer",
        "true",
        " ",
        "\n",
        "é",
        "\x00",
    ]
)


@FUZZ
@given(st.lists(URL_PARTS, max_size=14).map("".join))
def test_any_url_parses_or_fails_with_one_line(url: str) -> None:
    """A URL is a target or a ConfigError with one line that does not echo a password."""
    try:
        parse_db_url(url)
    except SupamigrateError as exc:
        assert "\n" not in str(exc) and exc.exit_code == 2


@FUZZ
@given(st.binary(max_size=200))
def test_any_env_file_loads_or_fails_with_one_line(tmp_path_factory: Any, data: bytes) -> None:
    """Whatever bytes .env.secrets holds, config loads or says one line (exit 2)."""
    root = tmp_path_factory.mktemp("env")
    (root / ".env.secrets").write_bytes(data)
    try:
        load_config(root, environ={})
    except SupamigrateError as exc:
        assert "\n" not in str(exc) and exc.exit_code == 2


@FUZZ
@given(
    st.sampled_from(["lock_timeout", "statement_timeout", "connect_timeout"]),
    st.text(alphabet=string.digits + "smhdinu -.x\u0663", max_size=14),
)
def test_any_flag_value_is_checked_before_connecting(
    tmp_path_factory: Any, key: str, value: str
) -> None:
    """A flag value is valid or a one-line usage error, decided without a database."""
    root = tmp_path_factory.mktemp("flags")
    try:
        load_config(root, flags={key: value}, environ={})
    except SupamigrateError as exc:
        assert "\n" not in str(exc) and exc.exit_code == 2


@FUZZ
@given(st.text(alphabet="0123456789_az.\u0663\u0661é -", min_size=1, max_size=24))
def test_any_file_name_is_a_source_or_one_line(tmp_path_factory: Any, name: str) -> None:
    """Any name in migrations/: a source (ASCII digits only), or a one-line usage error."""
    root = tmp_path_factory.mktemp("names")
    try:
        (root / name).write_text("select 1;\n")
    except OSError:
        return
    try:
        sources = discover_sources(root)
    except SupamigrateError as exc:
        assert "\n" not in str(exc)
        return
    assert all(s.path.name.split("_", 1)[0].isascii() for s in sources)


@FUZZ
@given(st.binary(max_size=300))
def test_any_file_bytes_pass_or_are_refused_in_one_line(tmp_path_factory: Any, data: bytes) -> None:
    """Any bytes in a migration: refused before anything runs in one line, or fit to apply."""
    path = tmp_path_factory.mktemp("bytes") / "20250101000001_x.sql"
    path.write_bytes(data)
    try:
        sql = read_utf8(path)
        check_files([MigrationFile("20250101000001", "x", path, sql, "001_x")])
    except SupamigrateError as exc:
        assert "\n" not in str(exc) and exc.exit_code == 2
        return
    assert "\x00" not in sql and not sql.startswith("\ufeff")


def test_secret_url_parameters_are_masked() -> None:
    """sslpassword (and tokens, keys) in a URL never show, wherever the URL is printed."""
    target = parse_db_url(
        "postgresql://u:pw1-Hidden@h:5432/d?sslpassword=Ssl-Hidden-99&sslmode=require"
    )
    for shown in (target.masked_url, target.url(with_password=False), mask(target.url())):
        assert "Ssl-Hidden-99" not in shown and "pw1-Hidden" not in shown
    assert (
        mask("connect failed for sslpassword=Ssl-Hidden-99") == "connect failed for sslpassword=***"
    )


@pytest.mark.parametrize(
    ("setup", "code", "needle"),
    [
        (
            lambda p: p.env.update(DATABASE_URL_EXTRA="?pgbouncer=true&connection_limit=1"),
            2,
            "pgbouncer",
        ),
        (
            lambda p: (p.root / ".env.secrets").write_bytes(b"DATABASE_URL=caf\xe9\n"),
            2,
            "is not UTF-8",
        ),
        (lambda p: p.write("001_nul.sql", b"select 1;\n\x00\n"), 2, "line 2: a NUL byte"),
        (
            lambda p: p.write("001_bom.sql", b"\xef\xbb\xbfcreate table public.bom (id int);\n"),
            0,
            "1 ok",
        ),
        (lambda p: p.env.update(ARGS="--lock-timeout=9999999h"), 2, "at most 24 days"),
    ],
    ids=["prisma-params", "env-latin1", "nul-byte", "bom", "huge-timeout"],
)
def test_hostile_runs_end_in_one_line(project: Project, setup: Any, code: int, needle: str) -> None:
    """Through the real task: the exit code, the one line, and no traceback."""
    setup(project)
    extra = project.env.pop("DATABASE_URL_EXTRA", "")
    args = project.env.pop("ARGS", "")
    result = project.invoke(
        "migrate", "--skip-confirm", *([args] if args else []), url=project.target.url() + extra
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert needle in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    if code:
        assert len(result.stderr.strip().splitlines()) == 1


def test_status_against_a_missing_database_fails(project: Project) -> None:
    """status on a database that does not exist exits 1 with the reason, not 0."""
    result = project.invoke("status", url=project.target.with_database("no_such_db").url())
    assert result.returncode == 1 and "does not exist" in result.stderr


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        (
            {
                "001_a.sql": "set standard_conforming_strings = off;\n",
                "002_b.sql": "create table public.p1 (a int);\nselect 'a\\''; commit; select 1/0; --';\n",
            },
            "standard_conforming_strings",
        ),
        ({"001_c.sql": "create table public.c (t text);\ncopy public.c from stdin;\n"}, "COPY"),
        (
            {"001_u.sql": "-- supamigrate:no-transaction\nselect pg_advisory_unlock_all();\n"},
            "must not release advisory locks",
        ),
    ],
    ids=["standard-conforming-strings", "copy-from-stdin", "advisory-unlock"],
)
@pytest.mark.parametrize("method", ["psycopg2", "psql"])
def test_files_that_could_escape_are_refused_before_anything_runs(
    project: Project, files: dict[str, str], needle: str, method: str
) -> None:
    """Files that change how SQL is read, stream data, or free the runner lock: refused in one
    line, exit 2, for every method, with nothing applied (no table, no history)."""
    for name, sql in files.items():
        project.write(name, sql)
    result = project.invoke("migrate", "--skip-confirm", "--method", method)
    assert result.returncode == 2 and needle in result.stderr, result.stdout + result.stderr
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select to_regclass('public.p1'), to_regclass('public.c'), "
            "to_regclass('supabase_migrations.schema_migrations')"
        )
        assert cur.fetchone() == (None, None, None)


def test_a_planted_symlink_cannot_redirect_the_mirror(project: Project, tmp_path: Path) -> None:
    """Symlinks at every name the mirror might write through: the victims stay untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    supabase = project.root / "supabase"
    for planted in (
        supabase / ".supamigrate-mirror.txt.tmp",
        supabase / "migrations" / ".20251201000001_a.sql.tmp",
    ):
        planted.symlink_to(victim)
    project.write("001_a.sql", "select 1;\n")
    assert project.invoke("mirror").returncode == 0
    assert victim.read_text() == "mine\n"
    assert not (supabase / "migrations" / "20251201000001_a.sql").is_symlink()


@pytest.mark.parametrize(
    "make",
    [
        lambda d: os.mkfifo(d / "001_fifo.sql"),
        lambda d: (d / "001_loop.sql").symlink_to(d / "001_loop.sql"),
        lambda d: (d / "20251201000001_x.sql").write_text("select 1;\n"),
        lambda d: (d / "99999999999999999999_x.sql").write_text("select 1;\n"),
    ],
    ids=["fifo", "symlink-loop", "14-digit-number", "huge-number"],
)
def test_odd_files_in_migrations_never_hang_or_trace(project: Project, make: Any) -> None:
    """A FIFO, a symlink loop, a 14-digit or a huge number: a line or a working run, fast."""
    make(project.root / "migrations")
    result = project.invoke("status", timeout=30)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode in (0, 2), result.stdout + result.stderr
    if result.returncode:
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "code", "needle"),
    [
        ("\ufeffDATABASE_URL={url}\n", 0, "from DATABASE_URL (.env.secrets)"),
        ('DATABASE_URL="{url}\n', 2, "line 1: cannot be read"),
    ],
    ids=["bom", "unclosed-quote"],
)
def test_env_files_are_read_or_refused_never_skipped(
    project: Project, content: str, code: int, needle: str
) -> None:
    """A BOM is fine; a line that cannot be read stops the run instead of falling back to the
    default database."""
    (project.root / ".env.secrets").write_text(content.format(url=project.target.url()))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CI")}
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "status"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert needle in result.stdout + result.stderr
