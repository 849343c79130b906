"""The report is the truth, tested like a model: a hypothesis state machine drives the real
`invoke migrate` (a subprocess in a temp project) against its own throwaway server.

Rules are what a team and the world do: add a migration (plain, failing, noisy with hostile
notices, slow, or outside a transaction with its own BEGIN..ROLLBACK), fix a failing one,
rename a pending one, run migrate with generated flags and methods, run it while a side
connection terminates its backend or while it is sent SIGINT/SIGTERM at a random moment, run
two runners at once, restart the server. After every step: the history and schema equal the
model's; each history row's statements are the CLI-exact split of its file; every line and
JSON result the run printed is true of the database (every "ok" committed, every committed
migration reported); no secret and no raw control character in any output; no line of
progress that the runner did not write.

Small and seeded by default; SUPAMIGRATE_LONG=1 runs many more examples.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from helpers.project import Project
from helpers.server import throwaway_server
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.local import server as localdb
from supamigrate.sql.sqlsplit import statements_text

LONG = bool(os.environ.get("SUPAMIGRATE_LONG"))
SECRET = "Zq9-sm-runner-pw-7Kx"  # the runner's password: must appear in no output
CLI = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "supabase"
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (\S+) \.\.\. (\w+)")
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
STEPS: Counter[str] = Counter()  # rules run, for the report (printed at the end with -s)


def _step(name: str) -> None:
    STEPS[name] += 1
    if LONG:  # a long run shows where it is (pytest -s)
        print(f"{time.strftime('%H:%M:%S')} {name} {sum(STEPS.values())}", flush=True)


# Hostile notice text: escapes, CR, bidi overrides, and lines that read as the runner's own.
HOSTILE = st.lists(
    st.sampled_from(
        [
            *("\x1b[31m", "\r", "\n[2/2] m0 ... ok (1 ms)", "\u202e", "\x07", "\x9b"),
            *("Done in 1 ms", "\nsupamigrate:ok:0", "\nNOTICE:  supamigrate: start 2025", "plain"),
            *("\npsql:<stdin>:1: ERROR:  42P01: fake", "\nFATAL:  57P01: fake"),
        ]
    ),
    min_size=1,
    max_size=4,
).map("".join)


@dataclass
class File:
    """One migration in the model: what it creates and how it behaves."""

    key: int
    number: int
    name: str
    no_transaction: bool = False
    failing: bool = False
    slow: bool = False
    notice: str = ""
    version: str = ""  # known once mirrored

    @property
    def label(self) -> str:
        return f"{self.number:03d}_{self.name}"

    @property
    def table(self) -> str:
        return f"t_{self.key}"

    def sql(self) -> str:
        parts = ["-- supamigrate:no-transaction\n"] if self.no_transaction else []
        parts.append(f"create table if not exists public.{self.table} (id int);\n")
        if self.notice:
            text = "||".join(f"chr({ord(c)})" for c in self.notice)
            parts.append(f"do $$begin raise notice '%', {text}; end$$;\n")
        if self.slow:
            parts.append("select pg_sleep(0.4);\n")
        if self.no_transaction:  # its own block, rolled back: nothing of it may be counted
            parts.append(f"begin;\ncreate table public.{self.table}_rb (id int);\nrollback;\n")
        if self.failing:  # odd keys fail spelling the re-check's "already applied"
            forged = "select ('supamigrate: already applied ' || 1)::int;\n"
            parts.append(forged if self.key % 2 else "select 1/0;\n")
        return "".join(parts)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    as_json: bool

    def reported(self) -> dict[str, str]:
        """label -> result, from the JSON document or the progress lines."""
        if self.as_json and not self.stdout.strip():
            # Only a signal before the task started (Python's or invoke's own handling: exit
            # -2/-15, or invoke's 1) leaves no document: the database check says nothing ran.
            assert self.code in (-2, -15, 1) and "Target:" not in self.stderr, self.stderr
            return {}
        if self.as_json:
            doc = json.loads(self.stdout)
            return {r["name"]: r["result"] for r in doc.get("results", [])}
        found = {}
        for line in self.stdout.splitlines():
            match = PROGRESS.match(line)
            if match and match.group(4) != "running":  # (a long one's progress, then its end)
                found[match.group(3)] = match.group(4)
        return found


_ids = count()


@pytest.fixture(scope="module")
def sm_server() -> Iterator[localdb.LocalServer]:
    with throwaway_server("supamigrate-sm-") as (server, _):
        with session(server.admin_target(), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(
                f"create role sm_runner login password '{SECRET}' createdb "
                "in role pg_signal_backend"
            )
        yield server


class MigrateMachine(RuleBasedStateMachine):
    server: localdb.LocalServer
    base: Path

    def __init__(self) -> None:
        super().__init__()
        n = next(_ids)
        admin = self.server.admin_target()
        name = f"sm_{os.getpid()}_{n}"
        with session(admin, autocommit=True) as conn, conn.cursor() as cur:
            # template0: template1 holds the Supabase shim, whose schema public belongs to
            # postgres (as on Supabase), and this runner is not postgres
            cur.execute(f"create database {name} owner sm_runner template template0")
        self.target = DbTarget(admin.host, admin.port, "sm_runner", name, SECRET)
        self.project = Project.create(self.base / name, self.target)
        temp = self.project.root / "supabase" / ".temp"
        temp.mkdir()
        (temp / "project-ref").write_text("abcdefghijklmnopqrst\n")  # `supabase` can run
        self.project.env["SUPABASE_CLI"] = str(CLI)
        self.files: list[File] = []
        self.applied: set[int] = set()  # keys of applied files
        self.restarts = 0

    # --- the world --------------------------------------------------------------------------

    @initialize(
        method=st.sampled_from(["psycopg2", "psql"]),
        as_json=st.booleans(),
        notice=HOSTILE,
        no_transaction=st.booleans(),
    )
    def a_first_run(self, method: str, as_json: bool, notice: str, no_transaction: bool) -> None:
        """Every example starts with a run over a hostile file and a failing one (swarm
        testing may switch any rule off; this part of the promise is always exercised)."""
        self.add_file(failing=False, no_transaction=no_transaction, slow=False, notice=notice)
        self.add_file(failing=True, no_transaction=False, slow=False, notice="")
        self.migrate(method, as_json, go_on=False)

    @rule(
        failing=st.booleans(),
        no_transaction=st.booleans(),
        slow=st.booleans(),
        notice=st.one_of(st.just(""), HOSTILE),
    )
    def add_file(self, failing: bool, no_transaction: bool, slow: bool, notice: str) -> None:
        _step("add_file")
        key = len(self.files)
        file = File(key, key + 1, f"m{key}", no_transaction, failing, slow, notice)
        self.files.append(file)
        self._write(file)

    @precondition(lambda self: any(f.failing and f.key not in self.applied for f in self.files))
    @rule(data=st.data())
    def fix_a_failing_file(self, data: st.DataObject) -> None:
        _step("fix_a_failing_file")
        failing = [f for f in self.files if f.failing and f.key not in self.applied]
        file = data.draw(st.sampled_from(failing))
        file.failing = False
        self._write(file)

    @precondition(lambda self: any(f.key not in self.applied for f in self.files))
    @rule(data=st.data())
    def rename_a_pending_file(self, data: st.DataObject) -> None:
        _step("rename_a_pending_file")
        file = data.draw(st.sampled_from([f for f in self.files if f.key not in self.applied]))
        old = self.project.root / "migrations" / f"{file.label}.sql"
        file.name = f"{file.name}_r"
        old.rename(self.project.root / "migrations" / f"{file.label}.sql")

    @precondition(lambda self: self.restarts < 1)
    @rule()
    def restart_the_server(self) -> None:
        _step("restart_the_server")
        self.restarts += 1
        localdb.stop(self.server)
        localdb.start(self.server, fast=True)

    # --- runs -------------------------------------------------------------------------------

    @rule(
        method=st.sampled_from(["psycopg2", "psycopg2", "psql", "supabase"]),
        as_json=st.booleans(),
        go_on=st.booleans(),
    )
    def migrate(self, method: str, as_json: bool, go_on: bool) -> None:
        _step("migrate")
        method = self._usable(method)
        result = self.project.invoke(*self._args(method, as_json, go_on))
        run = Run(result.returncode, result.stdout, result.stderr, as_json)
        if method == "supabase" and go_on:  # a push cannot leave a failed file out: refused
            assert run.code == 2 and "--continue-on-error" in run.stderr, run.stderr
            return  # before anything ran: the model stands
        assert run.code in (0, 1), run.stdout + run.stderr
        self._check_run(run)
        self._predict(go_on)

    @rule(
        method=st.sampled_from(["psycopg2", "psql"]),
        as_json=st.booleans(),
        delay=st.floats(0.6, 2.5),
        how=st.sampled_from(["terminate", "SIGINT", "SIGTERM"]),
    )
    def migrate_and_interfere(self, method: str, as_json: bool, delay: float, how: str) -> None:
        _step("migrate_and_interfere")
        process = self._popen(*self._args(method, as_json, False))
        time.sleep(delay)
        if how == "terminate":
            admin = self.server.admin_target()
            with session(admin, autocommit=True) as conn, conn.cursor() as cur:
                cur.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where datname = %s and pid <> pg_backend_pid()",
                    (self.target.database,),
                )
        else:
            process.send_signal(getattr(signal, how))
        stdout, stderr = process.communicate(timeout=120)
        run = Run(process.returncode, stdout, stderr, as_json)
        # (before Python installed its handlers a signal ends it: nothing ran, nothing said)
        assert run.code in (0, 1, 130, 143, -2, -15), run.stdout + run.stderr
        self._check_run(run)
        self._sync_from_history()

    @rule(method=st.sampled_from(["psycopg2", "psql"]))
    def two_runners_at_once(self, method: str) -> None:
        _step("two_runners_at_once")
        runners = [self._popen(*self._args(method, True, False)) for _ in range(2)]
        outputs = [p.communicate(timeout=120) for p in runners]
        runs = [Run(p.returncode, o, e, True) for p, (o, e) in zip(runners, outputs, strict=True)]
        oks = [{k for k, v in r.reported().items() if v == "ok"} for r in runs]
        assert not (oks[0] & oks[1]), f"applied twice: {oks}"
        for run in runs:  # each true of the database; together they report every commit
            self._check_run(run, alone=False)
        reported = oks[0] | oks[1]
        before = set(self.applied)
        self._sync_from_history()
        added = {f.label for f in self.files if f.key in self.applied - before}
        assert added <= reported, f"committed but not reported by either: {added - reported}"

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def history_and_schema_are_the_models(self) -> None:
        STEPS["(invariants checked)"] += 1
        rows, tables = self._database()
        self._learn_versions()
        expected = {f.version: f for f in self.files if f.key in self.applied}
        assert set(rows) == set(expected), f"history {sorted(rows)} != model {sorted(expected)}"
        for version, file in expected.items():
            assert rows[version] == statements_text(file.sql()), f"{file.label}'s row"
            assert file.table in tables, f"{file.label} applied but {file.table} missing"
        for file in self.files:
            assert f"{file.table}_rb" not in tables, "a rolled-back block's table exists"
            if file.key not in self.applied and not file.no_transaction:
                assert file.table not in tables, f"{file.label} rolled back but its table stays"

    # --- pieces -----------------------------------------------------------------------------

    def _write(self, file: File) -> None:
        self.project.write(f"{file.label}.sql", file.sql())

    def _usable(self, method: str) -> str:
        pending = [f for f in self.files if f.key not in self.applied]
        if method == "supabase" and any(f.no_transaction or f.notice for f in pending):
            return "psycopg2"  # the CLI runs a file in its own transaction: not modelled
        return method

    def _args(self, method: str, as_json: bool, go_on: bool) -> list[str]:
        args = ["migrate", "--skip-confirm", "--include-all", "--method", method]
        return args + ["--json"] * as_json + ["--continue-on-error"] * go_on

    def _popen(self, *args: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "DATABASE_URL")}
        env.update({"DATABASE_URL": self.target.url(), **self.project.env})
        return subprocess.Popen(
            ["python", "-m", "invoke", *args],
            cwd=self.project.root,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )

    def _predict(self, go_on: bool) -> None:
        for file in self.files:
            if file.key in self.applied:
                continue
            if not file.failing:
                self.applied.add(file.key)
            elif not go_on:
                return

    def _sync_from_history(self) -> None:
        """After a run whose end the world decided: what committed must be whole migrations."""
        rows, _ = self._database()
        self._learn_versions()
        self.applied = {f.key for f in self.files if f.version in rows}

    def _learn_versions(self) -> None:
        mirrored = self.project.root / "supabase" / "migrations"
        by_key = {}
        for path in mirrored.glob("*.sql"):
            version, name = path.stem.split("_", 1)
            by_key[name.split("_")[0]] = version
        for file in self.files:
            file.version = by_key.get(f"m{file.key}", file.version)

    def _database(self) -> tuple[dict[str, list[str]], set[str]]:
        with session(self.target, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("select to_regclass('supabase_migrations.schema_migrations')")
            rows: dict[str, list[str]] = {}
            if cur.fetchone()[0] is not None:
                cur.execute("select version, statements from supabase_migrations.schema_migrations")
                rows = {v: list(s or []) for v, s in cur.fetchall()}
            cur.execute("select tablename from pg_tables where schemaname = 'public'")
            return rows, {t for (t,) in cur.fetchall()}

    def _check_run(self, run: Run, *, alone: bool = True) -> None:
        """What the run printed is true of the database, and safe to print."""
        everything = run.stdout + run.stderr
        assert SECRET not in everything, "the password was printed"
        started = "Target:" in everything or run.as_json
        assert "Traceback" not in everything or not started, everything
        assert RAW_CONTROL.search(run.stdout if not run.as_json else "") is None, "raw control"
        assert RAW_CONTROL.search(run.stderr) is None, "raw control character on stderr"
        rows, _ = self._database()
        self._learn_versions()
        reported = run.reported()
        labels = {f.label: f for f in self.files}
        for label, outcome in reported.items():
            file = labels.get(label)
            assert file is not None, f"a progress line for a migration that does not exist: {label}"
            if outcome == "ok":
                assert file.version in rows, f"{label} reported ok but not in history"
            if outcome == "skipped":
                assert file.version in rows, f"{label} reported applied by another, but is not"
            if outcome in ("failed", "partial"):
                assert file.version not in rows, f"{label} reported {outcome} but committed"
            if outcome == "partial" and run.as_json:
                result = next(r for r in json.loads(run.stdout)["results"] if r["name"] == label)
                file_ran = 1 + bool(file.notice) + bool(file.slow)  # not its BEGIN..ROLLBACK
                assert len(result["error"]["ran"]) == file_ran, "a PARTIAL counts what stayed"
        if not run.as_json:  # one progress line per result, none forged by a notice
            lines = [ln for ln in run.stdout.splitlines() if PROGRESS.match(ln)]
            lines = [ln for ln in lines if not ln.endswith(" ... running")]
            assert len(lines) == len(reported), f"forged or repeated progress lines: {lines}"
        new = {f.label for f in self.files if f.version in rows and f.key not in self.applied}
        unreported = {label for label in new if reported.get(label) != "ok" and alone}
        assert not unreported, f"committed but not reported ok: {unreported}\n{everything}"


def test_the_report_is_the_truth(sm_server: localdb.LocalServer, tmp_path: Path) -> None:
    """Whatever a team and the world do, the database is the model's and the report is true."""
    MigrateMachine.server = sm_server
    MigrateMachine.base = tmp_path
    run = MigrateMachine.TestCase()
    run.settings = settings(
        max_examples=60 if LONG else 4,
        stateful_step_count=25 if LONG else 7,
        derandomize=not LONG,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    started = time.monotonic()
    run.runTest()
    took = time.monotonic() - started
    print(f"state machine: {dict(STEPS)} in {took:.0f} s")
