"""Everything the user reads: human lines by default, one JSON document with --json.

All text passes through `mask` on its way out.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from supamigrate.connect.masking import mask, mask_lines
from supamigrate.errors import UsageError
from supamigrate.executors.results import Failure, Outcome, Result
from supamigrate.process import pipes
from supamigrate.project.plan import Plan, State

# The command people typed: advice says `invoke migrate` in this repo, `supamigrate migrate`
# when run as the `supamigrate` command (cli.py sets it).
PROGRAM = "invoke"


def data(text: object) -> str:
    """Text for the JSON document: masked, naming the command they use, otherwise as it is
    (json.dumps escapes every control character itself)."""
    out = mask(text)
    return out if PROGRAM == "invoke" else out.replace("`invoke ", f"`{PROGRAM} ")


# What must never reach a terminal raw: C0 controls but the tab, DEL, C1 controls, the
# Unicode line breaks, and the bidirectional overrides and isolates that reorder what is shown.
_CONTROL = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_NAMED = {"\r": "\\r", "\x1b": "\\e"}
CONTINUED = "| "  # how a continuation line starts: no line of the runner's own starts so


def shown(text: object) -> str:
    """Every line the user reads at a terminal: the one choke point. Masked, naming the
    command they use; each control character escaped visibly (`\\e`, `\\r`, `\\x07`,
    `\\u202e`); a line break inside the text starts a continuation line, prefixed with the
    first line's indent and `| `: a notice or error text from the database can never print
    a line that reads as the runner's own (`[2/4] ... ok`), nor move the cursor or recolour."""
    return _terminal(data(text))


def _terminal(text: str) -> str:
    if _CONTROL.search(text) is None:
        return text
    first, *rest = text.split("\n")
    indent = first[: len(first) - len(first.lstrip(" "))]
    lines = [_escape(first)] + [f"{indent}{CONTINUED}{_escape(line)}" for line in rest]
    return "\n".join(lines)


def _escape(line: str) -> str:
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), _code(m.group())), line)


def _code(char: str) -> str:
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


