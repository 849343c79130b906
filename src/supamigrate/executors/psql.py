"""The psql method: one psql process for the whole run, the same envelope as psycopg2.

We render one script: per migration its envelope (envelope.py), with the re-check as
`\\gset` + `\\if`, so a version applied meanwhile is skipped, not an error. ON_ERROR_STOP
ends psql at the first error, which ends the session, so the server rolls that migration
back. Progress comes back as `\\warn` markers on stderr (unbuffered), which also carries
notices and the error. The connection reaches psql only through PG* environment variables
and the password through an in-memory pgpass (pgpass.py), never argv or disk.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from supamigrate.connect.db import describe_connect_error
from supamigrate.connect.dburl import DbTarget
from supamigrate.connect.masking import mask
from supamigrate.connect.pgpass import password_env
from supamigrate.errors import DatabaseUnavailable
from supamigrate.executors import afterwards
from supamigrate.executors import failures as fx
from supamigrate.executors.base import BaseExecutor, Capabilities, OnResult, Settings
from supamigrate.executors.boundary_guard import guarded
from supamigrate.executors.envelope import Envelope, Limits, is_state_error, state_problem, wrap
from supamigrate.executors.psql_settings import refuse_unknown_settings
from supamigrate.executors.results import Failure, Outcome, Result
from supamigrate.history.table import (
    ADVISORY_LOCK_KEY,
    BEGIN,
    CREATE_TABLE,
    SCHEMA,
    TABLE,
    HistoryRow,
    drop_if_unused_psql,
    is_other_text,
    other_text_message,
    other_text_sql,
    quote_literal,
)
from supamigrate.process import interrupt
from supamigrate.process.children import die_with_parent
from supamigrate.project.files import MigrationFile

# The script's markers carry a nonce drawn per run: psql prints a notice's lines raw, so a
# migration raising a notice that spells a marker must not be able to end or skip a migration.
_MARK = re.compile(
    r"^supamigrate:(?P<nonce>[0-9a-f]{32}):(?P<event>begin|ok|skipped|pid|made):"
    r"(?P<index>\d+)$"
)
# psql's own words when it could not connect (libpq's), before any SQL ran
_NO_CONNECTION = re.compile(r"^psql: error: (connection to server|could not translate host)", re.M)
_NO_TABLE = re.compile(r"ERROR:\s+(?:42P01|3F000):")
_CANCEL_SENT = "Cancel request sent"  # psql, on SIGINT while a statement runs
_ERROR = re.compile(r"^psql:<stdin>:(?P<line>\d+): ERROR:\s+(?P<state>[0-9A-Z]{5}): (?P<msg>.*)$")
_FATAL = re.compile(r"FATAL:\s+(?P<state>[0-9A-Z]{5}):\s+(?P<msg>.*)")
# "psql:<stdin>:12: NOTICE:  00000: text" -> "NOTICE:  text", as the psycopg2 path shows it
_NOTICE_PREFIX = re.compile(r"^psql:<stdin>:\d+: |(?<=NOTICE:  )00000: ")
_SETUP = "\\set ON_ERROR_STOP on\n\\set VERBOSITY verbose\n\\set QUIET on\n\\o /dev/null\n"


@dataclass
class _Span:
    """Where one migration's file sits in the script (1-based script lines)."""

    envelope: Envelope
    first: int
    last: int


@dataclass
class _Follow:
    """What psql's stderr told us so far."""

    results: list[Result] = field(default_factory=list)
    current: int = -1
    started: float = 0.0
    notices: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    between: bool = True  # outside any migration: what comes is the runner's bookkeeping


