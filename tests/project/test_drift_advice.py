"""Drift and missing-file advice fit the situation (git state) and never lead to a second run."""

from __future__ import annotations

import subprocess
from pathlib import Path

from supamigrate.history.table import HistoryRow
from supamigrate.project.files import MigrationFile
from supamigrate.project.plan import (
    EditOrigin,
    State,
    check_runnable,
    drift_advice,
    edit_origin,
    make_plan,
    missing_advice,
)
from supamigrate.sql.sqlsplit import statements_text


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


def _file(
    root: Path, sql: str, name: str = "log", version: str = "20260101000000"
) -> MigrationFile:
    path = root / "migrations" / f"001_{name}.sql"
    path.parent.mkdir(exist_ok=True)
    path.write_text(sql)
    return MigrationFile(version, name, path, sql, f"001_{name}")


def _row(sql: str, name: str = "log", version: str = "20260101000000") -> HistoryRow:
    return HistoryRow(version, name, tuple(statements_text(sql)))


def _drift_text(root: Path) -> str:
    plan = make_plan([_file(root, "select 2;")], [_row("select 1;")])
    return drift_advice(plan.with_state(State.DRIFTED), root)


def test_no_git_says_put_it_back(tmp_path: Path) -> None:
    """Outside git: no git commands in the advice, just put it back and write a new migration."""
    _file(tmp_path, "select 1;")
    assert edit_origin(tmp_path, tmp_path / "migrations" / "001_log.sql")[0] is EditOrigin.NO_GIT
    text = _drift_text(tmp_path)
    assert "edited since they ran: 001_log" in text and "NEW migration" in text
    assert "git restore" not in text and "git diff" not in text


def test_uncommitted_edit_says_git_restore(tmp_path: Path) -> None:
    """An edit not yet committed: `git diff` shows it, `git restore` undoes it."""
    _git(tmp_path, "init", "-q")
    _file(tmp_path, "select 1;")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "add 001")
    text = _drift_text(tmp_path)  # writes the edit, not committed
    assert "not committed" in text
    assert "`git restore migrations/001_log.sql`" in text and "git diff" in text


def test_committed_edit_names_the_commit(tmp_path: Path) -> None:
    """An edit already committed: write a new migration; the last commit is named."""
    _git(tmp_path, "init", "-q")
    _file(tmp_path, "select 2;")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "edit 001 in place")
    text = _drift_text(tmp_path)
    assert "the edit is committed (last commit: " in text and "edit 001 in place" in text
    assert "git restore" not in text


def test_allow_drift_says_what_was_not_applied(tmp_path: Path) -> None:
    """--allow-drift goes on, and names the edit left out and how to re-run the file."""
    plan = make_plan([_file(tmp_path, "select 2;")], [_row("select 1;")])
    warnings = check_runnable(plan, allow_drift=True, include_all=False, root=tmp_path)
    assert warnings == [
        "001_log was edited since it ran; the edit is NOT applied (--allow-drift). "
        "`invoke migrate --migration 001` re-runs the whole file, if it is safe to run twice."
    ]


def test_same_migration_under_a_new_version_is_not_repaired_away(tmp_path: Path) -> None:
    """History's version with no file, and a pending file with its statements: rename, no repair."""
    moved = _file(tmp_path, "select 1;", version="20260202000000")
    plan = make_plan([moved], [_row("select 1;", version="20260101000000")])
    text = missing_advice(plan)
    assert "001_log (version 20260202000000) has the same statements" in text
    assert "20260101000000_log.sql" in text and "repair" not in text


def test_truly_missing_file_mentions_repair_only_with_its_condition(tmp_path: Path) -> None:
    """No local twin: restore from git first; repair only if removed on purpose."""
    plan = make_plan([], [_row("select 1;", name="ghost", version="20990101000000")])
    text = missing_advice(plan)
    assert "git log --all -- 'supabase/migrations/20990101000000_*'" in text
    assert "Only if it was removed on purpose and no local file holds the same change" in text


def test_row_without_statements_matches_by_name_only(tmp_path: Path) -> None:
    """A row `migration repair` wrote (no statements) is not everyone's twin."""
    plan = make_plan([_file(tmp_path, "select 1;", version="20260202000000")], [])
    ghost = HistoryRow("20990101000000", "ghost", None)
    text = missing_advice(make_plan([*(e.file for e in plan.entries if e.file)], [ghost]))
    assert "has the same" not in text and "repair --status reverted 20990101000000" in text
