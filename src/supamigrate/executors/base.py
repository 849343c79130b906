"""The executor contract: what every method is, what it can do, and what it returns.

Each method (supabase, psycopg2, psql, manual) is one class satisfying `Executor`, registered
by name in `registry.py`. The runner drives every method through this interface only: it asks
`capabilities` and `unavailable()`, never a method's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple, Protocol

from supamigrate.connect.dburl import DbTarget
from supamigrate.errors import UsageError
from supamigrate.executors.results import Result as Result
from supamigrate.history.table import HistoryRow
from supamigrate.project.files import MigrationFile


class Capabilities(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import, on every run
    """What a method can do; the runner picks and refuses by these, not by name."""

    executes: bool = True  # False: it prints what to do and changes nothing (manual)
    rehearse: bool = False  # run pending files in one transaction that is rolled back
    rerun: bool = True  # re-run an applied migration (--migration)
    no_transaction: bool = True  # apply `-- supamigrate:no-transaction` files
    # go on after a failed migration with the ones after it (--continue-on-error): not where
    # every call applies all pending files in order (the CLI's push runs the failed one again)
    goes_past_failure: bool = True


@dataclass(frozen=True)
class Settings:
    """Everything a method is opened with: where, how long to wait, how to talk to the user."""

    target: DbTarget
    root: Path
    supabase_dir: Path
    lock_timeout: str = "5s"
    statement_timeout: str = ""
    rehearse_limit: str = "2s"  # --rehearse: how long a rehearsal may keep the app waiting
    connect_timeout: int = 10
    linked: bool = False  # the target is the linked project (the CLI gets a bare --remote)
    passthrough: Mapping[str, str] = field(default_factory=dict)  # SUPABASE_* for the CLI
    environ: Mapping[str, str] = field(default_factory=dict)
    say: Callable[[str], None] = print
    # Notices as they arrive, while a long migration runs (None: only in the result).
    on_notice: Callable[[str], None] | None = None


OnResult = Callable[[Result], None]


class Executor(Protocol):
    """Applies migrations to one database. Knows nothing of files on disk beyond what it's given."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    guard_from: str | None  # boundary_guard: from which version the guard runs

    def __init__(self, settings: Settings) -> None: ...

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        """None when this method can run here, else the reason it cannot."""

    @classmethod
    def limits_refused(cls, settings: Settings) -> str | None:
        """None when a run applying here would have the configured lock_timeout and
        statement_timeout in force, else why not. Asked last, and only of a method that can
        run and is about to be chosen for a run that applies: it may cost a connection."""

    @classmethod
    def notes(cls, settings: Settings) -> list[str]:
        """Warnings about this method on this target, said before anything runs."""

    def read_history(self) -> list[HistoryRow] | None:
        """The history rows; [] if the table is absent; None if it cannot be read here."""

    def apply(
        self, todo: Sequence[MigrationFile], *, rerun: bool, on_result: OnResult
    ) -> list[Result]:
        """Apply in order, each in its envelope; report each result as it ends; stop after the
        first FAILED or PARTIAL one (the rest are not run)."""

    def committed(self, versions: Sequence[str]) -> set[str] | None:
        """After a lost connection: which of `versions` the history holds now, asked over a
        fresh connection once our old session is gone; None when that cannot be read."""

    def rehearse(self, todo: Sequence[MigrationFile]) -> list[Result]:
        """Run them in one transaction that is rolled back; stop at the first failure."""

    def preview(self, todo: Sequence[MigrationFile]) -> None:
        """--dry: anything this method can show without changing the database."""

    def instructions(self, todo: Sequence[MigrationFile]) -> list[str]:
        """For a method that does not execute: the exact steps to do by hand."""

    def close(self) -> None: ...


class BaseExecutor:
    """Defaults for the optional parts of the contract."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        return None

    @classmethod
    def limits_refused(cls, settings: Settings) -> str | None:
        return None  # the envelope SETs them inside each migration's own transaction

    @classmethod
    def notes(cls, settings: Settings) -> list[str]:
        return []

    backend_pid: int | None = None  # our server session, when this method knows it
    # From which version migrations get the tenant boundary guard (boundary_guard.guard_from)
    guard_from: str | None = None

    def committed(self, versions: Sequence[str]) -> set[str] | None:
        from supamigrate.executors.afterwards import committed_now

        settings = self.settings
        return committed_now(
            settings.target,
            versions,
            old_backend=self.backend_pid,
            connect_timeout=settings.connect_timeout,
        )

    def rehearse(self, todo: Sequence[MigrationFile]) -> list[Result]:
        raise UsageError(f"--rehearse cannot run with method {self.name}: use psycopg2.")

    def preview(self, todo: Sequence[MigrationFile]) -> None:
        return None

    def instructions(self, todo: Sequence[MigrationFile]) -> list[str]:
        return []

    def close(self) -> None:
        return None
