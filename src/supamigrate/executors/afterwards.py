"""After the connection was lost mid-run: what did commit? Asked of the server, not guessed.

A lost connection (a backend terminated, a network drop, a server restart) leaves the runner
not knowing which of the migrations it had sent committed: a batch (batch.py) commits each
migration as the server reaches its COMMIT, and a network drop does not stop a server still
running a message it received. So we open a fresh connection, make sure the old backend is
gone (ending it if it still runs: it is our own session, and only then can the history not
change under the answer), and read which versions the history holds now. The report then
agrees with the history table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from supamigrate.connect.dburl import DbTarget
from supamigrate.errors import SupamigrateError
from supamigrate.executors.results import Failure, Outcome, Result
from supamigrate.history.table import TABLE
from supamigrate.process import interrupt
from supamigrate.project.files import MigrationFile
from supamigrate.sql.sqlsplit import is_no_transaction

RECONNECTS = 4  # tries, 1 + 2 + 3 s apart
GONE_WAIT = 10.0  # seconds to wait for the old backend to end once told to


def committed_now(
    target: DbTarget, versions: Sequence[str], *, old_backend: int | None, connect_timeout: int
) -> set[str] | None:
    """Which of `versions` the history holds now; None when that cannot be read."""
    import psycopg2

    from supamigrate.connect.db import connect

    with interrupt.paused():  # a signal already received must not cancel these questions
        conn = None
        for attempt in range(RECONNECTS):  # a restarting server answers again in moments
            try:
                conn = connect(target, connect_timeout=min(connect_timeout, 10))
                break
            except SupamigrateError:
                time.sleep(attempt + 1)
        if conn is None:
            return None
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SET statement_timeout = '30s'")
                if old_backend is not None:
                    _end_backend(cur, old_backend)
                cur.execute(f"SELECT to_regclass('{TABLE}') IS NOT NULL")
                row = cur.fetchone()
                if not (row and row[0]):
                    return set()
                cur.execute(
                    f"SELECT version FROM {TABLE} WHERE version = ANY(%s)", (list(versions),)
                )
                return {str(v) for (v,) in cur.fetchall()}
        except psycopg2.Error:
            return None
        finally:
            conn.close()


def _end_backend(cur: object, pid: int) -> None:
    """End our old session if the server still runs it, and wait until it is gone."""
    execute = cur.execute  # type: ignore[attr-defined]
    fetchone = cur.fetchone  # type: ignore[attr-defined]
    execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + GONE_WAIT
    while time.monotonic() < deadline:
        execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        found = fetchone()
        if not found or not found[0]:
            return
        time.sleep(0.05)


class _Asks(Protocol):
    def committed(self, versions: Sequence[str]) -> set[str] | None: ...


def settle(
    executor: _Asks,
    todo: Sequence[MigrationFile],
    results: list[Result],
    why: str,
    *,
    rerun: bool,
    show: Callable[[Result], None],
    ms: float | None = None,
) -> None:
    """The connection was lost before the results of `todo[len(results):]` arrived: report,
    in order, each one the history now holds as committed, then the one that was in flight,
    by what the server says of it. `ms`, the time from the last result to the loss, is the
    in-flight one's (or the last committed one's): no result arrived to split it."""
    rest = list(todo[len(results) :])
    if not rest:
        return
    found = None if rerun else executor.committed([m.version for m in rest])
    for index, migration in enumerate(rest):
        if found is None or migration.version not in found:
            show(fate(migration, found, why, ms=ms))
            return
        show(Result(migration, Outcome.OK, ms if index == len(rest) - 1 else None))


def fate(
    migration: MigrationFile,
    found: set[str] | None,
    why: str,
    *,
    ms: float | None,
    notices: tuple[str, ...] = (),
) -> Result:
    """The result of the migration in flight when the connection was lost, from `found` (what
    the history holds now; None: it could not be read)."""
    if found is not None and migration.version in found:
        return Result(migration, Outcome.OK, ms, None, notices)
    transactional = not is_no_transaction(migration.sql)
    if found is None:
        message = (
            f"{why} Whether this migration committed could not be checked (the history "
            "could not be read afterwards): run `invoke status` once the database answers."
        )
        return Result(migration, Outcome.UNKNOWN, ms, Failure("08006", message, lost=True))
    if transactional:
        message = f"{why} The history does not hold it: the server rolled it back."
        return Result(migration, Outcome.FAILED, ms, Failure("08006", message, lost=True), notices)
    message = (
        f"{why} This file runs outside a transaction: statements it ran before the loss may "
        "stay applied (no history row was written). Check the schema before re-running it."
    )
    return Result(migration, Outcome.UNKNOWN, ms, Failure("08006", message, lost=True), notices)