class PsqlExecutor(BaseExecutor):
    name: ClassVar[str] = "psql"
    capabilities: ClassVar[Capabilities] = Capabilities(rehearse=False)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        found = shutil.which("psql")
        if found is None:
            from supamigrate.errors import ConfigError

            raise ConfigError(
                "psql is not on PATH: install postgresql-client, or use another --method."
            )
        self.psql = found
        refuse_unknown_settings(found, settings.target.params)
        self.limits = Limits(settings.lock_timeout, settings.statement_timeout)
        libpq = settings.target.libpq_env(settings.connect_timeout)
        self.env = {k: v for k, v in libpq.items() if k != "PGPASSWORD"}
        self._table_created_here = False  # no table when the history was read
        self._schema_created_here = False  # ... nor its schema (the script says: made)
        self._nonce = secrets.token_hex(16)

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        return None if shutil.which("psql") else "psql is not on PATH"

    def read_history(self) -> list[HistoryRow]:
        query = (
            "select coalesce(json_agg(json_build_object('v', version, 'n', coalesce(name, ''), "
            f"'s', statements) order by version), '[]') from {TABLE}"
        )
        result = self._psql(
            ["-XAtq", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-c", query]
        )
        if result.returncode != 0:
            # Only a missing table (or schema) is no history: not a missing column of a table
            # in an older layout, nor a missing database (those are errors to report).
            if _NO_TABLE.search(result.stderr):
                self._table_created_here = True  # if we create it, a failed first run removes it
                return []
            if _NO_CONNECTION.search(result.stderr):  # said as psycopg2's path says it
                libpq = result.stderr.replace("psql: error: ", "", 1)
                raise DatabaseUnavailable(describe_connect_error(self.settings.target, libpq))
            raise DatabaseUnavailable(
                mask(f"psql could not read the history: {result.stderr.strip()}")
            )
        rows = json.loads(result.stdout.strip() or "[]")
        return [
            HistoryRow(r["v"], r["n"], tuple(r["s"]) if r["s"] is not None else None) for r in rows
        ]

    def apply(
        self, todo: Sequence[MigrationFile], *, rerun: bool, on_result: OnResult
    ) -> list[Result]:
        """Apply in order through one psql; stop at the first failure."""
        script, spans = self._script(todo, rerun=rerun)
        self._schema_created_here = False  # the script says so again (--continue-on-error)
        with password_env(self.settings.target) as (extra_env, fds):
            process = subprocess.Popen(
                [self.psql, "-X", "-f", "-"],
                env={**_base_env(self.settings.target), **self.env, **extra_env},
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=fds,
                preexec_fn=die_with_parent,
            )
            with interrupt.forwarding(process.pid):
                results = self._follow(process, script, spans, on_result)
        if self._table_created_here and not any(r.outcome is Outcome.OK for r in results):
            drop = drop_if_unused_psql(schema=self._schema_created_here)
            self._psql(["-Xq", "-v", "ON_ERROR_STOP=1", "-f", "-"], script=drop)
        return results

    def _follow(
        self, process: subprocess.Popen[bytes], script: str, spans: list[_Span], on_result: OnResult
    ) -> list[Result]:
        """Feed the script, turn psql's stderr markers into results as they come. Lines end
        at "\n" only: a CR the server sent inside a message stays in it (and is shown as
        `\r`, as the psycopg2 path shows it), not a line break that changes its text."""
        assert process.stdin is not None and process.stderr is not None
        process.stdin.write(script.encode("utf-8"))
        process.stdin.close()
        state = _Follow()
        stderr = io.TextIOWrapper(process.stderr, encoding="utf-8", errors="replace", newline="\n")
        for raw in stderr:
            self._read_line(raw.rstrip("\n"), state, spans, on_result)
        code = process.wait()
        if code != 0 and 0 <= state.current < len(spans) and len(state.results) == state.current:
            span = spans[state.current]
            failure = _failure(state.errors or state.notices, span)
            outcome = Outcome.FAILED
            if not span.envelope.transactional:
                outcome, failure = fx.partial(failure, list(failure.ran))
            ms = (time.perf_counter() - state.started) * 1000
            migration, notices = span.envelope.migration, tuple(state.notices)
            result = Result(migration, outcome, ms, failure, notices)
            if failure.lost:  # the server decided: COMMIT may have been done before the loss
                found = self.committed([migration.version])
                result = afterwards.fate(migration, found, failure.message, ms=ms, notices=notices)
            state.results.append(result)
            on_result(result)
        elif code != 0 and interrupt.requested() is not None:
            return state.results  # stopped between migrations by our SIGINT: nothing in flight
        elif code != 0:
            said = state.errors or state.notices
            if _lost(said).lost:  # between migrations: the apply loop asks what committed
                raise fx.ConnectionLost(mask("psql lost its connection: " + " ".join(said)))
            raise DatabaseUnavailable(mask("psql failed: " + " ".join(said)))
        return state.results

    def _read_line(
        self, line: str, state: _Follow, spans: list[_Span], on_result: OnResult
    ) -> None:
        mark = _MARK.match(line)
        if mark is not None and mark.group("nonce") != self._nonce:
            mark = None  # a notice spelling a marker: text, not ours
        if mark is None:
            if line == _CANCEL_SENT and interrupt.requested() is not None:
                return  # psql's own word on our SIGINT, not the server's
            if state.errors or _ERROR.match(line) or _FATAL.search(line):
                state.errors.append(mask(line))
            elif state.between or line.startswith("LOCATION:"):
                return  # the runner's own bookkeeping is never a migration's notice
            elif state.notices and not line.startswith("psql:"):
                state.notices[-1] += "\n" + mask(line)  # a notice's next line (DETAIL, text)
            else:
                text = mask(_NOTICE_PREFIX.sub("", line))
                state.notices.append(text)
                if self.settings.on_notice is not None:
                    self.settings.on_notice(text)
            return
        index, event = int(mark.group("index")), mark.group("event")
        if event == "pid":
            self.backend_pid = index
            return
        if event == "made":
            self._schema_created_here = True
            return
        if event == "begin":
            state.current, state.started, state.notices = index, time.perf_counter(), []
            state.between = False
            return
        state.between = True
        outcome = Outcome.OK if event == "ok" else Outcome.SKIPPED
        ms = (time.perf_counter() - state.started) * 1000
        result = Result(spans[index].envelope.migration, outcome, ms, None, tuple(state.notices))
        state.results.append(result)
        on_result(result)

    def _psql(self, args: list[str], script: str | None = None) -> subprocess.CompletedProcess[str]:
        """psql with `args`, reading `script` from its stdin if given."""
        with password_env(self.settings.target) as (extra_env, fds):
            return subprocess.run(
                [self.psql, *args],
                env={**_base_env(self.settings.target), **self.env, **extra_env},
                capture_output=True,
                text=True,
                input=script,
                stdin=subprocess.DEVNULL if script is None else None,
                pass_fds=fds,
            )

    def _script(self, todo: Sequence[MigrationFile], *, rerun: bool) -> tuple[str, list[_Span]]:
        """The script, and for each migration the script lines its file occupies."""
        lock = f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});\n"
        # Whether the schema is missing, asked in the transaction that makes it: only a
        # schema this run made may go after a failed first run (a dashboard's stays).
        mark = f"supamigrate:{self._nonce}"
        made = (
            f"SELECT to_regnamespace('{SCHEMA}') IS NULL AS supamigrate_schema_made, "
            "pg_backend_pid() AS supamigrate_pid \\gset\n"
        )
        said = (
            f"\\warn {mark}:pid::supamigrate_pid\n"
            f"\\if :supamigrate_schema_made\n\\warn {mark}:made:0\n\\endif\n"
        )
        # Its "already exists, skipping" notices are not shown (nor anyone's to show).
        quiet = "SET LOCAL client_min_messages = warning;\n"
        parts = [_SETUP, f"{BEGIN}{quiet}{lock}{made}{CREATE_TABLE}COMMIT;\n{said}"]
        lines = sum(p.count("\n") for p in parts)
        spans = []
        for index, migration in enumerate(todo):
            envelope = wrap(
                migration,
                self.limits,
                rerun=rerun,
                guard=guarded(self.guard_from, migration.version),
            )
            head = f"\\warn {mark}:begin:{index}\n{envelope.before_check}"
            head += _recheck(envelope) + envelope.after_check
            first = lines + head.count("\n") + 1
            tail = (
                f"\n;\n{envelope.record}{_one_message(envelope.close)}\\warn {mark}:ok:{index}\n"
                f"\\else\n{envelope.on_skip}\\warn {mark}:skipped:{index}\n\\endif\n"
            )
            block = head + envelope.body + tail
            spans.append(_Span(envelope, first, first + migration.sql.count("\n")))
            parts.append(block)
            lines += block.count("\n")
        return "".join(parts), spans


