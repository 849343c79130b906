"""`supamigrate lint` run without Invoke (direct.py) answers exactly as through Invoke: the
same stdout, stderr and exit code, findings, JSON and one-line errors alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supamigrate.direct import plain_lint

DIRECT = "from supamigrate.cli import main; main()"
THROUGH_INVOKE = (
    "from supamigrate import cli, output; output.PROGRAM = 'supamigrate'; cli.program().run()"
)


def _run(code: str, cwd: Path, args: list[str]) -> tuple[str, str, int]:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "GITHUB_ACTIONS"}}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout, done.stderr, done.returncode


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    migrations = tmp_path / "app" / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (tmp_path / "app" / "pyproject.toml").write_text("[tool.supamigrate]\n")
    (migrations / "20260101000000_a.sql").write_text(
        "create table public.t (id int primary key);\ncreate index i on public.t (id);\n"
    )
    (migrations / "20260102000000_b.sql").write_text("alter table public.t add column c int;\n")
    (tmp_path / "app" / "bad.sql").write_bytes(b"select 1;\xff\n")
    (tmp_path / "app" / "ok.sql").write_text("select 1;\n")
    return tmp_path / "app"


@pytest.mark.parametrize(
    "args",
    [
        ["lint", "--all"],
        ["lint", "--all", "--json"],
        ["lint", "ok.sql", "supabase/migrations/20260101000000_a.sql"],
        ["lint", "--json", "ok.sql"],
        ["lint", "missing.sql"],
        ["lint", "--json", "bad.sql"],
        ["lint", "bad.sql"],
    ],
)
def test_direct_lint_answers_as_invoke_does(repo: Path, args: list[str]) -> None:
    assert plain_lint(args) is not None  # these take the direct path
    assert _run(DIRECT, repo, args) == _run(THROUGH_INVOKE, repo, args)


def test_outside_a_project_the_same_one_line_error(tmp_path: Path) -> None:
    direct = _run(DIRECT, tmp_path, ["lint", "--all"])
    assert direct == _run(THROUGH_INVOKE, tmp_path, ["lint", "--all"])
    assert direct[2] == 2 and "No Supabase project found" in direct[1]


@pytest.mark.parametrize(
    "args",
    [
        ["lint", "-a"],
        ["lint", "--help"],
        ["lint", "--al"],
        ["lint", "--target", "x"],
        ["lint", "--file", "a.sql"],
        ["lint", "notes.txt"],
        ["lint", "-x.sql"],
        ["--echo", "lint"],
        ["migrate"],
        [],
    ],
)
def test_anything_else_goes_through_invokes_parser(args: list[str]) -> None:
    assert plain_lint(args) is None


def test_the_direct_path_does_not_import_invoke(repo: Path) -> None:
    """The point of the direct path: Invoke's import is a tenth of `lint --all`'s time."""
    code = (
        "import sys\nfrom supamigrate.cli import main\ntry:\n    main()\n"
        "except SystemExit as exc:\n"
        "    print([m for m in sys.modules if m.startswith('invoke')], exc.code, file=sys.stderr)"
    )
    _, err, _ = _run(code, repo, ["lint", "--all"])
    assert err.strip() == "[] 1"
