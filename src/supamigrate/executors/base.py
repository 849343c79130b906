"""What every executor returns, and the interface the runner drives them through."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from supamigrate.files import MigrationFile
from supamigrate.history import HistoryRow


class Outcome(Enum):
    OK = "ok"
    SKIPPED = "skipped"  # another runner applied it while we waited for the lock
    FAILED = "failed"  # rolled back: schema and history as before
    PARTIAL = "partial"  # a no-transaction file failed after some statements ran


@dataclass(frozen=True)
class Failure:
    sqlstate: str
    message: str
    detail: str = ""
    hint: str = ""
    statement: str = ""  # the failing statement's text ("" when it could not be located)
    line: int = 0  # its first line in the file
    located_by: str = ""  # "position" (the server said) or "re-run" (found by re-running)
    ran: tuple[str, ...] = ()  # for PARTIAL: statements that did run and stay applied

    @property
    def is_lock_timeout(self) -> bool:
        return self.sqlstate == "55P03"


@dataclass(frozen=True)
class Result:
    migration: MigrationFile
    outcome: Outcome
    ms: float
    failure: Failure | None = None
    notices: tuple[str, ...] = field(default=())


class Executor(Protocol):
    """Applies migrations to one database. Knows nothing of files on disk beyond what it's given."""

    name: str

    def read_history(self) -> list[HistoryRow]: ...

    def apply(self, migration: MigrationFile, *, rerun: bool) -> Result: ...

    def rehearse(self, migrations: list[MigrationFile]) -> list[Result]: ...

    def close(self) -> None: ...
