"""SIGINT and SIGTERM mid-run: the run stops cleanly, says what happened to the migration in
flight and to the rest, and exits 128 + the signal."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from supamigrate.connect.db import session


def _sleeping(project: Any) -> bool:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from pg_stat_activity where query like '%pg_sleep(20)%' "
            "and pid <> pg_backend_pid()"
        )
        row = cur.fetchone()
        return bool(row and row[0])


def _applied(project: Any) -> list[str]:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select version from supabase_migrations.schema_migrations order by 1")
        return [row[0] for row in cur.fetchall()]


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_migration_rolls_it_back_and_says_so(
    project: Any, method: str, signum: int
) -> None:
    """001 committed, 002 (sleeping) rolled back, 003 not run; exit 130 or 143, one clear line."""
    project.write("001_a.sql", "create table public.a (id int);\n")
    project.write("002_slow.sql", "create table public.b (id int);\nselect pg_sleep(20);\n")
    project.write("003_c.sql", "create table public.c (id int);\n")
    runner = project.popen("migrate", "--skip-confirm", "--method", method)
    deadline = time.monotonic() + 30
    while not _sleeping(project) and time.monotonic() < deadline:
        time.sleep(0.1)
    runner.send_signal(signum)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 128 + signum, (out, err)
    name = signal.Signals(signum).name
    assert f"Interrupted by {name}: 002_slow was rolled back; 1 migration(s) not run." in out
    assert "Traceback" not in out + err
    assert _applied(project) == ["20251201000001"]
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.b'), to_regclass('public.c')")
        assert cur.fetchone() == (None, None)
