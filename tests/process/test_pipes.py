"""The reader of our output goes away (`| head`): one line on stderr, exit 141, no traceback,
on every path that prints (Invoke's own --list, a task through Invoke, the direct lint)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TASKS = Path(__file__).resolve().parents[2] / "tasks.py"


def _closed_reader(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write fails
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "DATABASE_URL")}
    try:
        return subprocess.run(
            command, cwd=cwd, env=env, stdout=write, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[tool.supamigrate]\n")
    (migrations / "20260101000000_a.sql").write_text(
        "alter table public.t add column c int not null;\n"
    )
    return tmp_path


SUPAMIGRATE = [sys.executable, "-c", "from supamigrate.cli import main; main()"]


@pytest.mark.parametrize(
    ("command", "program"),
    [
        ([*SUPAMIGRATE, "lint", "--all"], "supamigrate"),
        ([*SUPAMIGRATE, "lint", "--all", "--json"], "supamigrate"),
        ([*SUPAMIGRATE, "mirror"], "supamigrate"),
        ([sys.executable, "-m", "invoke", "--search-root", str(TASKS.parent), "mirror"], "invoke"),
    ],
)
def test_a_task_whose_reader_left_stops_with_one_line(
    app: Path, command: list[str], program: str
) -> None:
    done = _closed_reader(command, app)
    assert done.returncode == 141
    assert done.stderr.splitlines() == [
        "Stopped: the output's reader closed it (a pipe such as `| head`); "
        f"`{program} status` shows what is applied."
    ]


@pytest.mark.parametrize(
    "command",
    [
        [*SUPAMIGRATE, "--list"],
        [sys.executable, "-m", "invoke", "--search-root", str(TASKS.parent), "--list"],
    ],
)
def test_invokes_own_output_whose_reader_left_ends_without_a_traceback(
    app: Path, command: list[str]
) -> None:
    done = _closed_reader(command, app)
    assert done.returncode == 141 and done.stderr == ""


def test_a_broken_pipe_that_is_not_stdouts_keeps_its_own_message(app: Path) -> None:
    """A pipe to a child (psql's stdin) breaking is not the reader leaving: stdout is fine, so
    the usual one-line error (exit 2) is kept."""
    code = (
        "from supamigrate.edge import Stop, guarded\n"
        "def broken():\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "try:\n"
        "    guarded('x', False, broken)\n"
        "except Stop as stop:\n"
        "    print(stop.code, stop.message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=app, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.startswith("2 FAILED: Broken pipe"), done.stdout + done.stderr
