"""--rehearse traces each statement on the real target: the locks it took, what it rewrote, its
time, and the touched tables' sizes; and nothing is kept."""

from __future__ import annotations

import json
from typing import Any

from helpers.catalog import snapshot
from supamigrate.db import session


def _statements(project: Any) -> list[dict[str, Any]]:
    result = project.invoke("migrate", "--rehearse", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (migration,) = json.loads(result.stdout)["rehearsal"]
    return list(migration["statements"])


def test_locks_and_rewrites_on_a_200k_row_table(project: Any) -> None:
    """type change: ACCESS EXCLUSIVE and a rewrite; create index: SHARE and the table not
    rewritten; add column: ACCESS EXCLUSIVE, no rewrite. The database is unchanged after."""
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "create table public.big (id int primary key, n int, label text);"
            "insert into public.big select g, g, 'l' || g from generate_series(1, 200000) g;"
            "analyze public.big"
        )
        before = snapshot(cur)
    cases = {
        "alter table public.big alter column n type bigint;": ("AccessExclusiveLock", True),
        "create index big_label_idx on public.big (label);": ("ShareLock", False),
        "alter table public.big add column note text;": ("AccessExclusiveLock", False),
    }
    for sql, (mode, rewrites) in cases.items():
        project.write("001_change.sql", sql + "\n")
        (statement,) = _statements(project)
        assert {"relation": "public.big", "mode": mode} in statement["locks"], sql
        assert ("public.big" in statement["rewrites"]) is rewrites, sql
        assert isinstance(statement["ms"], float | int)
    with session(project.target) as conn, conn.cursor() as cur:
        assert snapshot(cur) == before


def test_add_column_alone_takes_access_exclusive_without_rewrite(project: Any) -> None:
    """On its own, ADD COLUMN text takes ACCESS EXCLUSIVE and rewrites nothing; the human
    output names the table's size and the span the lock is held."""
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "create table public.big (id int primary key, label text);"
            "insert into public.big select g, 'l' || g from generate_series(1, 200000) g;"
            "analyze public.big"
        )
    project.write("001_add.sql", "select 1;\nalter table public.big add column note text;\n")
    (first, second) = _statements(project)
    assert first["locks"] == [] and second["rewrites"] == []
    assert second["locks"] == [{"relation": "public.big", "mode": "AccessExclusiveLock"}]
    human = project.invoke("migrate", "--rehearse").stdout
    assert "ACCESS EXCLUSIVE on public.big (200,000 rows" in human
    assert "from line 2 to commit" in human


def test_no_false_disagreement_between_lint_and_trace(project: Any) -> None:
    """A table made by the rehearsal, then altered by the next migration (its lock already
    held): lint and the trace agree, and the rehearsal says nothing of a disagreement."""
    project.write(
        "001_notes.sql",
        "create table public.notes (id int primary key, body text);\n"
        "alter table public.notes enable row level security;\n",
    )
    project.write("002_pin.sql", "alter table public.notes add column pinned boolean;\n")
    result = project.invoke("migrate", "--rehearse")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "disagree" not in result.stdout, result.stdout


def test_a_real_disagreement_is_reported(project: Any) -> None:
    """Where lint's static model is more cautious than the server (fillfactor takes SHARE
    UPDATE EXCLUSIVE, not ACCESS EXCLUSIVE), the rehearsal says so, naming the line."""
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("create table public.t (id int primary key)")
    project.write("001_ff.sql", "select 1;\nalter table public.t set (fillfactor = 70);\n")
    result = project.invoke("migrate", "--rehearse")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "lint and trace disagree at line 2: lint expected ACCESS EXCLUSIVE on public.t; "
        "the server did not take it" in result.stdout
    ), result.stdout
