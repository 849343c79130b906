"""Named targets: `--target staging` applies to the database its variable names, says so, and
a committed config never holds a secret."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Harness
from helpers.polling import query
from helpers.project import Project
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.errors import ConfigError
from supamigrate.run.config import load_config

TARGETS = """
[tool.supamigrate.targets.staging]
db_url_env = "STAGING_DATABASE_URL"

[tool.supamigrate.targets.production]
project_ref = "abcdefghijklmnopqrst"
password_env = "PRODUCTION_DB_PASSWORD"
pooler_host = "aws-0-eu-central-1.pooler.supabase.com"
"""


def _project(tmp_path: Path, target: DbTarget, extra: str = TARGETS) -> Project:
    project = Project.create(tmp_path / "app", target)
    (project.root / "pyproject.toml").write_text("[tool.supamigrate]\n" + extra)
    project.write("001_init.sql", "create table public.notes (id int primary key);\n")
    return project


def _history(target: DbTarget) -> list[str]:
    exists = query(target, "select to_regclass('supabase_migrations.schema_migrations')")
    if exists[0][0] is None:
        return []
    return [r[0] for r in query(target, "select name from supabase_migrations.schema_migrations")]


def _own_role(pg_server: Harness, target: DbTarget) -> DbTarget:
    """The database, owned by a role whose password is like no other word in the output."""
    password = "St4ging-only-pw"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_roles where rolname = 'staging_runner'")
        if not cur.fetchone():
            cur.execute(f"create role staging_runner login password '{password}'")
        cur.execute(f"alter database {target.database} owner to staging_runner")
        cur.execute("grant postgres to staging_runner")
    return target.with_user("staging_runner", password)


def test_migrate_target_staging_applies_to_its_database(
    tmp_path: Path, pg_server: Harness, make_db: Callable[[], DbTarget]
) -> None:
    """`invoke migrate --target staging --skip-confirm` applies to STAGING_DATABASE_URL's
    database, not DATABASE_URL's, and says which target it used."""
    default, staging = make_db(), _own_role(pg_server, make_db())
    project = _project(tmp_path, default)
    project.env["STAGING_DATABASE_URL"] = staging.url()
    result = project.invoke("migrate", "--target", "staging", "--skip-confirm")
    assert result.returncode == 0, result.stderr
    assert f"database {staging.database}" in result.stdout
    assert "(from target staging: STAGING_DATABASE_URL)" in result.stdout
    assert staging.password not in result.stdout + result.stderr
    assert _history(staging) == ["init"]
    assert _history(default) == []
    status = project.invoke("status", "--target", "staging")
    assert status.returncode == 0 and "001_init" in status.stdout and "applied" in status.stdout


def test_target_url_from_env_secrets_says_where(tmp_path: Path, db: DbTarget) -> None:
    """A target's variable may live in .env.secrets; the banner names the file."""
    project = _project(tmp_path, db)
    (project.root / ".env.secrets").write_text(f"STAGING_DATABASE_URL={db.url()}\n")
    result = project.invoke("status", "--target", "staging", url="postgresql://x@127.0.0.1:1/x")
    assert result.returncode == 0, result.stderr
    assert "(from target staging: STAGING_DATABASE_URL (.env.secrets))" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--target", "stagin"], {}, "did you mean staging?"),
        (["--target", "staging"], {}, "STAGING_DATABASE_URL is not set"),
        (["--target", "production"], {}, "PRODUCTION_DB_PASSWORD is not set"),
        (["--target", "staging", "--db-url", "postgresql://u@h/d"], {}, "not --db-url and"),
        (["--target", "staging", "--linked"], {}, "not --linked and --target"),
    ],
)
def test_target_mistakes_are_one_line_exit_2(
    tmp_path: Path, db: DbTarget, args: list[str], env: dict[str, str], expected: str
) -> None:
    """Unknown name, unset variable, two targets at once: one line that says what to do, exit 2,
    and the database is untouched."""
    project = _project(tmp_path, db)
    project.env.update(env)
    result = project.invoke("migrate", "--skip-confirm", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert _history(db) == []


def test_project_ref_target_builds_the_pooler_url(tmp_path: Path) -> None:
    """project_ref + pooler_host: the session pooler, user postgres.<ref>, password from its
    variable (and not from SUPABASE_DB_PASSWORD, which belongs to another project)."""
    root = tmp_path / "app"
    (root / "supabase").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.supamigrate]\n" + TARGETS)
    environ = {"PRODUCTION_DB_PASSWORD": "pr0d-secret", "SUPABASE_DB_PASSWORD": "other"}
    config = load_config(root, environ=environ, target="production")
    assert config.target.host == "aws-0-eu-central-1.pooler.supabase.com"
    assert config.target.user == "postgres.abcdefghijklmnopqrst"
    assert config.target.port == 5432 and config.target.password == "pr0d-secret"
    assert config.sources["db_url"] == (
        "target production: project abcdefghijklmnopqrst, password from PRODUCTION_DB_PASSWORD"
    )


_SECRET = st.text(string.ascii_letters + string.digits + "!$%&*+-_.~", min_size=8, max_size=24)


@settings(
    derandomize=True, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    secret=_SECRET,
    key=st.sampled_from(["db_url", "password", "url", "database_url", "DB_URL", "dsn"]),
    shape=st.sampled_from(["key", "env_url", "env_password"]),
)
def test_a_secret_in_the_config_is_refused_and_never_shown(
    tmp_path: Path, secret: str, key: str, shape: str
) -> None:
    """A URL or password written into a target (as its own key, or where a variable's name
    belongs) is a ConfigError on every command, naming the *_env fix, never echoing it."""
    url = f"postgresql://postgres:{secret}@db.example.com:5432/postgres"
    line = {
        "key": f'{key} = "{url if "url" in key.lower() or key == "dsn" else secret}"',
        "env_url": f'db_url_env = "{url}"',
        "env_password": f'password_env = "postgres:{secret}@x"\ndb_url_env = "X_URL"',
    }[shape]
    root = tmp_path / "app"
    (root / "supabase").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f"[tool.supamigrate.targets.staging]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(root, environ={"X_URL": "postgresql://u@h/d"})  # no --target: still refused
    message = str(caught.value)
    assert secret not in message and "_env" in message
    assert "\n" not in message


@settings(derandomize=True, max_examples=200)
@given(name=st.one_of(st.text(string.ascii_lowercase + "-_", min_size=1, max_size=12), st.text()))
def test_unknown_names_never_pick_another_target(name: str) -> None:
    """Only the exact name selects a target; anything else is one line listing the names, and
    a value that is no name (a pasted URL, control characters) is not echoed."""
    from supamigrate.project import targets

    table = {"staging": {"db_url_env": "S"}, "production": {"db_url_env": "P"}}
    lookup = {"S": "postgresql://s@h/s", "P": "postgresql://p@h/p"}
    try:
        chosen = targets.pick(name, table, lambda v: (lookup.get(v), v), Path("/nonexistent"))
    except ConfigError as exc:
        message = str(exc)
        assert name not in table and "production, staging" in message
        assert message.isprintable()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):  # not echoed: one fixed line
            assert message == (
                "--target takes the name of a target in pyproject.toml [tool.supamigrate.targets]"
                " (letters, digits, '_', '-', '.'); defined: production, staging."
            )
    else:
        assert name in table and chosen.url == lookup[table[name]["db_url_env"]]
