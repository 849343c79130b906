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


@pytest.mark.parametrize("delay", [0.12, 0.25, 0.4])
def test_ctrl_c_while_starting_is_one_line(project: Any, delay: float) -> None:
    """Ctrl-C while `supamigrate` starts up or reads its arguments (before any task): one
    line and exit 130, never a traceback; nothing was applied unless a migration finished."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    binary = shutil.which("supamigrate", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("the supamigrate command is not installed in this environment")
    project.write("001_a.sql", "create table public.a (id int);\n")
    runner = subprocess.Popen(
        [binary, "migrate", "--skip-confirm"],
        cwd=project.root,
        env=project.environment(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    time.sleep(delay)
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert "Traceback" not in out + err, (out, err)
    assert runner.returncode in (0, 130), (runner.returncode, out, err)
    assert len(err.strip().splitlines()) <= 1, err


def test_ctrl_c_before_any_task_is_one_line(project: Any) -> None:
    """The same, at a known moment: Ctrl-C while the program is being made (Invoke's import
    and the collection), in the real `supamigrate` entry point's process."""
    import subprocess
    import sys

    code = (
        "import sys; from supamigrate import cli\n"
        "def made():\n    raise KeyboardInterrupt\n"
        "cli.program = made; sys.argv = ['supamigrate', 'status']; cli.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True
    )
    assert done.returncode == 130, done
    assert done.stderr == "Interrupted: no migration was running.\n", done.stderr
