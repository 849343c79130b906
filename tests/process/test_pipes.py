"""The reader of our output goes away (`| head`): one line on stderr, exit 141, no traceback,
on every path that prints (Invoke's own --list, a task through Invoke, the direct lint)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    ("command", "program", "code"),
    [
        ([*SUPAMIGRATE, "lint", "--all"], "supamigrate", 1),  # its findings' exit code
        ([*SUPAMIGRATE, "lint", "--all", "--json"], "supamigrate", 1),
        ([*SUPAMIGRATE, "mirror"], "supamigrate", 141),
        (
            [sys.executable, "-m", "invoke", "--search-root", str(TASKS.parent), "mirror"],
            "invoke",
            141,
        ),
    ],
)
def test_a_task_whose_reader_left_ends_with_one_line(
    app: Path, command: list[str], program: str, code: int
) -> None:
    """The task runs to its end (as into /dev/null); its own failure code stands, else 141."""
    done = _closed_reader(command, app)
    assert done.returncode == code
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


NO_TX_WITH_NOTICES = "-- supamigrate:no-transaction\n" + "".join(
    f"do $$ begin raise notice 'step {n}'; end $$;\ncreate table public.nt_{n} (id int);\n"
    for n in range(5)
)


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
@pytest.mark.parametrize("together", [False, True], ids=["stdout", "stdout and stderr"])
def test_a_run_whose_reader_left_applies_what_it_would_have(
    project: Any, method: str, together: bool
) -> None:
    """`migrate | head` (and `2>&1 | head`): the reader leaving mid-run does not stop a
    migration halfway (a no-transaction file with notices was left half-applied and called
    pending); the run goes on as into /dev/null, the history says all, and it exits 141."""
    from helpers.project import INVOKE

    project.write("001_a.sql", "create table public.a (id int);\n")
    project.write("002_nt.sql", NO_TX_WITH_NOTICES)
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [*INVOKE, "migrate", "--skip-confirm", "--method", method],
            cwd=project.root,
            env=project.environment(),
            stdout=write,
            stderr=write if together else subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    if not together:
        assert done.stderr.splitlines() == [
            "Stopped: the output's reader closed it (a pipe such as `| head`); "
            "`invoke status` shows what is applied."
        ]
    status = project.invoke("status", "--json")
    assert json.loads(status.stdout)["summary"] == "2 applied", status.stdout
