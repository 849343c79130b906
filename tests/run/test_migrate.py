"""`invoke migrate` and `invoke status` against a real database, through the real task."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from helpers.catalog import snapshot
from supamigrate.connect.db import session
from supamigrate.sql.sqlsplit import statements_text

M1 = "create table public.applied_log (name text not null);\ninsert into public.applied_log values ('001');\n"
M2 = (
    "create table if not exists public.widgets (id int primary key, label text);\n"
    "insert into public.applied_log values ('002');\n"
)
M3 = "alter table public.widgets add column if not exists size int;\ninsert into public.applied_log values ('003');\n"
BROKEN = "insert into public.applied_log values ('002');\n\nalter table public.widgets\n  add column x int references public.nope(id);\n"


def _query(project: Any, sql: str) -> list[tuple[Any, ...]]:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _history(project: Any) -> list[str]:
    return [
        r[0]
        for r in _query(
            project, "select version from supabase_migrations.schema_migrations order by 1"
        )
    ]


def _history_or_none(project: Any) -> list[str]:
    rows = _query(project, "select to_regclass('supabase_migrations.schema_migrations') is null")
    return [] if rows[0][0] else _history(project)


def _log(project: Any) -> list[str]:
    return [r[0] for r in _query(project, "select name from public.applied_log order by 1")]


def _states(output: str) -> dict[str, str]:
    """{label: state} from `invoke status` output lines `  <version>  <label>  <state>`."""
    states = {}
    for line in output.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit() and len(parts[0]) >= 14:
            states[parts[1]] = parts[2].strip()
    return states


def _snapshot(project: Any) -> list[Any]:
    with session(project.target) as conn, conn.cursor() as cur:
        return snapshot(cur)


def test_apply_all_then_nothing_to_do(project: Any) -> None:
    """All pending apply in order with progress lines; a second run is a no-op, exit 0."""
    for name, sql in [("001_log.sql", M1), ("002_widgets.sql", M2), ("003_size.sql", M3)]:
        project.write(name, sql)
    first = project.invoke("migrate", "--skip-confirm")
    assert first.returncode == 0, first.stderr
    assert "[2/3] 002_widgets ... ok (" in first.stdout
    assert "Done in" in first.stdout and "3 ok" in first.stdout
    assert _history(project) == ["20251201000001", "20251201000002", "20251201000003"]
    second = project.invoke("migrate", "--skip-confirm")
    assert second.returncode == 0
    assert "Nothing to apply: 3 applied." in second.stdout
    assert _log(project) == ["001", "002", "003"]  # nothing ran twice


def test_history_rows_hold_the_cli_split(project: Any) -> None:
    """Each history row has the file's name and its statements split as the CLI splits them."""
    sql = (
        "-- widgets\ncreate table public.w (id int);\ncomment on table public.w is 'a;b';\n-- end\n"
    )
    project.write("001_w.sql", sql)
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    rows = _query(
        project, "select version, name, statements from supabase_migrations.schema_migrations"
    )
    assert rows == [("20251201000001", "w", statements_text(sql))]
    assert rows[0][2] == [
        "-- widgets\ncreate table public.w (id int)",
        "comment on table public.w is 'a;b'",
        "-- end",
    ]


def test_failure_in_the_middle_stops_and_rolls_back(project: Any) -> None:
    """001 stays, 002 leaves no trace in schema or history, 003 does not run; exit 1."""
    project.write("001_log.sql", M1)
    project.write("002_broken.sql", "create table public.widgets (id int);\n" + BROKEN)
    project.write("003_size.sql", M3)
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 1
    assert 'error 42P01: relation "public.nope" does not exist' in result.stdout
    assert "at line 4 of" in result.stdout and "002_broken.sql" in result.stdout
    assert "Rolled back" in result.stdout
    assert "1 ok, 1 failed, 1 not run" in result.stdout
    assert _history(project) == ["20251201000001"]
    assert _query(project, "select to_regclass('public.widgets')") == [(None,)]
    assert _log(project) == ["001"]


