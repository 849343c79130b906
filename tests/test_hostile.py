"""Hostile input, fuzzed: any URL, .env bytes, flag value, file name or file bytes gives either a
working value or one SupamigrateError line, never a traceback; secrets never show."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.project import Project
from supamigrate.config import load_config
from supamigrate.dburl import parse_db_url
from supamigrate.errors import SupamigrateError
from supamigrate.files import MigrationFile, discover_sources, read_utf8
from supamigrate.masking import mask
from supamigrate.preflight import check_files

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
