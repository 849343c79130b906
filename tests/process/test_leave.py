"""Leaving without the interpreter's teardown (process/leave.py) changes nothing a user sees:
the whole output arrives, in order, with the exit code; a failure exits as before; and where
something must run at exit (a profiler writing its data) the usual exit happens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers.project import INVOKE


def test_a_run_that_leaves_early_delivers_all_of_its_output(project: Any) -> None:
    for n in range(1, 41):  # a plan table longer than a pipe's first write
        project.write(f"{n:03d}_m{n}.sql", f"create table t{n} (id int);\n")
    applied = project.invoke("migrate", "--skip-confirm")
    assert applied.returncode == 0 and "[40/40] 040_m40 ... ok" in applied.stdout
    quiet = project.invoke("status", "--json")
    assert quiet.returncode == 0, quiet.stderr
    document = json.loads(quiet.stdout)  # one whole JSON document, flushed before leaving
    assert len(document["migrations"]) == 40 and document["summary"] == "40 applied"
    both = project.invoke("mirror", "migrate", "--skip-confirm")  # two tasks: both run
    assert both.returncode == 0
    assert "Mirror up to date" in both.stdout and "Nothing to apply" in both.stdout


def test_a_failing_run_keeps_its_exit_code(project: Any) -> None:
    project.write("001_bad.sql", "select 1/0;\n")
    failed = project.invoke("migrate", "--skip-confirm")
    assert failed.returncode == 1 and "division by zero" in failed.stdout


def test_a_profiled_run_exits_the_usual_way(project: Any, tmp_path: Path) -> None:
    """cProfile writes its file when the program returns: the run must not leave before."""
    project.write("001_a.sql", "create table a (id int);\n")
    profile = tmp_path / "run.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(profile), *INVOKE[1:], "mirror"]
    done = subprocess.run(
        command,
        cwd=project.root,
        env=project.environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Mirror up to date" in done.stdout
    assert profile.stat().st_size > 0
