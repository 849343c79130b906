"""--rehearse traces each statement on the real target: the locks it took, what it rewrote, its
time, and the touched tables' sizes; and nothing is kept."""

from __future__ import annotations

import json
from typing import Any

from helpers.catalog import snapshot
from supamigrate.connect.db import session


def _statements(project: Any) -> list[dict[str, Any]]:
    # A loaded CI machine may take over a second to rewrite 200,000 rows: bound the trace
    # tests generously (the bound has its own test below).
    result = project.invoke("migrate", "--rehearse", "--json", "--rehearse-limit", "60s")
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
    human = project.invoke("migrate", "--rehearse", "--rehearse-limit", "60s").stdout
    assert "ACCESS EXCLUSIVE on public.big (200,000 rows" in human
    assert "from line 2 to commit" in human


def test_an_empty_table_is_said_to_be_empty(project: Any) -> None:
    """A table with no page yet (made by an earlier file, never written or analysed) is
    "empty", not "rows unknown (never analysed), 0.0 MB" (a new user's report)."""
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("create table public.fresh (id int primary key)")
    project.write("001_add.sql", "alter table public.fresh add column note text;\n")
    human = project.invoke("migrate", "--rehearse", "--rehearse-limit", "60s").stdout
    assert "ACCESS EXCLUSIVE on public.fresh (empty)" in human, human


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


def test_a_db_pull_view_and_its_owner_are_no_disagreement(project: Any) -> None:
    """A `supabase db pull` file makes a view, then sets its owner (ALTER TABLE, which lint
    reads as ACCESS EXCLUSIVE): the view is the file's own, so no disagreement is printed."""
    project.write(
        "001_remote_schema.sql",
        'CREATE OR REPLACE VIEW "public"."my_things" AS SELECT 1 AS "x";\n\n\n'
        'ALTER TABLE "public"."my_things" OWNER TO "postgres";\n',
    )
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


def _big(project: Any) -> None:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(
            "create table public.big (id int primary key, n int, label text);"
            "insert into public.big select g, g, 'l' || g from generate_series(1, 200000) g;"
            "analyze public.big"
        )


def test_a_lock_already_held_is_listed_with_the_line_that_took_it(project: Any) -> None:
    """One file over 200,000 rows: `create index` after `alter column ... type` needs a SHARE
    lock it already holds since line 1: listed as held since line 1, and no rewrite of the
    table; `add column` after it needs ACCESS EXCLUSIVE, held since line 1 as well."""
    _big(project)
    project.write(
        "001_change.sql",
        "alter table public.big alter column n type bigint;\n"
        "create index big_label_idx on public.big (label);\n"
        "alter table public.big add column note text;\n",
    )
    first, second, third = _statements(project)
    assert {"relation": "public.big", "mode": "AccessExclusiveLock"} in first["locks"]
    assert "public.big" in first["rewrites"]
    assert second["locks"] == [{"relation": "public.big", "mode": "ShareLock", "held_since": 1}], (
        second
    )
    assert second["rewrites"] == []
    assert third["locks"] == [
        {"relation": "public.big", "mode": "AccessExclusiveLock", "held_since": 1}
    ], third
    human = project.invoke("migrate", "--rehearse", "--rehearse-limit", "60s").stdout
    assert "line 2: ShareLock on public.big (held since line 1)" in human, human


def test_dry_and_rehearse_name_the_same_line(project: Any) -> None:
    """A statement after comments and blank lines: --dry, the rehearsal's trace and a failure
    all give the line of its first token."""
    _big(project)
    sql = "-- widen\n\n/* a note */\nalter table public.big\n  alter column n type bigint;\n"
    project.write("001_widen.sql", sql + "-- then\nselect 1/0;\n")
    dry = project.invoke("migrate", "--dry").stdout
    assert "line 4: alter table public.big" in dry and "line 7: select 1/0" in dry, dry
    rehearse = project.invoke("migrate", "--rehearse", "--rehearse-limit", "60s").stdout
    assert "    line 4: AccessExclusiveLock on public.big" in rehearse, rehearse
    assert "at line 7 of" in rehearse, rehearse
    real = project.invoke("migrate", "--skip-confirm").stdout
    assert "at line 7 of" in real, real


def test_a_rewrite_stops_at_the_bound_and_holds_the_lock_no_longer(project: Any) -> None:
    """A table rewrite that takes over a second, rehearsed with a 300ms bound: it is stopped
    there and reported as a finding ("would hold ... for longer than 300ms", with the table's
    rows and size), not a failure (exit 0); a side connection sees the rehearsal hold ACCESS
    EXCLUSIVE on the table for no longer than the bound (plus scheduling slack)."""
    import threading
    import time

    _big(project)
    # One row sleeps for a second: the rewrite outlasts the bound whatever the machine.
    project.write(
        "001_rewrite.sql",
        "alter table public.big alter column n type bigint\n"
        "  using n + length(case when id = 1 then pg_sleep(1.2)::text else '' end);\n",
    )
    held: list[float] = []
    done = threading.Event()

    def watch() -> None:
        sql = (
            "select count(*) from pg_locks where relation = 'public.big'::regclass "
            "and mode = 'AccessExclusiveLock' and granted and pid <> pg_backend_pid()"
        )
        with session(project.target, autocommit=True) as conn, conn.cursor() as cur:
            while not done.is_set():
                cur.execute(sql)
                row = cur.fetchone()
                if row and row[0]:
                    held.append(time.perf_counter())
                time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = project.invoke("migrate", "--rehearse", "--json", "--rehearse-limit", "300ms")
    finally:
        done.set()
        watcher.join(10)
    assert result.returncode == 0, result.stdout + result.stderr
    (migration,) = json.loads(result.stdout)["rehearsal"]
    assert migration["result"] == "not_rehearsed", migration
    because = migration["not_rehearsed_because"]
    assert because.startswith(
        "line 1: would hold AccessExclusiveLock on public.big (200,000 rows, "
    ), because
    assert "for longer than 300ms" in because
    assert held, "the side connection never saw the lock"
    assert held[-1] - held[0] < 0.3 + 0.25, f"held for {held[-1] - held[0]:.3f}s"


def test_a_lock_held_from_an_earlier_file_is_taken_anew_in_the_real_run(project: Any) -> None:
    """The rehearsal holds file 1's ACCESS EXCLUSIVE into file 2 (one transaction), where the
    real run has committed file 1: file 2's need is listed, marked as held from an earlier
    file, and counted in file 2's "to commit" line."""
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("create table public.t (id int primary key)")
    project.write("001_a.sql", "alter table public.t add column a int;\n")
    project.write("002_b.sql", "select 1;\nalter table public.t add column b int;\n")
    result = project.invoke("migrate", "--rehearse", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    second = json.loads(result.stdout)["rehearsal"][1]["statements"][1]
    assert second["locks"] == [
        {"relation": "public.t", "mode": "AccessExclusiveLock", "held_from_earlier_file": True}
    ], second
    human = project.invoke("migrate", "--rehearse").stdout
    assert human.count("ACCESS EXCLUSIVE on public.t") == 2, human
    assert "from line 2 to commit" in human
