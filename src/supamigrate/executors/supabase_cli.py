"""The supabase method: our checks first, then the real `supabase db push` applies.

The CLI targets the resolved database by URL (`--remote=<url without password>`), with the
password in PGPASSWORD, never in argv; with `--linked` it gets a bare `--remote` (the linked
project) and the password in SUPABASE_DB_PASSWORD, which it reads itself. Its output is
streamed through `mask`. Reading history stays on psycopg2; the CLI cannot rehearse or re-run
one applied migration, and it says so through `capabilities`. The configured timeouts reach
the CLI's connection as startup options, where a probe showed they hold (cli_timeouts).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from supamigrate.connect.masking import mask
from supamigrate.errors import MigrationFailed, UsageError
from supamigrate.executors import cli_timeouts
from supamigrate.executors.base import BaseExecutor, Capabilities, OnResult, Settings
from supamigrate.executors.psycopg2 import Psycopg2Executor
from supamigrate.executors.results import Failure, Outcome, Result
from supamigrate.executors.rls_before import notes_rls
from supamigrate.history.table import HistoryRow, matches_file, other_text_message
from supamigrate.process import interrupt
from supamigrate.process.children import die_with_parent
from supamigrate.project.files import MigrationFile
from supamigrate.sql.sqlsplit import VERIFIED_CLI_VERSION


def find_cli(root: Path, environ: Mapping[str, str]) -> Path | None:
    """SUPABASE_CLI, then ./node_modules/.bin/supabase (npm ci), then PATH."""
    for candidate in (
        environ.get("SUPABASE_CLI"),
        str(root / "node_modules" / ".bin" / "supabase"),
        shutil.which("supabase"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def linked_ref(supabase_dir: Path, passthrough: Mapping[str, str]) -> str | None:
    """The project ref from `supabase link` (supabase/.temp) or SUPABASE_PROJECT_ID."""
    temp = supabase_dir / ".temp"
    ref_file = temp / "project-ref"
    try:
        ref = ref_file.read_text(encoding="utf-8").strip() if ref_file.is_file() else ""
        if not ref and (temp / "linked-project.json").is_file():
            data = json.loads((temp / "linked-project.json").read_text(encoding="utf-8"))
            ref = str(data.get("ref") or "") if isinstance(data, dict) else ""
    except (OSError, ValueError):
        ref = ""
    return ref or passthrough.get("SUPABASE_PROJECT_ID")


def version_note(found: str, cli: Path) -> list[str]:
    if found == VERIFIED_CLI_VERSION:
        return []
    return [
        f"Note: Supabase CLI {found or 'unknown'} at {cli}; supamigrate's history rows are "
        f"verified against {VERIFIED_CLI_VERSION} (run `npm ci` for the pinned one)."
    ]


_APPLYING = re.compile(r"^Applying migration (?P<version>\d+)_\S*\.sql\.\.\.$")
_ERROR = re.compile(r"^ERROR: (?P<message>.*) \(SQLSTATE (?P<state>[0-9A-Z]{5})\)$")
# The CLI prints a message of several lines as it is: "ERROR: first" ... "last (SQLSTATE x)",
# then the detail's lines, then "At statement: N" and the statement.
_ERROR_START = re.compile(r"^ERROR: (?P<message>.*)$")
_ERROR_END = re.compile(r"^(?P<message>.*) \(SQLSTATE (?P<state>[0-9A-Z]{5})\)$")
NO_NOTICES = (
    "Notices: `supabase db push` does not show the migrations' notices (RAISE NOTICE, "
    '"already exists, skipping"); run with --method psycopg2 to see them.'
)


@dataclass
class _Pushed:
    """What the CLI's output told, timed as it arrived: when each migration began (it prints
    "Applying migration <file>..." as it starts one), when it ended, and its error."""

    code: int = 0
    began: dict[str, float] = field(default_factory=dict)  # version -> time it began
    ended: float = 0.0
    error: Failure | None = None
    at_statement: bool = False
    message: list[str] | None = None  # an error message's lines, until its "(SQLSTATE x)"

    def read(self, line: str, now: float) -> None:
        applying, error = _APPLYING.match(line), _ERROR.match(line)
        if self.message is not None and self.error is None and applying is None:
            end = _ERROR_END.match(line)  # a message of several lines: all of them
            if end is None:
                self.message.append(line)
                return
            text = "\n".join([*self.message, end.group("message")])
            self.error, self.message = Failure(end.group("state"), mask(text)), None
        elif applying is not None:
            self.began[applying.group("version")] = now
        elif error is not None:
            self.error = Failure(error.group("state"), mask(error.group("message")))
        elif self.error is None and (start := _ERROR_START.match(line)) is not None:
            self.message = [start.group("message")]
        elif self.error is not None and line.startswith("At statement:"):
            self.at_statement = True
        elif self.error is not None and not self.at_statement and not line.startswith("Try "):
            detail = f"{self.error.detail}\n{line}".strip("\n")  # its DETAIL, as printed
            self.error = self.error._replace(detail=mask(detail))
        elif self.at_statement and self.error is not None and not line.startswith("Try "):
            statement = f"{self.error.statement}\n{line}".strip("\n")
            self.error = self.error._replace(statement=mask(statement), located_by="supabase")

    def ms(self, version: str) -> float | None:
        """From its "Applying" line to the next one (or the CLI's end): measured by the
        clock here, as the lines came; None when the CLI never said it began."""
        if version not in self.began:
            return None
        later = [t for t in self.began.values() if t > self.began[version]]
        return (min(later, default=self.ended) - self.began[version]) * 1000

    def result(self, migration: MigrationFile, before: set[str], after: set[str]) -> Result:
        version = migration.version
        if version in before:
            return Result(migration, Outcome.SKIPPED, 0.0)  # another runner applied it meanwhile
        if version in after:
            return Result(migration, Outcome.OK, self.ms(version))
        failure = self.error if version in self.began and self.error is not None else None
        if failure is not None and failure.statement:
            found = migration.sql.find(failure.statement.splitlines()[0])
            line = migration.sql.count("\n", 0, found) + 1 if found >= 0 else 0
            failure = failure._replace(line=line)
        if failure is None and self.error is not None and not self.began:  # its own setup
            why = f"{self.error.message} (`supabase db push`, before it began any migration)"
            failure = self.error._replace(message=why)
        if failure is None:
            why = f"`supabase db push` exited {self.code} without applying it; see its output above"
            failure = Failure("?????", why)
        return Result(migration, Outcome.FAILED, self.ms(version), failure)


class SupabaseCliExecutor(BaseExecutor):
    name: ClassVar[str] = "supabase"
    capabilities: ClassVar[Capabilities] = Capabilities(
        rehearse=False, rerun=False, goes_past_failure=False
    )

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        cli = find_cli(settings.root, settings.environ)
        assert cli is not None, "unavailable() is checked first"
        self.cli = cli
        self.reader = Psycopg2Executor(settings)

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        if settings.target.connection_kind == "transaction pooler":
            return (
                "the target is the transaction pooler (port 6543), where `supabase db push` "
                "can fail on prepared statements; use the session pooler (port 5432) for it"
            )
        if find_cli(settings.root, settings.environ) is None:
            return (
                "Supabase CLI not found (`npm ci` in this repo, `npm install --save-dev supabase` "
                "in yours, or set SUPABASE_CLI)"
            )
        if linked_ref(settings.supabase_dir, settings.passthrough) is None:
            return "project not linked (`invoke link`, or set SUPABASE_PROJECT_ID)"
        return Psycopg2Executor.unavailable(settings)

    @classmethod
    def limits_refused(cls, settings: Settings) -> str | None:
        """The CLI runs the files itself: the limits ride on its connection as startup
        options, which a pooler may refuse or drop; one probe connection tells."""
        return cli_timeouts.refused(settings)

    def version_notes(self) -> list[str]:
        """One line when the CLI found is not the version whose splitter our rows match. Asked
        only before a push (starting the CLI costs ~0.35 s; a run with nothing to do skips it)."""
        try:
            found = subprocess.run(
                [str(self.cli), "--version"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            found = "unknown"
        return version_note(found, self.cli)

    def timeout_notes(self) -> list[str]:
        """What bounds the push. A limit that is off is not sent at all, so a role's or the
        database's own setting (ALTER ROLE ... SET) is what holds: said, not hidden."""
        limits = cli_timeouts.wanted(self.settings)
        off = [name for name in cli_timeouts.LIMITS if name not in limits]
        unset = (
            f"{' and '.join(off)}: none from supamigrate (the role's or database's own "
            "setting, if any, applies)"
        )
        if not limits:
            return [f"Timeouts: {unset}."]
        target = self.settings.target
        said = (
            f"Timeouts: {cli_timeouts.describe(limits)} for each statement `supabase db push` "
            f"runs, as startup options (PGOPTIONS), checked on {target.host}:{target.port}"
        )
        return [f"{said}; {unset}." if off else f"{said}."]

    def read_history(self) -> list[HistoryRow]:
        return self.reader.read_history()

    def apply(
        self, todo: Sequence[MigrationFile], *, rerun: bool, on_result: OnResult
    ) -> list[Result]:
        """Push under the runners' lock (the CLI takes none), then report per migration what
        history says: applied by this push, applied by another runner meanwhile, or not."""
        refused = cli_timeouts.refused(self.settings)  # asked at the choice in auto: remembered
        if refused is not None:  # forced by --method, with something to apply: nothing ran yet
            raise UsageError(f"--method supabase cannot run: {refused}.")
        with self.reader.runner_lock():
            rows = {row.version: row for row in self.read_history()}
            before = set(rows)
            pending = [m for m in todo if m.version not in before]
            pushed = _Pushed()
            # Recorded meanwhile with another text: the database is not what the plan saw.
            other = next((m for m in todo if m.version in rows and not _same(rows, m)), None)
            if other is not None:
                failure = Failure("22P02", other_text_message(other.version))
                result = Result(other, Outcome.FAILED, 0.0, failure)
                on_result(result)
                return [result]
            tables: list[int] = []  # the tenant tables before the push (boundary_guard)
            if pending:
                for note in [*self.version_notes(), *self.timeout_notes(), NO_NOTICES]:
                    self.settings.say(note)
                newest = max(before, default="")
                everything = any(m.version < newest for m in pending)
                if self.guard_from is not None:
                    tables = self.reader.tenant_tables()
                if any(notes_rls(m.name) for m in pending):  # rls_before: the CLI runs 004
                    for text in self.reader.note_rls_before_004():
                        self.settings.say(f"  {text}")
                self._push(dry=False, include_all=everything, pushed=pushed)
            with interrupt.paused():  # a signal stopped the push: still ask what it committed
                applied = {row.version for row in self.read_history()}
                new = applied - before
                guard_error = self._guard(tables) if new and self.guard_from is not None else None
        results: list[Result] = []
        for migration in todo:
            result = pushed.result(migration, before, applied)
            results.append(result)
            on_result(result)
            if result.stops_run:
                break
        if guard_error is not None:
            raise MigrationFailed(guard_error)
        return results

    def _guard(self, tables: list[int]) -> str | None:
        """The CLI ran the files itself: the tenant boundary for tables its push made comes
        right after it (the other methods give it inside each migration)."""
        error, notices = self.reader.guard_tenant_tables(tables)
        for text in notices:
            self.settings.say(f"  {text}")
        if error is None:
            return None
        return mask(f"After the push, the tenant boundary could not be added: {error}".strip())

    def preview(self, todo: Sequence[MigrationFile]) -> None:
        if self._push(dry=True, include_all=False, pushed=_Pushed()) != 0:
            raise MigrationFailed("`supabase db push --dry-run` failed; see its output above.")

    def command(self, *, dry: bool, include_all: bool) -> list[str]:
        settings = self.settings
        target = cli_timeouts.with_options(settings.target, cli_timeouts.merged(settings))
        remote = "--remote" if settings.linked else f"--remote={target.url(with_password=False)}"
        command = [str(self.cli), "db", "push", remote, "--workdir", str(settings.root)]
        command += ["--dry-run"] if dry else ["--yes"]  # --yes only after our own confirmation
        return command + (["--include-all"] if include_all else [])

    def environment(self) -> dict[str, str]:
        settings = self.settings
        env = {**settings.environ, **settings.passthrough}
        if settings.target.password:
            key = "SUPABASE_DB_PASSWORD" if settings.linked else "PGPASSWORD"
            env[key] = settings.target.password
        if cli_timeouts.ours(settings):  # the user's PGOPTIONS first, ours after: ours win
            env["PGOPTIONS"] = cli_timeouts.merged(settings)
        return env

    def _push(self, *, dry: bool, include_all: bool, pushed: _Pushed) -> int:
        """Run `supabase db push`, streaming its output masked, telling `pushed` each line as
        it arrives; return its exit code."""
        command = self.command(dry=dry, include_all=include_all)
        say = self.settings.say
        say(f"$ {mask(' '.join(command))}")
        process = subprocess.Popen(
            command,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=die_with_parent,
        )
        assert process.stdout is not None
        with interrupt.forwarding(process.pid):
            for line in process.stdout:
                pushed.read(line.strip(), time.perf_counter())
                say(f"  supabase: {mask(line.rstrip())}")
            pushed.code = process.wait()
            pushed.ended = time.perf_counter()
            return pushed.code

    def close(self) -> None:
        self.reader.close()


def _same(rows: Mapping[str, HistoryRow], migration: MigrationFile) -> bool:
    """The row holds the file's text (as the plan's drift check compares them)."""
    row = rows[migration.version]
    if row.digest is not None:
        return row.digest == migration.text_digest
    return matches_file(row, migration.sql)
