"""Every refusal that happens before anything runs, in one place.

Nothing here executes a migration: it reads the plan, the files and the target, and raises a
one-line error (exit 2 for input that cannot work, 1 for a state that needs a decision).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from supamigrate.brief import few
from supamigrate.connect.dburl import DbTarget
from supamigrate.errors import UsageError
from supamigrate.executors.base import Executor
from supamigrate.project.files import MigrationFile
from supamigrate.project.plan import Plan, check_runnable
from supamigrate.sql.sqlsplit import is_no_transaction


def check_plan(plan: Plan, *, allow_drift: bool, include_all: bool, root: Path) -> list[str]:
    """Where the CLI would refuse (missing files, older pending files), and on drift; the
    warnings to show when going on anyway (--allow-drift)."""
    return check_runnable(plan, allow_drift=allow_drift, include_all=include_all, root=root)


def check_files(migrations: Sequence[MigrationFile]) -> None:
    """Read each file with Postgres's own parser and refuse before anything runs
    (file_checks.check_files says what it refuses)."""
    if migrations:
        from supamigrate.run import file_checks

        file_checks.check_files(migrations)


def check_session_needs(migrations: Sequence[MigrationFile], target: DbTarget) -> None:
    """No-transaction files take a session lock and run statement by statement: not via 6543."""
    if target.connection_kind != "transaction pooler":
        return
    needy = [m.path.name for m in migrations if is_no_transaction(m.sql)]
    if needy:
        raise UsageError(
            f"{few(needy)} run(s) outside a transaction and need one session, which the "
            "transaction pooler (port 6543) does not keep: use the session pooler URL (same "
            "host, port 5432) or the direct connection. Nothing was applied."
        )


def check_method(executor: Executor, todo: Sequence[MigrationFile], *, rehearse: bool) -> None:
    """What the chosen method cannot do for this run."""
    caps = executor.capabilities
    if rehearse and not caps.rehearse and caps.executes:
        raise UsageError(
            f"--rehearse cannot run with method {executor.name}: use --method psycopg2."
        )
    if not caps.no_transaction and any(is_no_transaction(m.sql) for m in todo):
        raise UsageError(f"Method {executor.name} cannot apply no-transaction files.")
