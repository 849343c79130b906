"""What applying a migration came to, whichever method applied it: the outcome, the
failure (SQLSTATE, message, the statement and line), and the result each method returns.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

from supamigrate.project.files import MigrationFile

if TYPE_CHECKING:  # the trace (and the lint it reads locks with) loads only for --rehearse
    from supamigrate.executors.trace import MigrationTrace


class Outcome(Enum):
    OK = "ok"
    SKIPPED = "skipped"  # another runner applied it while we waited for the lock
    FAILED = "failed"  # rolled back: schema and history as before
    PARTIAL = "partial"  # a no-transaction file failed after some statements ran
    NOT_REHEARSED = "not_rehearsed"  # --rehearse: only a commit (or a longer bound) could tell
    # The connection was lost while it ran and what stayed could not be learned afterwards
    # (history unreadable, or a no-transaction file cut off partway).
    UNKNOWN = "unknown"


class Failure(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import, on every run
    sqlstate: str
    message: str
    detail: str = ""
    hint: str = ""
    statement: str = ""  # the failing statement's text ("" when it could not be located)
    line: int = 0  # its first line in the file
    located_by: str = ""  # "position" (the server said), "re-run", "psql", "statement"
    ran: tuple[str, ...] = ()  # for PARTIAL: statements that did run and stay applied
    lost: bool = False  # the connection was lost: the server, not this error, decided the fate

    @property
    def is_lock_timeout(self) -> bool:
        return self.sqlstate == "55P03"


class Result(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import, on every run
    migration: MigrationFile
    outcome: Outcome
    ms: float | None  # measured; None: not measured (its result never arrived), never guessed
    failure: Failure | None = None
    notices: tuple[str, ...] = ()
    trace: MigrationTrace | None = None  # --rehearse: what each statement did on the target
    # A correction: the last `corrects` results reported were wrong (said committed, they
    # were not: psycopg2.Psycopg2Executor._verified); this one replaces them.
    corrects: int = 0

    @property
    def stops_run(self) -> bool:
        return self.outcome in (Outcome.FAILED, Outcome.PARTIAL, Outcome.UNKNOWN)


class Reported(list[Result]):
    """Results in the order reported; a correction (Result.corrects) replaces the last ones."""

    def add(self, result: Result) -> list[Result]:
        """Append `result`; returns the results it replaced (none but for a correction)."""
        replaced = self[len(self) - result.corrects :] if result.corrects else []
        del self[len(self) - len(replaced) :]
        self.append(result)
        return replaced
