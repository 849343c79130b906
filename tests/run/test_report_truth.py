"""The report is the truth: fixed examples of what the state machine checks as a model
(tests/run/test_state_machine.py), each one a way the report used to lie."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from helpers.project import INVOKE, Project
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget

CLI = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "supabase"
PROGRESS = re.compile(r"^\[\d+/\d+\] ")
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


def _history(target: DbTarget) -> list[str]:
    with session(target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('supabase_migrations.schema_migrations')")
        if cur.fetchone()[0] is None:
            return []
        cur.execute("select version from supabase_migrations.schema_migrations order by 1")
        return [v for (v,) in cur.fetchall()]


def _terminate_when_sleeping(admin: DbTarget, database: str) -> threading.Thread:
    """From a side connection: end the runner's backend once it sits in pg_sleep."""

    def kill() -> None:
        deadline = time.monotonic() + 60
        with session(admin, autocommit=True) as conn, conn.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s "
                    "and wait_event = 'PgSleep' and pid <> pg_backend_pid()",
                    (database,),
                )
                if cur.fetchall():
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


@pytest.mark.parametrize("as_json", [False, True])
def test_a_backend_terminated_mid_batch_reports_every_committed_migration(
    project: Project, pg_server: Any, as_json: bool
) -> None:
    """002 commits in the same message as 003, whose backend is then terminated: 002 is
    reported ok (human and JSON), 003 rolled back, and the report agrees with history."""
    for number, body in enumerate(["select 1", "select 2", "select pg_sleep(3)", "select 4"], 1):
        project.write(f"00{number}_m{number}.sql", f"create table t{number} (id int);\n{body};\n")
    killer = _terminate_when_sleeping(pg_server.admin, project.target.database)
    args = ["migrate", "--skip-confirm", "--method", "psycopg2"] + ["--json"] * as_json
    result = project.invoke(*args)
    killer.join()
    assert result.returncode == 1, result.stdout + result.stderr
    assert _history(project.target) == ["20251201000001", "20251201000002"]
    if as_json:
        results = {r["name"]: r["result"] for r in json.loads(result.stdout)["results"]}
        assert results == {"001_m1": "ok", "002_m2": "ok", "003_m3": "failed"}
    else:
        assert "[1/4] 001_m1 ... ok" in result.stdout
        assert "[2/4] 002_m2 ... ok (" in result.stdout  # live: its end arrived before the kill
        assert "[3/4] 003_m3 ... failed" in result.stdout
        assert "the server rolled it back" in result.stdout
        assert "Traceback" not in result.stderr


HOSTILE = "chr(27)||'[2J'||chr(10)||'[2/2] 002_evil ... ok (1 ms)'||chr(13)||chr(8238)||'x'"


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
def test_a_notice_cannot_forge_a_runner_line_or_reach_the_terminal_raw(
    project: Project, method: str
) -> None:
    """A notice with ESC, CR, a bidi override and a line that reads `[2/2] ... ok`: shown
    escaped, its second line prefixed `| `; the only progress lines are the runner's."""
    project.write("001_noisy.sql", f"do $$begin raise notice '%', {HOSTILE}; end$$;\n")
    project.write("002_fails.sql", "select 1/0;\n")
    result = project.invoke("migrate", "--skip-confirm", "--method", method)
    assert result.returncode == 1
    assert RAW.search(result.stdout) is None and RAW.search(result.stderr) is None
    lines = result.stdout.splitlines()
    progress = [p for p in lines if PROGRESS.match(p) and not p.endswith(" ... running")]
    assert [p.split(" ... ")[0] for p in progress] == ["[1/2] 001_noisy", "[2/2] 002_fails"]
    # (psql's stderr is read as text lines: its CR ends a line there, shown as `| ` too)
    assert "| [2/2] 002_evil ... ok (1 ms)" in result.stdout and "\\u202ex" in result.stdout
    assert "\\e[2J" in result.stdout
    json_run = project.invoke("migrate", "--skip-confirm", "--method", method, "--json")
    assert json_run.returncode == 1  # 002 fails again: the document still carries it
    assert json.loads(json_run.stdout)["results"][0]["result"] == "failed"


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
def test_a_partial_line_counts_only_what_stayed(project: Project, method: str) -> None:
    """A no-transaction file whose own BEGIN..ROLLBACK block ran before it failed: the
    statements of that block are not listed as applied."""
    project.write(
        "001_nt.sql",
        "-- supamigrate:no-transaction\ncreate table kept (id int);\n"
        "begin;\ncreate table undone (id int);\nrollback;\nselect 1/0;\n",
    )
    result = project.invoke("migrate", "--skip-confirm", "--method", method)
    assert "PARTIAL: this file runs outside a transaction; 1 statement(s) ran" in result.stdout
    project.write("001_nt.sql", "-- supamigrate:no-transaction\nbegin;\nselect 1/0;\n")
    result = project.invoke("migrate", "--skip-confirm", "--method", method, "--json")
    only = json.loads(result.stdout)["results"][0]
    assert only["result"] == "failed" and "ran" not in only["error"]  # nothing stayed