class Reporter:
    """Prints as it goes (human) or gathers facts for one JSON document at the end."""

    def __init__(self, *, as_json: bool = False, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.doc: dict[str, Any] = {}
        self.notice_hook: Callable[[str], None] | None = None

    def say(self, text: str = "") -> None:
        if not self.as_json:
            self._write(shown(text))

    def say_lines(self, lines: list[str]) -> None:
        """`say` each line, in one write: the plan of 10,000 migrations is 10,000 lines."""
        if not self.as_json and lines:
            shown_lines = map(_terminal, mask_lines(lines))
            self._write("\n".join(shown_lines))

    def say_each(self, lines: list[str]) -> None:
        """Exactly `say` of each line, in one write (lint reports thousands of findings)."""
        if self.as_json or not lines:
            return
        masked = mask_lines(lines)
        if PROGRAM != "invoke":
            masked = [line.replace("`invoke ", f"`{PROGRAM} ") for line in masked]
        self._write("\n".join(map(_terminal, masked)))

    def warn(self, text: str) -> None:
        self.doc.setdefault("warnings", []).append(data(text))
        if not self.as_json:
            print(shown(f"warning: {text}"), file=sys.stderr, flush=True)

    def notice(self, text: str) -> None:
        """A notice that arrived while a migration runs: to whoever listens now."""
        if self.notice_hook is not None:
            self.notice_hook(text)

    def fact(self, key: str, value: Any) -> None:
        self.doc[key] = value

    def finish(self) -> None:
        if self.as_json:
            self._write(data(json.dumps(self.doc, indent=2, default=str)))

    def _write(self, text: str) -> None:
        """One line (or several) to the report. When its reader has gone (`| head`) the run
        goes on to the end as it would to /dev/null, never stopped halfway by its output
        (a no-transaction file half-applied); the task then exits 141 (process.pipes)."""
        try:
            print(text, file=self.stream, flush=True)
        except BrokenPipeError:
            if self.stream is not sys.stdout or not pipes.reader_gone():
                raise
            pipes.silence_stdout()

    def ask(self, question: str, *, refuse_hint: str) -> bool:
        """Ask y/N on a terminal; with no terminal, refuse (exit 2) instead of hanging. The
        question goes to stderr, never stdout: `--json` at a terminal keeps stdout one JSON
        document, and `> out.txt` still shows the question."""
        if not sys.stdin.isatty():
            raise UsageError(f"No terminal to confirm on: {refuse_hint}")
        print(shown(f"{question} [y/N] "), end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline().strip().lower()
        return answer in {"y", "yes"}


# `migrate` lists at most this many applied migrations (the latest); `status` lists all.
BRIEF_APPLIED = 5


def plan_lines(plan: Plan, *, brief: bool = False) -> list[str]:
    """A table like `supabase migration list`, plus drift. Brief (migrate): every migration
    that is not plainly applied, and only the latest applied ones: a project with 10,000
    applied migrations is not shown 10,000 lines on every run."""
    if not plan.entries:
        return ["  (no migrations)"]
    width = max(len(e.label) for e in plan.entries)
    done = State.APPLIED  # once: an enum member's lookup is ~0.1 us, 10,000 entries a run
    applied = [i for i, e in enumerate(plan.entries) if e.state is done]
    hidden = set(applied[:-BRIEF_APPLIED]) if brief else set()
    lines = [
        f"  {e.version}  {e.label:<{width}}  {e.state.value}"
        for i, e in enumerate(plan.entries)
        if i not in hidden
    ]
    if hidden:
        lines.insert(
            0,
            f"  ({len(hidden):,} earlier applied migration(s) not listed: "
            "`invoke status` lists every one)",
        )
    return lines


def plan_json(plan: Plan) -> list[dict[str, str]]:
    return [{"version": e.version, "name": e.label, "state": e.state.value} for e in plan.entries]


def plan_summary(plan: Plan) -> str:
    counts = {state: len(plan.with_state(state)) for state in State}
    parts = [f"{n} {state.value}" for state, n in counts.items() if n]
    return ", ".join(parts) if parts else "no migrations"


def progress_line(index: int, total: int, result: Result) -> str:
    outcome = result.outcome.value
    if result.outcome is Outcome.SKIPPED:
        outcome += ", already applied by another runner while this one waited for the lock"
    took = "time not measured" if result.ms is None else f"{result.ms:.0f} ms"
    return f"[{index}/{total}] {result.migration.label} ... {outcome} ({took})"


def result_json(result: Result) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": result.migration.version,
        "name": result.migration.label,
        "result": result.outcome.value,
        "ms": None if result.ms is None else round(result.ms, 1),
    }
    if result.notices:
        doc["notices"] = list(result.notices)
    if result.failure is not None:
        doc["error"] = {k: v for k, v in result.failure._asdict().items() if v not in ("", 0, ())}
    return doc


def failure_lines(result: Result, *, rehearsal: bool = False) -> list[str]:
    failure = result.failure
    if failure is None:
        return []
    path = _shown(result.migration.path)
    lines = [f"  error {failure.sqlstate}: {failure.message}"]
    lines += [f"  detail: {failure.detail}"] * bool(failure.detail)
    lines += [f"  hint: {failure.hint}"] * bool(failure.hint)
    if failure.statement:
        how = (
            " (found by re-running it in a rolled-back transaction)"
            if failure.located_by == "re-run"
            else ""
        )
        where = f"at line {failure.line} of {path}" if failure.line else f"in {path}"
        lines.append(f"  {where}{how}, in the statement:")
        lines += [f"    {text}" for text in failure.statement.splitlines()[:8]]
    elif _unnamed(failure):
        lines.append(f"  in {path}: {UNNAMED}")
    advice = advice_for(failure)
    if advice:
        lines.append(f"  {advice}")
    if result.outcome is Outcome.PARTIAL:
        lines += _partial_lines(failure)
    elif result.outcome is Outcome.FAILED and not rehearsal:
        lines.append(
            "  Rolled back: the database's schema and history are as before this migration."
        )
    return lines


UNNAMED = (
    "the server names no statement for this error (a row broke a constraint, or a lock or "
    "time limit ran out), and a rolled-back re-run could not safely find it (it would wait "
    "again, or the file does what a rollback does not undo). `--method psql` runs the file "
    "statement by statement and names it."
)
_CANCELLED = "canceling statement due to user request"  # our own cancel, on a signal


def _unnamed(failure: Failure) -> bool:
    """An error the server reports without pointing into the text, left unlocated."""
    if failure.message.startswith(_CANCELLED):
        return False  # the run was interrupted: where it stopped is not the point
    return failure.sqlstate[:2] in ("23", "40") or failure.sqlstate in ("55P03", "57014")


def _partial_lines(failure: Failure) -> list[str]:
    """What a no-transaction file left applied, and what to do before it runs again (from its
    first statement: the history has no row for it)."""
    lines = [
        f"  PARTIAL: this file runs outside a transaction; {len(failure.ran)} statement(s) ran "
        "and stay applied; no history row was written:"
    ]
    lines += [f"    {_first_line(text)}" for text in failure.ran[:_LISTED]]
    lines += [f"    ... and {len(failure.ran) - _LISTED} more"] * (len(failure.ran) > _LISTED)
    if failure.sqlstate == "57014" and failure.message.startswith(_CANCELLED):
        lines.append(
            "  It was interrupted, not broken: `invoke migrate` runs it again from its first "
            "statement, so re-run once that is safe (IF NOT EXISTS, batches that skip done rows)."
        )
    else:
        lines.append("  Fix the file so it can run again from its first statement, then re-run.")
    return lines


def _first_line(text: str) -> str:
    """The statement's first line of SQL (the file's leading comments belong to its first)."""
    lines = [line.strip() for line in text.splitlines()]
    first = next((line for line in lines if line and not line.startswith("--")), "")
    return first if len(first) <= 100 else first[:97] + "..."


_LISTED = 5

# What to do, by SQLSTATE, where the server's own hint does not say.
SQLSTATE_ADVICE = {
    "55P03": "A lock was not granted within lock_timeout: a long transaction holds the table. "
    "Find it in pg_stat_activity, wait for it or end it, then re-run; or raise --lock-timeout.",
    "57014": "The statement ran past statement_timeout: raise "
    "--statement-timeout for this run, or split the work into smaller steps.",
    "25001": "This statement cannot run inside a transaction (CREATE INDEX CONCURRENTLY, VACUUM, "
    "ALTER SYSTEM, ...): put `-- supamigrate:no-transaction` on the file's first line.",
    "55P04": "A new enum value cannot be used in the transaction that adds it: put ALTER TYPE "
    "... ADD VALUE in its own migration and use the value from the next one (COMMIT; BEGIN; "
    "inside the file does not help: the runner owns the transaction).",
    "25006": "The database is read-only (a read replica, or default_transaction_read_only is "
    "on): point DATABASE_URL at the primary database.",
}


def advice_for(failure: Failure) -> str:
    """What to do, for the cause the error actually names: one SQLSTATE has several causes
    (57014 is a statement_timeout, a Ctrl-C, or another session's pg_cancel_backend)."""
    if failure.lost:
        return ""  # its message says what the server did with it
    if failure.sqlstate == "57014" and "statement timeout" not in failure.message:
        return (
            "The statement was cancelled (a signal to the runner, or pg_cancel_backend from "
            "another session), not timed out: run `invoke migrate` again when ready."
        )
    if failure.sqlstate == "55P03" and "lock timeout" not in failure.message:
        return (
            "A lock was not available (a NOWAIT or SKIP LOCKED in the file, or another "
            "session holds it): find the holder in pg_stat_activity and re-run."
        )
    return SQLSTATE_ADVICE.get(failure.sqlstate, "")


ROLLBACK_GUIDANCE = (
    "Earlier migrations of this run are committed. Fix this file and run `invoke migrate` "
    "again, or write a new migration that reverses what you need."
)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
