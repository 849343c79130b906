"""The user's libpq environment (PGSSLMODE, PGAPPNAME, PGDATESTYLE, PGPASSWORD, ...) reaches
every method alike: psql dropped every PG* variable, so `PGSSLMODE=require` that stops the
psycopg2 path on a server without TLS let psql apply unencrypted, and a URL without a password
that psycopg2 completed from PGPASSWORD failed through psql.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers.project import Project
from supamigrate.connect.db import session

SEEN = (
    "create table public.seen as select current_setting('application_name') as app, "
    "current_setting('DateStyle') as datestyle;\n"
)


def _run(root: Path, make_db: Any, method: str, env: dict[str, str], with_password: bool) -> Any:
    target = make_db()
    project = Project.create(root / method, target)
    project.env.update(env)
    project.write("001_seen.sql", SEEN)
    url = target.url(with_password=with_password)
    done = project.invoke("migrate", "--skip-confirm", "--method", method, url=url)
    with session(target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.seen') is not null")
        row = None
        if cur.fetchone()[0]:
            cur.execute("select app, datestyle from public.seen")
            row = cur.fetchone()
    return done.returncode, row


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
@settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    sslmode=st.sampled_from([None, "require", "disable", "prefer"]),
    appname=st.sampled_from([None, "deploy-bot"]),
    datestyle=st.sampled_from([None, "SQL, DMY"]),
    pgpassword=st.sampled_from([None, "postgres", "wrong-one"]),
    with_password=st.booleans(),
)
@example(sslmode="require", appname=None, datestyle=None, pgpassword=None, with_password=True)
@example(sslmode=None, appname=None, datestyle=None, pgpassword="postgres", with_password=False)
def test_psql_and_psycopg2_read_the_same_libpq_environment(
    tmp_path_factory: Any,
    make_db: Any,
    sslmode: str | None,
    appname: str | None,
    datestyle: str | None,
    pgpassword: str | None,
    with_password: bool,
) -> None:
    """Property: whatever PG* settings the user's environment holds, psql applies (or is
    refused) exactly as psycopg2 does, and the migration sees the same session; the URL's
    own password still wins over PGPASSWORD."""
    env = {
        name: value
        for name, value in [
            ("PGSSLMODE", sslmode),
            ("PGAPPNAME", appname),
            ("PGDATESTYLE", datestyle),
            ("PGPASSWORD", pgpassword),
        ]
        if value is not None
    }
    root = tmp_path_factory.mktemp("env")
    by_psycopg2 = _run(root, make_db, "psycopg2", env, with_password)
    by_psql = _run(root, make_db, "psql", env, with_password)
    assert by_psql == by_psycopg2, env
    if sslmode == "require":  # the test server has no TLS: refused, nothing applied
        assert by_psql == (1, None)


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_a_setting_this_psql_does_not_know_is_refused_from_the_environment_too(
    tmp_path: Path, make_db: Any
) -> None:
    """PGREQUIREAUTH=password (libpq 16+) stops psycopg2 on a SCRAM server; a psql 15 would
    ignore the variable and connect: it is refused, as the URL's require_auth= is."""
    import subprocess

    version = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout
    env = {"PGREQUIREAUTH": "password"}
    code, row = _run(tmp_path, make_db, "psql", env, with_password=True)
    assert row is None  # nothing applied either way
    assert code == (2 if int(version.split()[2].split(".")[0]) < 16 else 1)
    assert _run(tmp_path, make_db, "psycopg2", env, with_password=True) == (1, None)
