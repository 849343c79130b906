"""A far-away project, through benchmarks/delay_proxy.py (a real TCP proxy delaying every
chunk): a cold run pays a round trip per message, and carries all it may after the first."""

from __future__ import annotations

import sys
from typing import Any

from helpers.project import REPO
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget

sys.path.insert(0, str(REPO / "benchmarks"))
from delay_proxy import DelayProxy


def _through(target: DbTarget, port: int) -> str:
    return DbTarget(target.host, port, target.user, target.database, target.password).url()


def test_far_away_a_cold_run_sends_two_messages(project: Any) -> None:
    """40 pending at 30 ms: the first message alone (it makes the history table), then the
    other 39 in one; every migration applied, recorded and reported as it committed."""
    count = 40
    for index in range(1, count + 1):
        project.write(f"{index:03d}_t{index}.sql", f"create table public.t{index} (id int);\n")
    target = project.target
    with DelayProxy((target.host, target.port), delay=0.015) as proxy:
        url = _through(target, proxy.port)
        noop_project = project.invoke("migrate", "--dry", url=url)  # mirrors; reads history
        assert noop_project.returncode == 0, noop_project.stderr
        proxy.round_trips = 0
        cold = project.invoke("migrate", "--skip-confirm", "--method", "psycopg2", url=url)
        cold_trips, proxy.round_trips = proxy.round_trips, 0
        noop = project.invoke("migrate", "--skip-confirm", "--method", "psycopg2", url=url)
        noop_trips = proxy.round_trips
    assert cold.returncode == 0 and noop.returncode == 0, cold.stdout + cold.stderr
    assert cold_trips - noop_trips == 2, (cold_trips, noop_trips)
    assert cold.stdout.count(" ok (") == count
    with session(target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from supabase_migrations.schema_migrations")
        assert cur.fetchone() == (count,)
        cur.execute("select count(*) from pg_tables where tablename ~ '^t[0-9]+$'")
        assert cur.fetchone() == (count,)
