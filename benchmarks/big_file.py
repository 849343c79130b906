"""One 50 MB migration: `invoke migrate --dry` as a user runs it, and what sets its time.

The whole command (process start, config, connecting and reading the history, listing and
mirroring, pre-flight's reading with Postgres's parser, the CLI-compatible split, the
preview) is timed REPEATS times against a fresh database, median; its output's line count
is kept (a person reads it). Beside it, in one child process each, the parts that set it:
the split and the check (what `migrate` needs before anything runs, in migrate's order: the
check splits alongside its parse) and the preview of the split file.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from migrate_speed import BASE, ROOT, Bench, migration_sql

from supamigrate.connect.dburl import DbTarget

REPEATS = 3
MEGABYTES = 50
BUDGET = 180.0  # seconds a run may take before it counts as not finishing


def _project(root: Path) -> Path:
    """A project whose one pending migration is a 50 MB file of realistic statements."""
    project = root / "big_dry"
    migrations = project / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (project / "supabase" / ".temp").mkdir()
    shutil.copy(ROOT / "tasks.py", project / "tasks.py")
    (project / "pyproject.toml").write_text(f'[tool.supamigrate]\nversion_base = "{BASE}"\n')
    chunk = "".join(migration_sql(i) for i in range(1, 41))
    sql = chunk * (MEGABYTES * 2**20 // len(chunk) + 1)
    (migrations / f"{BASE[:-1]}1_big.sql").write_text(sql)
    return project


def big_file(
    bench: Bench, root: Path, env_for: Callable[[DbTarget], dict[str, str]]
) -> dict[str, Any]:
    project = _project(root)
    target = bench.fresh(bench.server.port)
    command = [sys.executable, "-m", "invoke", "migrate", "--dry", "--method", "psycopg2"]
    times, lines, peaks = [], 0, []
    for _ in range(REPEATS):
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command,
                cwd=project,
                env=env_for(target),
                capture_output=True,
                text=True,
                timeout=BUDGET,
            )
        except subprocess.TimeoutExpired:
            times.append(-1.0)
            continue
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"migrate --dry failed:\n{done.stdout}{done.stderr}")
        lines = done.stdout.count("\n")
        peaks.append(_peak_kib(command, project, env_for(target)))
    bench.drop(target)
    path = next((project / "supabase" / "migrations").glob("*.sql"))
    return {
        "mb": MEGABYTES,
        "dry_seconds": statistics.median(times),
        "dry_runs": times,
        "dry_lines": lines,
        "dry_peak_mib": max(peaks, default=0) / 1024,
        **_parts(path),
    }


def _peak_kib(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """The peak resident memory of one more run (os.wait4's rusage of that child)."""
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, _, usage = os.wait4(child.pid, 0)
    return float(usage.ru_maxrss)


# In a child process: the split and check as migrate runs them, then the preview.
_PARTS = """
import sys, time
from pathlib import Path
from supamigrate.project.files import MigrationFile
from supamigrate.run import preflight
from supamigrate.run.preview import FilePreview
from supamigrate.sql.sqlsplit import split_statements
p = Path(sys.argv[1]); sql = p.read_text()
t = time.perf_counter()
preflight.check_files([MigrationFile("1", "big", p, sql, "big")])
n = len(split_statements(sql))
checked = time.perf_counter() - t
t = time.perf_counter()
FilePreview.of(MigrationFile("1", "big", p, sql, "big")).lines()
print(n, checked, time.perf_counter() - t)
"""


def _parts(path: Path) -> dict[str, float]:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PARTS, str(path)],
            capture_output=True,
            text=True,
            timeout=BUDGET,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return {"seconds": -1.0, "budget": BUDGET}
    statements, checked, preview = done.stdout.split()
    return {
        "statements": int(statements),
        "seconds": float(checked),  # split + check (the name earlier results used)
        "preview_seconds": float(preview),
    }
