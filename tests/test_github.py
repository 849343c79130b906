"""GitHub annotations: under GITHUB_ACTIONS=true a failed migration, a failed rehearsal, a lint
finding and a configuration error each appear as a workflow command on the right file and line;
stdout stays one JSON document with --json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.project import Project
from supamigrate import github
from supamigrate.connect.dburl import DbTarget

FAILING = "create table public.ok (id int);\nselect 1 / 0;\n"


def _project(tmp_path: Path, db: DbTarget) -> Project:
    project = Project.create(tmp_path / "app", db)
    project.env.update(GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(project.root))
    return project


def _commands(stream: str) -> list[str]:
    return [line for line in stream.splitlines() if line.startswith("::")]


def test_failed_migration_is_annotated_on_its_line(tmp_path: Path, db: DbTarget) -> None:
    """The failing statement's file and line, the SQLSTATE and message; JSON stays JSON."""
    project = _project(tmp_path, db)
    project.write("001_ok.sql", "create table public.first (id int);\n")
    project.write("002_bad.sql", FAILING)
    result = project.invoke("migrate", "--skip-confirm", "--json")
    assert result.returncode == 1
    json.loads(result.stdout)  # annotations went to stderr
    commands = _commands(result.stderr)
    assert commands == [
        "::error file=migrations/002_bad.sql,line=2,"
        "title=supamigrate%3A migration 002_bad failed::22012: division by zero"
    ]
    assert db.password not in result.stderr


def test_without_a_workspace_the_path_is_from_the_current_folder(
    tmp_path: Path, db: DbTarget
) -> None:
    """GITHUB_WORKSPACE unset (a runner of one's own): the file as lint names it, relative."""
    project = _project(tmp_path, db)
    del project.env["GITHUB_WORKSPACE"]
    project.write("001_bad.sql", FAILING)
    result = project.invoke("migrate", "--skip-confirm")
    assert _commands(result.stderr)[0].startswith("::error file=migrations/001_bad.sql,line=2,")


def test_failed_rehearsal_is_annotated(tmp_path: Path, db: DbTarget) -> None:
    """--rehearse: the same annotation, titled as a rehearsal."""
    project = _project(tmp_path, db)
    project.write("001_bad.sql", FAILING)
    assert project.invoke("mirror").returncode == 0
    result = project.invoke("migrate", "--rehearse")
    assert result.returncode == 1
    assert _commands(result.stderr) == [
        "::error file=migrations/001_bad.sql,line=2,"
        "title=supamigrate%3A rehearsal of 001_bad failed::22012: division by zero"
    ]


def test_lint_and_config_errors_are_annotated(tmp_path: Path, db: DbTarget) -> None:
    """A lint finding names file, line and rule; a configuration error is one annotation."""
    project = _project(tmp_path, db)
    project.write("001_type.sql", "alter table public.files alter column size type bigint;\n")
    assert project.invoke("mirror").returncode == 0
    lint = project.invoke("lint", "--all")
    assert lint.returncode == 1
    assert any(
        re.match(r"::error file=.*001_type\.sql,line=1,title=changing-column-type::", line)
        for line in _commands(lint.stdout + lint.stderr)
    )
    unknown = project.invoke("migrate", "--target", "staging")
    assert unknown.returncode == 2
    assert _commands(unknown.stderr) == [
        "::error title=supamigrate migrate::Unknown target 'staging': pyproject.toml defines "
        'none. Add one: [tool.supamigrate.targets.staging] with db_url_env = "STAGING_DATABASE_URL".'
    ]


@settings(
    derandomize=True, max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=st.text(), title=st.text(min_size=1), line=st.integers(0, 10_000))
def test_an_annotation_is_one_line_that_reads_back(
    message: str,
    title: str,
    line: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever a server's error says, the annotation is one workflow command whose data reads
    back as the (masked) message: a newline or `::` in it cannot start a second command."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    github.annotate(message, title=title, file=Path("a.sql"), line=line)
    printed = capsys.readouterr().err
    assert printed.endswith("\n") and printed.count("\n") == 1
    head, data = printed[:-1].split("::", 2)[1:]
    assert head.startswith("error file=a.sql")
    unescaped = data.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
    from supamigrate.output import shown

    assert unescaped == shown(message)
