"""The reliability suite: kills, dropped connections, a server restart, eight runners at once.

After every fault the invariant a user would check holds: each migration is either fully there
(its table, its log row, its history row) or not there at all, and the next run finishes.
The figures in the README's reliability section come from here.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.polling import query, wait_for
from helpers.project import Project
from helpers.server import throwaway_server
from supamigrate.connect.dburl import DbTarget
from supamigrate.local import server as localdb

# SUPAMIGRATE_LONG=1 kills many more runs (the default keeps the suite in its budget)
KILL_TRIALS = 60 if os.environ.get("SUPAMIGRATE_LONG") == "1" else 14
STEPS = 6  # migrations per kill trial
SEED = 20261124
LOG = "create table public.applied_log (n int primary key);\n"
# Each step makes a table and a log row, then sleeps inside its own transaction.
STEP = (
    "create table public.step_{n} (id int);\n"
    "insert into public.applied_log values ({n});\n"
    "select pg_sleep({sleep});\n"
    "insert into public.step_{n} values ({n});\n"
)
# The sleep comes from a table, so a later run can be made fast without editing the file.
STUCK = (
    "create table public.stuck (id int);\n"
    "select pg_sleep((select secs from public.knob));\n"
    "insert into public.stuck values (1);\n"
)
KNOB = "create table public.knob (secs float);\ninsert into public.knob values (60);\n"


def _quiet(target: DbTarget) -> None:
    """Wait until no other session uses the database: a killed run's backend has finished."""
    wait_for(
        target,
        "select 1 where not exists (select 1 from pg_stat_activity where datname = "
        "current_database() and pid <> pg_backend_pid())",
    )


def _consistent(target: DbTarget, steps: int) -> set[int]:
    """Assert every step is all there or not at all; return the steps that are there."""
    tables = {
        int(name.split("_")[1])
        for (name,) in query(target, "select relname from pg_class where relname ~ '^step_[0-9]+$'")
    }
    logged = {n for (n,) in query(target, "select n from public.applied_log")}
    versions = query(target, "select version from supabase_migrations.schema_migrations")
    recorded = {int(v[-3:]) - 1 for (v,) in versions if int(v[-3:]) > 1}
    filled = {n for n in tables if query(target, f"select count(*) from public.step_{n}") == [(1,)]}
    assert tables == logged == recorded == filled, (tables, logged, recorded, filled)
    assert tables <= set(range(1, steps + 1))
    return tables


def _steps_project(root: Path, target: DbTarget, sleep: float) -> Project:
    project = Project.create(root, target)
    project.write("001_log.sql", LOG)
    for n in range(1, STEPS + 1):
        project.write(f"{n + 1:03d}_step_{n}.sql", STEP.format(n=n, sleep=sleep))
    assert project.invoke("migrate", "--skip-confirm", "--migration", "001").returncode == 0
    return project


def test_sigkill_at_random_moments(tmp_path: Path, make_db: Callable[[], DbTarget]) -> None:
    """Runs killed with SIGKILL at random moments: never half a migration; next run ends."""
    rng = random.Random(SEED)
    seen_partway = 0
    for trial in range(KILL_TRIALS):
        method = "psql" if trial % 4 == 3 else "psycopg2"
        project = _steps_project(tmp_path / f"trial{trial}", make_db(), sleep=0.12)
        runner = project.popen("migrate", "--skip-confirm", "--method", method)
        time.sleep(rng.uniform(0.2, 1.2))  # startup is ~0.3 s, the six steps ~0.8 s more
        os.kill(runner.pid, signal.SIGKILL)
        runner.communicate(timeout=30)
        _quiet(project.target)
        done = _consistent(project.target, STEPS)
        seen_partway += 0 < len(done) < STEPS
        again = project.invoke("migrate", "--skip-confirm", "--method", method)
        assert again.returncode == 0, (trial, again.stdout, again.stderr)
        assert _consistent(project.target, STEPS) == set(range(1, STEPS + 1))
    # The moments really fell inside runs, not only before or after them.
    assert seen_partway >= KILL_TRIALS // 4, seen_partway


