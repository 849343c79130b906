"""Where to connect and what to apply come from the configured places only, each read or
refused, never skipped: a URL's query parameter that libpq would obey is never dropped, and a
SUPAMIGRATE_ variable that is none of ours is a typo, not a quiet default.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.project import Project
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget, parse_db_url
from supamigrate.errors import ConfigError
from supamigrate.run.config import ENV_NAMES, load_config

_WHERE = "select current_database(), current_user, inet_server_port()"


def _libpq_reads(url: str) -> tuple[str, str, int] | None:
    """Where the real libpq (psql) connects with this URL, or None when it cannot."""
    done = subprocess.run(
        ["psql", "-X", "-At", "-F", "|", "-c", _WHERE, url],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    if done.returncode != 0:
        return None
    database, user, port = done.stdout.strip().split("|")
    return database, user, int(port)


@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_an_accepted_url_connects_where_libpq_connects(db: DbTarget, data: Any) -> None:
    """Property: for every URL the runner accepts, libpq (psql, which the CLI's driver follows
    too) connects to the same database, user and port the runner shows and uses; a query
    parameter that would send it elsewhere is refused with one line, never dropped."""
    keys = data.draw(
        st.lists(
            st.sampled_from(["dbname", "user", "port", "host", "application_name", "sslmode"]),
            max_size=3,
            unique=True,
        )
    )
    values = {
        "dbname": data.draw(st.sampled_from([db.database, "postgres"])),
        "user": data.draw(st.sampled_from([db.user, "supabase_admin"])),
        "port": data.draw(st.sampled_from([str(db.port), "1"])),
        "host": data.draw(st.sampled_from([db.host, "localhost", "/nonexistent"])),
        "application_name": "deploy",
        "sslmode": "disable",
    }
    query = "&".join(f"{key}={values[key]}" for key in keys)
    url = db.url() + (f"?{query}" if query else "")
    try:
        target = parse_db_url(url, source="DATABASE_URL")
    except ConfigError as refused:
        assert "\n" not in str(refused) and refused.exit_code == 2
        assert any(key in ("dbname", "user", "port", "host") for key in keys), str(refused)
        return
    assert _libpq_reads(url) == (target.database, target.user, target.port)


def test_a_password_in_two_places_is_refused_unseen() -> None:
    url = "postgresql://postgres:Old-Pw-41@127.0.0.1:5432/postgres?password=New-Pw-42"
    try:
        parse_db_url(url, source="DATABASE_URL")
    except ConfigError as refused:
        assert "Pw-4" not in str(refused) and refused.exit_code == 2
    else:
        raise AssertionError("two passwords, one silently dropped")


_KNOWN = {name for names in ENV_NAMES.values() for name in names}


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    suffix=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=20),
    where=st.sampled_from(["environment", ".env", ".env.secrets"]),
    lower=st.booleans(),
)
def test_an_unknown_supamigrate_variable_is_refused(
    tmp_path_factory: Any, suffix: str, where: str, lower: bool
) -> None:
    """Property: a SUPAMIGRATE_ name that is no setting of ours (a typo, SUPAMIGRATE_DB_URL)
    stops the run with one line naming it, wherever it is set; it is never skipped."""
    name = f"SUPAMIGRATE_{suffix}"
    if name in _KNOWN or name in {
        "SUPAMIGRATE_DEBUG",
        "SUPAMIGRATE_PIPE_WAIT",
        "SUPAMIGRATE_LONG",
        "SUPAMIGRATE_TEST_PG",
        "SUPAMIGRATE_DIFF_EXAMPLES",
    }:
        return
    name = name.lower() if lower else name
    root: Path = tmp_path_factory.mktemp("p")
    (root / "pyproject.toml").write_text("[tool.supamigrate]\n")
    environ = {"DATABASE_URL": "postgresql://postgres:pw@127.0.0.1:5432/postgres"}
    if where == "environment":
        environ[name] = "5s"
    else:
        (root / where).write_text(f"{name}=5s\n")
    try:
        load_config(root, environ=environ)
    except ConfigError as refused:
        assert name in str(refused) and "\n" not in str(refused) and refused.exit_code == 2
    else:
        raise AssertionError(f"{name} in {where} was skipped")


def test_supamigrate_db_url_never_sends_the_run_to_another_database(
    project: Project, make_db: Any
) -> None:
    """`SUPAMIGRATE_DB_URL` read like the other SUPAMIGRATE_ settings would be a guess: it is
    refused before anything connects, and neither database is touched."""
    other = make_db()
    project.write("001_t.sql", "create table public.t (id int);\n")
    project.env["SUPAMIGRATE_DB_URL"] = other.url()
    done = project.invoke("migrate", "--skip-confirm")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "SUPAMIGRATE_DB_URL" in done.stderr and "DATABASE_URL" in done.stderr
    assert other.password not in done.stdout + done.stderr
    for target in (project.target, other):
        with session(target) as conn, conn.cursor() as cur:
            cur.execute("select to_regclass('public.t'), to_regnamespace('supabase_migrations')")
            assert cur.fetchone() == (None, None)


def test_pghostaddr_never_sends_the_run_elsewhere_than_the_banner_says(project: Project) -> None:
    """libpq connects to PGHOSTADDR whatever host the URL names: the run said one database
    and applied to another. It is refused before anything connects; named in the URL as
    hostaddr= it is the URL's own and is used."""
    project.write("001_t.sql", "create table public.t (id int);\n")
    elsewhere = DbTarget(
        "db.example.invalid",
        project.target.port,
        project.target.user,
        project.target.database,
        project.target.password,
    )
    project.env["PGHOSTADDR"] = project.target.host
    for method in ("psycopg2", "psql"):
        done = project.invoke("migrate", "--skip-confirm", "--method", method, url=elsewhere.url())
        assert done.returncode == 2, done.stdout + done.stderr
        assert "PGHOSTADDR" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        with session(project.target) as conn, conn.cursor() as cur:
            cur.execute("select to_regclass('public.t'), to_regnamespace('supabase_migrations')")
            assert cur.fetchone() == (None, None)
    named = f"{elsewhere.url()}?hostaddr={project.target.host}"
    done = project.invoke("migrate", "--skip-confirm", url=named)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_connection_service_is_refused(project: Project, tmp_path: Path) -> None:
    """A service file can name a hostaddr: PGSERVICE (or service= in the URL) sent the run to
    127.0.0.1 while the banner named db.example.invalid. Refused before anything connects."""
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[elsewhere]\nhostaddr={project.target.host}\n")
    project.write("001_t.sql", "create table public.t (id int);\n")
    elsewhere = DbTarget(
        "db.example.invalid",
        project.target.port,
        project.target.user,
        project.target.database,
        project.target.password,
    )
    project.env["PGSERVICEFILE"] = str(services)
    for url, env in [
        (elsewhere.url(), {"PGSERVICE": "elsewhere"}),
        (f"{elsewhere.url()}?service=elsewhere", {}),
    ]:
        project.env.update(env)
        done = project.invoke("migrate", "--skip-confirm", url=url)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "service" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        project.env.pop("PGSERVICE", None)
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.t'), to_regnamespace('supabase_migrations')")
        assert cur.fetchone() == (None, None)
