"""Flag and task mistakes: one line naming what was meant, exit 2, nothing run; every flag has
help; `lint PATH...` reads the paths given."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invoke.exceptions import Exit
from invoke.program import Program

from helpers.project import REPO, Project
from supamigrate import usage
from supamigrate.collection import ns
from supamigrate.connect.dburl import DbTarget

COMMAND = shutil.which("supamigrate")
needs_command = pytest.mark.skipif(COMMAND is None, reason="pip install -e . makes `supamigrate`")


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert COMMAND is not None
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "DATABASE_URL")}
    return subprocess.run(
        [COMMAND, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@needs_command
def test_skip_confrim_exits_2_naming_skip_confirm(tmp_path: Path) -> None:
    """`supamigrate migrate --skip-confrim`: exit 2, one line, names --skip-confirm."""
    (tmp_path / "supabase").mkdir()
    result = _run(tmp_path, "migrate", "--skip-confrim")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Unknown flag --skip-confrim for migrate: did you mean --skip-confirm? "
        "`supamigrate --help migrate` lists them; nothing was run."
    ]
    assert result.stdout == ""


@needs_command
@pytest.mark.parametrize("task", ["migrate", "status", "rollback-rls"])
def test_dash_h_after_a_task_is_its_help(tmp_path: Path, task: str) -> None:
    """`-h` after a task shows that task's help, as `--help` does: Invoke had given migrate's
    `-h` to --method ("Flag --method needs a value."), found by a new user."""
    (tmp_path / "supabase").mkdir()
    result = _run(tmp_path, task, "-h")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: supamigrate [--core-opts] {task} "), result.stdout
    assert result.stdout == _run(tmp_path, task, "--help").stdout


def test_under_invoke_too(tmp_path: Path, db: DbTarget) -> None:
    """This repo's tasks.py gives `invoke` the same hints and exit code; nothing is applied."""
    project = Project.create(tmp_path / "app", db)
    project.write("001_init.sql", "create table public.t (id int);\n")
    typo = project.invoke("migrate", "--skip-confrim")
    assert typo.returncode == 2 and "did you mean --skip-confirm?" in typo.stderr
    task = project.invoke("migrat", "--skip-confirm")
    assert task.returncode == 2 and "did you mean migrate?" in task.stderr
    status = project.invoke("status")
    assert status.returncode == 0 and "1 pending" in status.stdout


def _parse(argv: list[str]) -> None:
    """Everything `supamigrate` does before running a task (no task is executed)."""
    # A copy: each run of Invoke's parser uses up the help texts of the tasks it reads.
    program = Program(namespace=copy.deepcopy(ns), name="supamigrate", binary="supamigrate")
    usage.guard(program, "supamigrate")
    program.create_config()
    program.parse_core(["supamigrate", *argv])
    program.parse_collection()
    program.parse_tasks()
    program.parse_cleanup()


def _flags(task: str) -> list[str]:
    return [f"--{arg.name.replace('_', '-')}" for arg in usage.arguments(ns[task])]


TASKS = usage.task_names(ns)
CORE = list(Program(namespace=ns).initial_context.flags)
WORDS = [*TASKS, *{f for t in TASKS for f in _flags(t)}, "--help", "--list", "5s", "x.sql"]


def _typo(word: str, data: st.DataObject) -> str:
    i = data.draw(st.integers(2, len(word) - 1))
    kind = data.draw(st.sampled_from(["drop", "swap", "double"]))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i] + word[i:]


@settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(task=st.sampled_from(TASKS), data=st.data())
def test_a_mistyped_flag_names_a_real_one(
    task: str, data: st.DataObject, capsys: pytest.CaptureFixture[str]
) -> None:
    """A one-letter slip in any flag of any task: exit 2, and the flag it suggests is one the
    task (or Invoke's core) really has."""
    flags = _flags(task)
    if not flags:
        return
    flag = data.draw(st.sampled_from(flags))
    typo = _typo(flag, data)
    if typo in flags or len(typo) < 4:
        return
    with pytest.raises(Exit) as caught:
        _parse([task, typo])
    capsys.readouterr()
    assert caught.value.code == 2
    message = str(caught.value.message)
    assert "\n" not in message
    named = re.findall(r"did you mean (--[\w-]+)\?", message)
    real = {*flags, *(f.replace("--", "--no-", 1) for f in flags), *CORE}
    assert set(named) <= real, (typo, message)


@settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(argv=st.lists(st.sampled_from([*WORDS, "--bogus", "stauts", "--users=x", "-z"]), max_size=4))
def test_any_argv_parses_or_is_one_line_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever words are typed: they parse, or it is one line and exit 2 (0 for --help and
    --list), never a traceback."""
    try:
        _parse(argv)
    except Exit as exc:
        assert exc.code in (0, 2), (argv, exc.code, exc.message)
        if exc.code == 2:
            assert exc.message and "\n" not in str(exc.message), argv
    capsys.readouterr()


def test_every_flag_has_one_line_of_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Each flag of each task has help (one line, under 100 characters), and `--help TASK`
    shows it next to the flag."""
    missing = [
        f"{name} --{arg.name.replace('_', '-')}"
        for name in TASKS
        for arg in usage.arguments(ns[name])
        if not arg.help or "\n" in arg.help or len(arg.help) > 100
    ]
    assert missing == []
    for name in TASKS:
        with pytest.raises(Exit):
            _parse(["--help", name])
        shown = capsys.readouterr().out
        for flag in _flags(name):
            assert re.search(rf"{re.escape(flag)}(=\S+)?\s+\S", shown), (name, flag)


@needs_command
def test_lint_reads_the_paths_it_is_given(tmp_path: Path) -> None:
    """`supamigrate lint a.sql b.sql` (what pre-commit runs) lints exactly those files, in a
    folder that is no Supabase project and with no database."""
    (tmp_path / "migrations").mkdir()
    risky = tmp_path / "migrations" / "005_type.sql"
    risky.write_text("alter table public.files alter column size type bigint;\n")
    safe = tmp_path / "migrations" / "006_safe.sql"
    safe.write_text("alter table public.files add column size_big bigint;\n")
    both = _run(tmp_path, "lint", "migrations/005_type.sql", "migrations/006_safe.sql")
    assert both.returncode == 1 and "Linted 2 file(s)" in both.stdout
    assert "migrations/005_type.sql:1: error changing-column-type" in both.stdout
    only_safe = _run(tmp_path, "lint", "migrations/006_safe.sql")
    assert only_safe.returncode == 0, only_safe.stdout + only_safe.stderr


def test_tasks_py_guards_only_an_invoke_process() -> None:
    """Importing tasks.py outside `invoke` (tests, tools) changes nothing."""
    code = "import tasks, sys; print('invoke.main' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "False"