def test_json_at_a_terminal_keeps_stdout_pure_json(project: Project) -> None:
    """`migrate --json` asking for confirmation at a terminal: the question goes to stderr."""
    project.write("001_a.sql", "create table a (id int);\n")
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "DATABASE_URL")}
    env.update({"DATABASE_URL": project.target.url(), **project.env})
    process = subprocess.Popen(
        [*INVOKE, "migrate", "--json", "--method", "psycopg2"],
        cwd=project.root,
        env=env,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.write(controller, b"y\n")
    stdout, stderr = process.communicate(timeout=120)
    os.close(controller)
    os.close(terminal)
    assert process.returncode == 0, stdout + stderr
    assert json.loads(stdout)["results"][0]["result"] == "ok"
    assert "Apply 1 migration(s)? [y/N]" in stderr


def test_psql_bookkeeping_is_never_a_migrations_notice(project: Project) -> None:
    """The history table's "already exists, skipping" is the runner's, not 002's."""
    project.write("001_a.sql", "create table a (id int);\n")
    assert project.invoke("migrate", "--skip-confirm", "--method", "psql").returncode == 0
    project.write("002_b.sql", "create table b (id int);\n")
    result = project.invoke("migrate", "--skip-confirm", "--method", "psql", "--json")
    assert "already exists" not in result.stdout + result.stderr
    assert "notices" not in json.loads(result.stdout)["results"][0]


@pytest.mark.skipif(not CLI.exists(), reason="npm ci installs the Supabase CLI")
def test_supabase_times_each_migration_and_reads_its_error(project: Project) -> None:
    """Per-migration times from the CLI's output as it came, not the push's total divided;
    the failure's SQLSTATE and statement from the CLI's error."""
    (project.root / "supabase" / ".temp").mkdir()
    (project.root / "supabase" / ".temp" / "project-ref").write_text("abcdefghijklmnopqrst\n")
    project.env["SUPABASE_CLI"] = str(CLI)
    project.write("001_slow.sql", "select pg_sleep(0.8);\n")
    project.write("002_quick.sql", "create table q (id int);\n")
    project.write("003_bad.sql", "create table r (id int);\nselect 1/0;\n")
    result = project.invoke("migrate", "--skip-confirm", "--method", "supabase", "--json")
    doc = json.loads(result.stdout)
    ms = {r["name"]: r["ms"] for r in doc["results"]}
    assert ms["001_slow"] >= 700 and ms["002_quick"] < 700, ms
    failed = doc["results"][2]
    assert failed["result"] == "failed" and failed["error"]["sqlstate"] == "22012"
    assert failed["error"]["line"] == 2
    assert all("notices" not in r for r in doc["results"])


FORGED_SKIP = "select ('supamigrate: already applied ' || 1)::int;\n"


def test_a_file_cannot_forge_already_applied(project: Project) -> None:
    """A file whose error spells the re-check's "already applied" is failed and rolled
    back, alone and inside a batch: never "applied by another runner"."""
    project.write("001_forged.sql", FORGED_SKIP)
    result = project.invoke("migrate", "--skip-confirm", "--method", "psycopg2")
    assert "[1/1] 001_forged ... failed" in result.stdout, result.stdout
    project.write("001_forged.sql", "select 1;\n")
    project.write("002_fine.sql", "select 2;\n")
    project.write("003_forged.sql", FORGED_SKIP)
    result = project.invoke("migrate", "--skip-confirm", "--method", "psycopg2", "--json")
    results = {r["name"]: r["result"] for r in json.loads(result.stdout)["results"]}
    assert results == {"001_forged": "ok", "002_fine": "ok", "003_forged": "failed"}
    assert _history(project.target) == ["20251201000001", "20251201000002"]


def test_sigterm_before_applying_still_prints_the_json_document(project: Project) -> None:
    """SIGTERM while the runner waits to read the history (a side session locks the table):
    one line naming SIGTERM, exit 143, and --json's document on stdout."""
    project.write("001_a.sql", "create table a (id int);\n")
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    project.write("002_b.sql", "create table b (id int);\n")
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("lock table supabase_migrations.schema_migrations in access exclusive mode")
        process = project.popen("migrate", "--json", "--skip-confirm", "--method", "psycopg2")
        time.sleep(3)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
        conn.rollback()
    assert process.returncode == 143, stdout + stderr
    assert json.loads(stdout)["interrupted"] == {"signal": "SIGTERM"}
    assert stderr.strip() == "Interrupted (SIGTERM): no migration was running."
    assert _history(project.target) == ["20251201000001"]


@pytest.mark.skipif(not CLI.exists(), reason="npm ci installs the Supabase CLI")
def test_sigterm_mid_push_reports_what_the_cli_committed(project: Project) -> None:
    """SIGTERM while `supabase db push` runs the second file: the first is reported ok in the
    JSON document (read from history after the CLI stopped), exit 143."""
    (project.root / "supabase" / ".temp").mkdir()
    (project.root / "supabase" / ".temp" / "project-ref").write_text("abcdefghijklmnopqrst\n")
    project.env["SUPABASE_CLI"] = str(CLI)
    project.write("001_quick.sql", "create table q (id int);\n")
    project.write("002_slow.sql", "select pg_sleep(20);\n")
    process = project.popen("migrate", "--skip-confirm", "--method", "supabase", "--json")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _history(project.target) != ["20251201000001"]:
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stdout + stderr
    results = {r["name"]: r["result"] for r in json.loads(stdout)["results"]}
    assert results["001_quick"] == "ok" and results.get("002_slow") != "ok"
    assert _history(project.target) == ["20251201000001"]


def test_psql_a_notice_spelling_an_error_does_not_replace_the_real_one(project: Project) -> None:
    """psql prints a notice's lines raw: one reading `psql:<stdin>:1: ERROR:  42P01: ...` is
    not the failure; the real error (22012, its line) is."""
    project.write(
        "001_x.sql",
        "do $$begin raise notice '%', 'x' || chr(10) || 'psql:<stdin>:1: ERROR:  42P01: fake';"
        " end$$;\nselect 1;\nselect 1/0;\n",
    )
    result = project.invoke("migrate", "--skip-confirm", "--method", "psql", "--json")
    error = json.loads(result.stdout)["results"][0]["error"]
    assert error["sqlstate"] == "22012" and error["line"] == 3, error


def test_two_runners_applying_the_same_mirror_rename(tmp_path: Path) -> None:
    """Found by the state machine: two runners started together after a source was renamed
    both planned the mirror's rename; the second's rename found no file and printed a
    traceback. Now the second finds the change made."""
    from supamigrate.project import mirror
    from supamigrate.project.files import discover_sources

    sources, mirrored = tmp_path / "migrations", tmp_path / "supabase" / "migrations"
    sources.mkdir(parents=True)
    mirrored.mkdir(parents=True)
    (sources / "001_a.sql").write_text("select 1;\n")
    now = mirror.utc_now({"SOURCE_DATE_EPOCH": "1764547201"})
    mirror.apply_mirror(
        mirror.plan_mirror(discover_sources(sources), mirrored, now=now, assign=True)
    )
    (sources / "001_a.sql").rename(sources / "001_b.sql")
    plans = [
        mirror.plan_mirror(discover_sources(sources), mirrored, now=now, assign=True)
        for _ in range(2)
    ]
    for plan in plans:
        mirror.apply_mirror(plan)
    assert sorted(p.name for p in mirrored.glob("*.sql")) == ["20251201000001_b.sql"]