def test_syntax_error_is_refused_before_anything_runs(project: Any) -> None:
    """A syntax error is found by Postgres's own parser before anything runs: its file and
    line, exit 2, nothing applied (also under --dry, which executes nothing)."""
    project.write("001_typo.sql", "create table public.t (id int);\n-- note\nselec 1;\n")
    for args in (["--dry"], ["--skip-confirm"]):
        result = project.invoke("migrate", *args)
        assert result.returncode == 2
        assert "001_typo.sql, line 3: syntax error" in result.stderr
    assert _history_or_none(project) == []


def test_continue_on_error_applies_the_rest(project: Any) -> None:
    """--continue-on-error goes on past a failure; the exit code still reports it."""
    project.write("001_log.sql", M1)
    project.write("002_broken.sql", BROKEN)
    project.write("003_widgets.sql", M2)
    result = project.invoke("migrate", "--skip-confirm", "--continue-on-error")
    assert result.returncode == 1
    assert _history(project) == ["20251201000001", "20251201000003"]


def test_dry_and_rehearse_change_nothing(project: Any) -> None:
    """--dry executes nothing (not even the history table); --rehearse rolls everything back."""
    project.write("001_log.sql", M1)
    project.write("002_widgets.sql", M2)
    before = _snapshot(project)
    mirror_dir = project.root / "supabase" / "migrations"
    files_before = sorted(p.name for p in mirror_dir.glob("*")) if mirror_dir.exists() else []
    dry = project.invoke("migrate", "--dry")
    assert dry.returncode == 0
    assert "2 statement(s)" in dry.stdout and "line 2: insert into public.applied_log" in dry.stdout
    assert _query(project, "select to_regclass('supabase_migrations.schema_migrations')") == [
        (None,)
    ]
    assert _snapshot(project) == before
    rehearse = project.invoke("migrate", "--rehearse")
    assert rehearse.returncode == 0, rehearse.stdout + rehearse.stderr
    assert "[2/2] 002_widgets ... ok" in rehearse.stdout and "Rehearsal passed" in rehearse.stdout
    assert _snapshot(project) == before
    # Nor the working tree: no version assigned, no mirror file written, by either.
    files_after = sorted(p.name for p in mirror_dir.glob("*")) if mirror_dir.exists() else []
    assert files_after == files_before and "Mirrored" not in dry.stdout + rehearse.stdout


def test_rehearse_reports_a_failure_and_changes_nothing(project: Any) -> None:
    """A rehearsal that fails says where, exits 1, and leaves the database as it was."""
    project.write("001_log.sql", M1)
    project.write("002_broken.sql", BROKEN)
    project.invoke("migrate", "--skip-confirm", "--migration", "001")
    before = _snapshot(project)
    result = project.invoke("migrate", "--rehearse")
    assert result.returncode == 1
    assert "002_broken ... failed" in result.stdout and "42P01" in result.stdout
    assert _snapshot(project) == before


def test_rerun_one_migration(project: Any) -> None:
    """--migration re-runs an applied file (by number, name or version) and keeps one row."""
    project.write("001_log.sql", M1.replace("create table", "create table if not exists"))
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    for key in ("001", "log", "20251201000001"):
        result = project.invoke("migrate", "--skip-confirm", "--migration", key)
        assert result.returncode == 0, result.stderr
        assert "Will re-run 1 migration(s): 001_log" in result.stdout
    assert _log(project) == ["001"] * 4
    assert _history(project) == ["20251201000001"]
    unknown = project.invoke("migrate", "--skip-confirm", "--migration", "042")
    assert unknown.returncode == 2 and "No migration matches '042'" in unknown.stderr


def test_drift_stops_before_anything_runs(project: Any) -> None:
    """An applied file edited since stops the run (exit 1) unless --allow-drift."""
    path = project.write("001_log.sql", M1)
    project.invoke("migrate", "--skip-confirm")
    path.write_text(M1 + "-- edited\ninsert into public.applied_log values ('edit');\n")
    project.write("002_widgets.sql", M2)
    status = project.invoke("status")
    assert _states(status.stdout) == {"001_log": "drifted", "002_widgets": "pending"}
    refused = project.invoke("migrate", "--skip-confirm")
    assert refused.returncode == 1 and "edited since they ran: 001_log" in refused.stderr
    assert _history(project) == ["20251201000001"]
    allowed = project.invoke("migrate", "--skip-confirm", "--allow-drift")
    assert allowed.returncode == 0
    assert _history(project) == ["20251201000001", "20251201000002"]