def _stuck_project(root: Path, target: DbTarget) -> Project:
    project = Project.create(root, target)
    project.write("001_knob.sql", KNOB)
    project.write("002_stuck.sql", STUCK)
    assert project.invoke("migrate", "--skip-confirm", "--migration", "001").returncode == 0
    return project


def _stuck_gone(target: DbTarget) -> None:
    assert query(target, "select to_regclass('public.stuck')") == [(None,)]
    assert query(target, "select version from supabase_migrations.schema_migrations") == [
        ("20251201000001",)
    ]


def _finish(project: Project) -> None:
    query(project.target, "update public.knob set secs = 0")
    again = project.invoke("migrate", "--skip-confirm")
    assert again.returncode == 0, again.stderr
    assert query(project.target, "select count(*) from public.stuck") == [(1,)]


ACTIVE_STUCK = (
    "select pid from pg_stat_activity where query like '%from public.knob%' "
    "and state = 'active' and pid <> pg_backend_pid()"
)


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
def test_backend_terminated_mid_migration(
    tmp_path: Path, db: DbTarget, pg_server: Any, method: str
) -> None:
    """pg_terminate_backend during a migration: exit 1 saying the connection was lost."""
    project = _stuck_project(tmp_path / "app", db)
    runner = project.popen("migrate", "--skip-confirm", "--method", method)
    wait_for(project.target, ACTIVE_STUCK)
    time.sleep(1.0)  # the migration has run a second when its connection goes
    admin = pg_server.admin.with_database(project.target.database)
    query(admin, f"select pg_terminate_backend(pid) from ({ACTIVE_STUCK}) s")
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 1, (out, err)
    assert "connection was lost mid-migration" in err + out
    # its time is measured to the loss, and the total says so (promise 2: times are measured)
    done = re.search(r"Done in (\d+) ms", out)
    assert done is not None and int(done.group(1)) >= 1000, out
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    _quiet(project.target)
    _stuck_gone(project.target)
    _finish(project)


@pytest.fixture
def own_server() -> Iterator[localdb.LocalServer]:
    """A server of this test's own, since the test restarts it."""
    with throwaway_server("supamigrate-restart-") as (server, _):
        yield server


def test_server_restart_mid_run(tmp_path: Path, own_server: localdb.LocalServer) -> None:
    """The server restarts during a migration: the run fails cleanly, the next one finishes."""
    project = _stuck_project(tmp_path / "app", own_server.user_target())
    runner = project.popen("migrate", "--skip-confirm")
    wait_for(project.target, ACTIVE_STUCK)
    localdb.stop(own_server)
    out, err = runner.communicate(timeout=30)
    localdb.start(own_server)
    assert runner.returncode == 1, (out, err)
    assert "connection was lost mid-migration" in err and len(err.strip().splitlines()) == 1
    _stuck_gone(project.target)
    _finish(project)


def test_eight_runners_at_once(tmp_path: Path, db: DbTarget) -> None:
    """8 runners started together: every migration applied once, all exit 0, each says who."""
    project = _steps_project(tmp_path / "app", db, sleep=0.2)
    project.invoke("mirror")
    runners = [project.popen("migrate", "--skip-confirm") for _ in range(8)]
    outputs = [runner.communicate(timeout=120) for runner in runners]
    assert [r.returncode for r in runners] == [0] * 8, outputs
    assert _consistent(project.target, STEPS) == set(range(1, STEPS + 1))
    combined = "".join(out for out, _ in outputs)
    for n in range(1, STEPS + 1):
        label = f"{n + 1:03d}_step_{n}"
        assert combined.count(f"{label} ... ok (") == 1, combined
    # Every runner reports each step as applied by it, or as applied by another runner,
    # or (started late) as already applied before it read the plan.
    for out, _ in outputs:
        assert "Done" in out or "Nothing to apply" in out, out
    assert "already applied by another runner" in combined