def _one_message(sql: str) -> str:
    """The runner's own closing statements (COMMIT and the clean session, one per line) sent
    as one message (psql's `\\;`): through a transaction pooler each statement psql sends
    alone may land on another server connection, so the cleaning would clean someone else's
    session, and each costs a round trip."""
    lines = sql.splitlines()
    return "".join(f"{line[:-1]}\\;\n" for line in lines[:-1]) + lines[-1] + "\n"


def _recheck(envelope: Envelope) -> str:
    """psql's rendering of the in-lock re-check: a variable and a branch, not an error; a
    version recorded with another text is an error (ON_ERROR_STOP), never the skip branch."""
    if envelope.version is None:
        return "SELECT true AS supamigrate_pending \\gset\n\\if :supamigrate_pending\n"
    version = quote_literal(envelope.version)
    texts = [statement.text for statement in envelope.statements]
    return (
        f"{other_text_sql(envelope.version, texts)}\n"
        f"SELECT NOT EXISTS (SELECT 1 FROM {TABLE} WHERE version = {version}) "
        "AS supamigrate_pending \\gset\n\\if :supamigrate_pending\n"
    )


def _base_env(target: DbTarget) -> dict[str, str]:
    """The environment psql starts from: the user's PG* settings reach it as they reach the
    psycopg2 path's libpq (PGSSLMODE=require, PGSSLROOTCERT, PGOPTIONS, ... are never
    dropped); where to connect is then set from the target over them. A password of the
    target's travels in the pgpass, which an inherited PGPASSWORD would override."""
    ours = ("PGPASSWORD", "PGPASSFILE") if target.password is not None else ()
    return {k: v for k, v in os.environ.items() if k not in ours}