def test_whitespace_edits_are_not_drift(project: Any) -> None:
    """Reformatting (whitespace, semicolons) is not drift, as for rows the Dashboard writes."""
    path = project.write("001_log.sql", M1)
    project.invoke("migrate", "--skip-confirm")
    path.write_text(M1.replace("\n", "\n\n").replace(";", " ;;"))
    assert _states(project.invoke("status").stdout) == {"001_log": "applied"}


def test_history_without_file_and_out_of_order(project: Any) -> None:
    """A version in history with no file is refused with the repair fix; older pending needs --include-all."""
    project.write("001_log.sql", M1)
    project.invoke("migrate", "--skip-confirm")
    # Sources get versions after every existing one, so only a hand-made file can be late.
    (project.root / "supabase" / "migrations" / "20200101000000_late.sql").write_text("select 1;\n")
    late = project.invoke("migrate", "--skip-confirm")
    assert late.returncode == 1 and "--include-all" in late.stderr
    assert project.invoke("migrate", "--skip-confirm", "--include-all").returncode == 0
    _query(
        project,
        "insert into supabase_migrations.schema_migrations (version, name) values ('20990101000000', 'ghost') returning 1",
    )
    missing = project.invoke("migrate", "--skip-confirm")
    assert missing.returncode == 1
    assert "supabase migration repair --status reverted 20990101000000" in missing.stderr
    assert _states(project.invoke("status").stdout)["20990101000000_ghost"] == "missing locally"


def test_no_terminal_and_no_skip_refuses(project: Any) -> None:
    """Without a TTY and without --skip-confirm, migrate refuses with exit 2 and changes nothing."""
    project.write("001_log.sql", M1)
    result = project.invoke("migrate")
    assert result.returncode == 2
    assert "--skip-confirm" in result.stderr
    assert _query(project, "select to_regclass('public.applied_log')") == [(None,)]
    project.env["CI"] = "true"
    assert project.invoke("migrate").returncode == 0  # CI=true counts as --skip-confirm


def test_transaction_control_is_refused_before_anything_runs(project: Any) -> None:
    """A file with its own BEGIN/COMMIT is refused (exit 2), naming the line; nothing runs."""
    project.write("001_log.sql", M1)
    project.write("002_tx.sql", "select 1;\n-- go\nbegin;\nselect 2;\ncommit;\n")
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 2
    assert "002_tx.sql, line 3: `BEGIN` controls the transaction" in result.stderr
    assert _query(project, "select to_regclass('public.applied_log')") == [(None,)]


def test_json_output_is_one_document(project: Any) -> None:
    """--json prints one parseable document with the plan, results and summary."""
    project.write("001_log.sql", M1)
    result = project.invoke("migrate", "--skip-confirm", "--json")
    doc = json.loads(result.stdout)
    assert doc["method"] == "psycopg2"
    assert doc["results"][0]["name"] == "001_log" and doc["results"][0]["result"] == "ok"
    assert doc["summary"]["ok"] == 1
    status = json.loads(project.invoke("status", "--json").stdout)
    assert status["migrations"] == [
        {"version": "20251201000001", "name": "001_log", "state": "applied"}
    ]


def test_files_made_by_the_cli_are_first_class(project: Any) -> None:
    """A file created by `supabase migration new` (only in supabase/migrations) is applied too."""
    project.write("001_log.sql", M1)
    assert project.invoke("mirror").returncode == 0  # 001 gets its version before the CLI file
    (project.root / "supabase" / "migrations" / "20260101120000_by_cli.sql").write_text(
        "insert into public.applied_log values ('cli');\n"
    )
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    assert _history(project) == ["20251201000001", "20260101120000"]


