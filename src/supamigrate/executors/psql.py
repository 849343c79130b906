"""The psql executor: one psql process for the whole run, same semantics as psycopg2.

We generate one script: per migration BEGIN, RESET ALL, the advisory lock, a re-check of the
history (`\\gset` + `\\if`, so a version applied meanwhile is skipped, not an error), local
timeouts, the file, the history row, COMMIT. ON_ERROR_STOP ends psql at the first error, which
ends the session, so the server rolls that migration back. Progress comes back as `\\warn`
markers on stderr (unbuffered), which also carries notices and the error. The connection and
the password reach psql only through PG* environment variables, never argv.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable

from supamigrate.dburl import DbTarget
from supamigrate.errors import ConfigError
from supamigrate.executors.base import Failure, Outcome, Result
from supamigrate.files import MigrationFile
from supamigrate.history import (
    ADVISORY_LOCK_KEY,
    CREATE_TABLE,
    TABLE,
    HistoryRow,
    quote_literal,
    record_sql,
)
from supamigrate.masking import mask
from supamigrate.pgpass import temporary_pgpass
from supamigrate.sqlsplit import is_no_transaction, split_statements

_MARK = re.compile(r"^supamigrate:(?P<event>begin|ok|skipped):(?P<index>\d+)$")
_ERROR = re.compile(r"^psql:<stdin>:(?P<line>\d+): ERROR:\s+(?P<state>[0-9A-Z]{5}): (?P<msg>.*)$")
_FATAL = re.compile(r"FATAL:\s+(?P<state>[0-9A-Z]{5}):\s+(?P<msg>.*)")
# "psql:<stdin>:12: NOTICE:  00000: text" -> "NOTICE:  text", as the psycopg2 path shows it
_NOTICE_PREFIX = re.compile(r"^psql:<stdin>:\d+: |(?<=NOTICE:  )00000: ")
_SETUP = "\\set ON_ERROR_STOP on\n\\set VERBOSITY verbose\n\\set QUIET on\n\\o /dev/null\n"


class PsqlExecutor:
    name = "psql"

    def __init__(
        self,
        target: DbTarget,
        *,
        lock_timeout: str = "5s",
        statement_timeout: str = "",
        connect_timeout: int = 10,
    ) -> None:
        found = shutil.which("psql")
        if found is None:
            raise ConfigError(
                "psql is not on PATH: install postgresql-client, or use another --method."
            )
        self.psql = found
        self.target = target
        # The password goes through a temporary 0600 pgpass file per psql run (pgpass.py).
        self.env = {k: v for k, v in target.libpq_env(connect_timeout).items() if k != "PGPASSWORD"}
        self.timeouts = (
            f"SET LOCAL lock_timeout = {quote_literal(lock_timeout or '0')};\n"
            f"SET LOCAL statement_timeout = {quote_literal(statement_timeout or '0')};\n"
        )

    def read_history(self) -> list[HistoryRow]:
        query = (
            "select coalesce(json_agg(json_build_object('v', version, 'n', coalesce(name, ''), "
            f"'s', statements) order by version), '[]') from {TABLE}"
        )
        result = self._psql(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", query])
        if result.returncode != 0:
            if "42P01" in result.stderr or "does not exist" in result.stderr:
                return []
            from supamigrate.errors import DatabaseUnavailable

            raise DatabaseUnavailable(
                mask(f"psql could not read the history: {result.stderr.strip()}")
            )
        rows = json.loads(result.stdout.strip() or "[]")
        return [
            HistoryRow(r["v"], r["n"], tuple(r["s"]) if r["s"] is not None else None) for r in rows
        ]

    def apply_batch(
        self, todo: list[MigrationFile], *, rerun: bool, on_result: Callable[[Result], None]
    ) -> list[Result]:
        """Apply in order through one psql; stop at the first failure."""
        script, spans = self._script(todo, rerun=rerun)
        with temporary_pgpass(self.target) as passfile:
            process = subprocess.Popen(
                [self.psql, "-X", "-f", "-"],
                env={**_base_env(), **self.env, **passfile},
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            return self._follow(process, script, spans, todo, on_result)

    def _follow(
        self,
        process: subprocess.Popen[str],
        script: str,
        spans: list[int],
        todo: list[MigrationFile],
        on_result: Callable[[Result], None],
    ) -> list[Result]:
        """Feed the script, turn psql's stderr markers into results as they come."""
        assert process.stdin is not None and process.stderr is not None
        process.stdin.write(script)
        process.stdin.close()
        results: list[Result] = []
        current, started = -1, time.perf_counter()
        notices: list[str] = []
        error_lines: list[str] = []
        for raw in process.stderr:
            line = raw.rstrip("\n")
            mark = _MARK.match(line)
            if mark is None:
                if error_lines or _ERROR.match(line):
                    error_lines.append(mask(line))
                elif not line.startswith("LOCATION:"):
                    notices.append(mask(_NOTICE_PREFIX.sub("", line)))
                continue
            index, event = int(mark.group("index")), mark.group("event")
            if event == "begin":
                current, started, notices = index, time.perf_counter(), []
                continue
            outcome = Outcome.OK if event == "ok" else Outcome.SKIPPED
            result = Result(todo[index], outcome, _ms(started), None, tuple(notices))
            results.append(result)
            on_result(result)
        code = process.wait()
        if code != 0 and 0 <= current < len(todo) and len(results) == current:
            failure = _failure(error_lines or notices, todo[current], spans[current])
            outcome = Outcome.FAILED
            if is_no_transaction(todo[current].sql) and failure.line > 1:
                outcome = Outcome.PARTIAL
            result = Result(todo[current], outcome, _ms(started), failure, tuple(notices))
            results.append(result)
            on_result(result)
        elif code != 0:
            from supamigrate.errors import DatabaseUnavailable

            raise DatabaseUnavailable(mask("psql failed: " + " ".join(error_lines or notices)))
        return results

    def rehearse(self, migrations: list[MigrationFile]) -> list[Result]:
        from supamigrate.errors import UsageError

        raise UsageError("--rehearse needs psycopg2: pass --method psycopg2.")

    def close(self) -> None:
        """Nothing to close: each run is its own psql process."""

    def _psql(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        with temporary_pgpass(self.target) as passfile:
            return subprocess.run(
                [self.psql, *args],
                env={**_base_env(), **self.env, **passfile},
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )

    def _script(self, todo: list[MigrationFile], *, rerun: bool) -> tuple[str, list[int]]:
        """The script, and for each migration the script line where its file starts."""
        lock = f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});\n"
        parts = [_SETUP, f"BEGIN;\n{lock}{CREATE_TABLE}COMMIT;\n"]
        spans = []
        for index, migration in enumerate(todo):
            head, tail = self._wrap(migration, index, rerun=rerun)
            parts.append(f"\\warn supamigrate:begin:{index}\n{head}")
            spans.append("".join(parts).count("\n") + 1)
            parts.append(migration.sql + tail)
        return "".join(parts), spans

    def _wrap(self, migration: MigrationFile, index: int, *, rerun: bool) -> tuple[str, str]:
        """What goes before and after one file: lock, re-check, timeouts; row, commit, marks."""
        texts = [s.text for s in split_statements(migration.sql)]
        record = record_sql(migration.version, migration.name, texts, replace=rerun)
        recorded = f"SELECT 1 FROM {TABLE} WHERE version = {quote_literal(migration.version)}"
        pending = "true" if rerun else f"NOT EXISTS ({recorded})"
        check = f"SELECT {pending} AS supamigrate_pending \\gset\n\\if :supamigrate_pending\n"
        ok = f"\\warn supamigrate:ok:{index}\n\\else\n"
        skipped = f"\\warn supamigrate:skipped:{index}\n\\endif\n"
        if is_no_transaction(migration.sql):
            unlock = f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY});\n"
            head = f"RESET ALL;\nSELECT pg_advisory_lock({ADVISORY_LOCK_KEY});\n{check}"
            return head, f"\n;\n{record}\n{unlock}{ok}{unlock}{skipped}"
        lock = f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});\n"
        # RESET ALL inside the transaction: through a transaction pooler, a statement before
        # BEGIN may run on another backend than the migration (tests/test_pooler.py).
        head = f"BEGIN;\nRESET ALL;\n{lock}{check}{self.timeouts}"
        return head, f"\n;\n{record}\nCOMMIT;\n{ok}ROLLBACK;\n{skipped}"


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _failure(lines: list[str], migration: MigrationFile, first_line: int) -> Failure:
    match = next((m for m in map(_ERROR.match, lines) if m), None)
    if match is None:
        fatal = next((m for m in map(_FATAL.search, lines) if m), None)
        lost = fatal is not None or any("connection to server was lost" in x for x in lines)
        if lost:
            why = fatal.group("msg") if fatal else "server closed the connection"
            return Failure(
                fatal.group("state") if fatal else "08006",
                f"connection lost mid-migration ({why}); the server rolled this migration "
                "back. Re-run `invoke migrate` to continue.",
            )
        return Failure("?????", " ".join(lines)[:500] or "psql stopped")
    detail = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("DETAIL:")), "")
    hint = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("HINT:")), "")
    end_line = int(match.group("line")) - first_line + 1  # psql reports where the statement ended
    statement = None
    for candidate in split_statements(migration.sql):
        if candidate.line <= end_line:
            statement = candidate
    return Failure(
        match.group("state"),
        match.group("msg"),
        detail,
        hint,
        statement=mask(statement.text) if statement else "",
        line=statement.line if statement else 0,
        located_by="psql" if statement else "",
    )