def _failure(lines: list[str], span: _Span) -> Failure:
    # The last ERROR: psql stops at the real one, while a notice's raw lines may spell others.
    at = max((i for i, line in enumerate(lines) if _ERROR.match(line)), default=None)
    if at is None:
        return _lost(lines)
    match = _ERROR.match(lines[at])
    assert match is not None
    fields = fx.psql_fields(match.group("msg"), lines[at + 1 :])
    detail, hint = fields.get("DETAIL", ""), fields.get("HINT", "")
    state, message = match.group("state"), fields["MESSAGE"]
    if is_other_text(message):  # the in-lock re-check: another text under this version
        return Failure(state, other_text_message(span.envelope.migration.version))
    script_line = int(match.group("line"))  # psql reports the line where the statement ended
    statements = span.envelope.statements
    if script_line > span.last:  # after the file: the state check or the history insert
        ran = tuple(s.text for s in statements)
        if is_state_error(message):
            left = state_problem(message)
            message = f"the file left {left} (a no-transaction file must end as it began)"
        return Failure(state, mask(message), detail, hint, ran=ran)
    end_line = script_line - span.first + 1
    found = [s for s in statements if s.line <= end_line]
    statement = found[-1] if found else None
    ran = tuple(s.text for s in found[:-1])
    return Failure(
        state,
        mask(message),
        mask(detail),
        mask(hint),
        statement=mask(statement.text) if statement else "",
        line=statement.line if statement else 0,
        located_by="psql" if statement else "",
        ran=ran if not span.envelope.transactional else (),
    )


def _lost(lines: list[str]) -> Failure:
    fatal = next((m for m in map(_FATAL.search, lines) if m), None)
    lost = fatal is not None or any("connection to server was lost" in x for x in lines)
    if lost:
        why = fatal.group("msg") if fatal else "server closed the connection"
        return Failure(
            fatal.group("state") if fatal else "08006",
            mask(f"The connection was lost mid-migration ({why})."),
            lost=True,
        )
    return Failure("?????", mask(" ".join(lines)[:500]) or "psql stopped")