def test_no_transaction_file_runs_statement_by_statement(project: Any) -> None:
    """The escape hatch runs CREATE INDEX CONCURRENTLY, and says so loudly."""
    project.write("001_log.sql", M1)
    project.write(
        "002_index.sql",
        "-- supamigrate:no-transaction\ncreate index concurrently if not exists applied_log_name on public.applied_log (name);\n",
    )
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runs OUTSIDE a transaction" in result.stdout
    assert _query(project, "select to_regclass('public.applied_log_name') is not null") == [(True,)]
    assert _history(project) == ["20251201000001", "20251201000002"]


def test_no_transaction_failure_is_reported_as_partial(project: Any) -> None:
    """A no-transaction file failing halfway reports PARTIAL with what ran, and writes no row."""
    project.write(
        "001_half.sql",
        "-- supamigrate:no-transaction\ncreate table public.half (id int);\nselect * from public.nope;\n",
    )
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 1
    assert (
        "001_half ... partial" in result.stdout
        and "1 statement(s) ran and stay applied" in result.stdout
    )
    # what stayed is listed, then what to do: this one is broken, not interrupted
    listed = result.stdout.split("no history row was written:\n", 1)[1].splitlines()
    assert listed[0].strip() == "create table public.half (id int)", result.stdout
    assert listed[1].strip().startswith("Fix the file so it can run again"), result.stdout
    assert _query(project, "select to_regclass('public.half') is not null") == [(True,)]
    assert _history_or_none(project) == []  # no row (and the table this run made is gone)


def test_rehearse_stops_at_a_no_transaction_file(project: Any) -> None:
    """Rehearsing the shipped five: 001-002 ok; 003 runs outside a transaction, so it and 004-005
    after it (which may depend on it) are "not rehearsed from here", a third outcome: exit 0."""
    from helpers.tenancy import copy_shipped

    copy_shipped(project.root)
    before = _snapshot(project)
    result = project.invoke("migrate", "--rehearse")
    assert result.returncode == 0, result.stdout
    assert "[2/5] 002_add_tenant_id_to_existing_tables ... ok" in result.stdout
    assert (
        "[3/5] 003_backfill_tenant_data ... not rehearsed from here, because it runs outside "
        "a transaction" in result.stdout
    )
    for line in ("[4/5] 004_enable_rls_policies", "[5/5] 005_enforce_tenant_boundary"):
        assert (
            f"{line} ... not rehearsed from here, because "
            "003_backfill_tenant_data runs outside a transaction" in result.stdout
        )
    assert "Rehearsal incomplete: 2 migration(s) ok, 3 not rehearsed" in result.stdout
    assert _snapshot(project) == before


def test_mirror_counts_what_it_mirrors_after_removing_an_orphan(project: Any) -> None:
    project.write("001_log.sql", M1)
    gone = project.write("002_widgets.sql", M2)
    assert project.invoke("mirror").returncode == 0
    gone.unlink()
    result = project.invoke("mirror")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Mirror up to date: 1 mirrored file(s)" in result.stdout


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
def test_an_interrupted_no_transaction_file_says_to_run_it_again(project: Any, method: str) -> None:
    """SIGINT while a no-transaction file runs: PARTIAL lists what stayed and says the file
    was interrupted (run migrate again once it can repeat), not that it needs fixing; psql's
    own "Cancel request sent" is not shown as the migration's notice."""
    project.write(
        "001_slow.sql",
        "-- supamigrate:no-transaction\ncreate table if not exists public.slow (id int);\n"
        "select pg_sleep(30);\n",
    )
    runner = project.popen("migrate", "--skip-confirm", "--method", method)
    deadline = time.monotonic() + 20
    while _query(project, "select to_regclass('public.slow') is null") == [(True,)]:
        assert time.monotonic() < deadline, "the file never started"
        time.sleep(0.05)
    time.sleep(0.3)
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, (out, err)
    assert "create table if not exists public.slow (id int)" in out, out
    assert "It was interrupted, not broken" in out and "Fix the file" not in out, out
    assert "Cancel request sent" not in out + err, out + err
    assert _history_or_none(project) == []
