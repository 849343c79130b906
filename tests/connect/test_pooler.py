"""Through a transaction pooler (PgBouncer, transaction mode, round robin over 3 server
connections): psycopg2 and psql apply correctly although consecutive transactions land on
different backends, a session setting left on a pooled backend does not leak into a
migration, and eight runners still apply each migration exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers.pooler import BINARY, pgbouncer
from helpers.project import Project
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget

pytestmark = pytest.mark.skipif(BINARY is None, reason="install pgbouncer (.ci/run does)")
STEPS = (
    12  # 001 goes alone, then 8 in one message (batch.GROWTH), then the rest: two backends at least
)
LOG = "create table public.ran_on (n int primary key, pid int not null);\n"
STEP = "create table public.step_{n} (id int);\ninsert into public.ran_on values ({n}, pg_backend_pid());\n"


def _through(db: DbTarget, port: int) -> DbTarget:
    return DbTarget("127.0.0.1", port, db.user, db.database, db.password)


def _rows(target: DbTarget, sql: str) -> list[tuple[Any, ...]]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _project(root: Path, target: DbTarget) -> Project:
    project = Project.create(root, target)
    project.write("001_log.sql", LOG)
    for n in range(1, STEPS + 1):
        project.write(f"{n + 1:03d}_step_{n}.sql", STEP.format(n=n))
    return project


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
def test_applies_through_transaction_pooling(tmp_path: Path, db: DbTarget, method: str) -> None:
    with pgbouncer(db) as port:
        project = _project(tmp_path / "app", _through(db, port))
        result = project.invoke("migrate", "--skip-confirm", "--method", method)
        assert result.returncode == 0, result.stdout + result.stderr
        again = project.invoke("migrate", "--skip-confirm", "--method", method)
        assert again.returncode == 0 and "Nothing to apply" in again.stdout
    assert _rows(db, "select count(*) from supabase_migrations.schema_migrations") == [(STEPS + 1,)]
    pids = _rows(db, "select count(distinct pid) from public.ran_on")[0][0]
    assert pids > 1, "every migration ran on one backend: the pooler test proves nothing"


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
def test_a_setting_left_on_a_pooled_backend_does_not_leak_in(
    tmp_path: Path, db: DbTarget, method: str
) -> None:
    """Another client's `SET search_path` sticks to a pooled backend; RESET ALL keeps an
    unqualified `create table` of ours in public."""
    with session(db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("create schema polluted")
    with pgbouncer(db) as port:
        target = _through(db, port)
        with session(target, autocommit=True) as conn, conn.cursor() as cur:
            for _ in range(4):  # round robin: every backend gets the setting
                cur.execute("set search_path = polluted")
        project = Project.create(tmp_path / "app", target)
        project.write("001_plain.sql", "create table plain_t (id int);\n")
        result = project.invoke("migrate", "--skip-confirm", "--method", method)
        assert result.returncode == 0, result.stdout + result.stderr
    assert _rows(db, "select to_regclass('public.plain_t') is not null") == [(True,)]
    assert _rows(db, "select to_regclass('polluted.plain_t')") == [(None,)]


def test_eight_runners_through_the_pooler(tmp_path: Path, db: DbTarget) -> None:
    with pgbouncer(db) as port:
        project = _project(tmp_path / "app", _through(db, port))
        project.invoke("mirror")
        runners = [project.popen("migrate", "--skip-confirm") for _ in range(8)]
        outputs = [runner.communicate(timeout=120) for runner in runners]
    assert [r.returncode for r in runners] == [0] * 8, outputs
    assert _rows(db, "select count(*), count(distinct n) from public.ran_on") == [(STEPS, STEPS)]
    combined = "".join(out for out, _ in outputs)
    for n in range(1, STEPS + 1):
        assert combined.count(f"{n + 1:03d}_step_{n} ... ok (") == 1
