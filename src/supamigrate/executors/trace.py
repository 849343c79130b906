"""What each statement of a rehearsed migration did on the real target: locks, rewrites, time.

Inside the rehearsal's transaction (always rolled back), each statement of the file, as
Postgres's parser reads it, runs on its own; after it one query reads our own backend's
relation locks (pg_locks) and every relation's file node (a changed relfilenode is a rewrite,
a new relation was made by it). Locks are reported on tables (an index's own lock follows its
table's). pg_locks shows a lock only the first time it is taken, so the locks a statement needs
but already holds come from its parse tree (trace_needs), marked with the line since which
they are held; the locks a file takes on a table it made itself block nobody until commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supamigrate.executors.trace_needs import MODES, covers, needs
from supamigrate.sql.reading import Statement

# What each lock mode keeps waiting (from the conflict table).
BLOCKS = {
    "AccessShareLock": "nothing but ACCESS EXCLUSIVE",
    "RowShareLock": "EXCLUSIVE and ACCESS EXCLUSIVE",
    "RowExclusiveLock": "index builds and table locks, not reads or writes",
    "ShareUpdateExclusiveLock": "schema changes, VACUUM, CREATE INDEX CONCURRENTLY",
    "ShareLock": "writes: INSERT, UPDATE, DELETE",
    "ShareRowExclusiveLock": "writes: INSERT, UPDATE, DELETE",
    "ExclusiveLock": "writes and SELECT FOR UPDATE, not plain reads",
    "AccessExclusiveLock": "reads and writes",
}
# Relations are named schema-qualified always ("public.files"), whatever the search_path.
_NAME = "format('%I.%I', n.nspname, c.relname)"
_OURS = (
    "n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') "
    "and n.nspname not like 'pg_temp%'"
)
# One round trip after each statement: file nodes of every user relation, and our locks.
# Views too (no file: their node stays 0, never a rewrite), so a view the file made is known
# as made: a `supabase db pull` file's `ALTER TABLE <view> OWNER TO` after its CREATE VIEW is
# no disagreement with lint (the trace sees no locks on views).
_STATE = (
    f"select 'n', {_NAME}, c.relfilenode::text, c.relkind::text from pg_class c "
    f"join pg_namespace n on n.oid = c.relnamespace "
    f"where c.relkind in ('r', 'p', 'm', 'i', 't', 'v') and {_OURS} "
    f"union all select 'l', {_NAME}, l.mode, '' from pg_locks l "
    "join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace "
    "where l.pid = pg_backend_pid() and l.locktype = 'relation' and l.granted "
    f"and c.relkind in ('r', 'p', 'm', 'f') and {_OURS}"
)
_SIZES = (
    "select r, case when c.reltuples >= 0 then c.reltuples::bigint end, "
    "pg_total_relation_size(c.oid), pg_relation_size(c.oid) = 0 from unnest(%s::text[]) r "
    "join pg_class c on c.oid = to_regclass(r)"
)


@dataclass(frozen=True)
class Lock:
    relation: str
    mode: str
    held_since: int | None = None  # needed, and already held since this line of the file
    earlier: bool = False  # needed, held since an earlier file: the real run takes it here
    created_at: int | None = None  # the file made this table at that line: blocks nobody

    @property
    def blocks(self) -> str:
        return BLOCKS.get(self.mode, "?")

    @property
    def taken_here(self) -> bool:
        """Taken by this statement in the real run (not already held by this file)."""
        return self.held_since is None

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"relation": self.relation, "mode": self.mode}
        if self.held_since is not None:
            doc["held_since"] = self.held_since
        if self.earlier:
            doc["held_from_earlier_file"] = True
        if self.created_at is not None:
            doc["table_made_at"] = self.created_at
        return doc


@dataclass(frozen=True)
class StatementTrace:
    line: int
    text: str
    locks: tuple[Lock, ...]
    rewrites: tuple[str, ...]
    ms: float
    error: str = ""
    created: tuple[str, ...] = ()  # relations this statement made (their locks are no news)
    notices: tuple[str, ...] = ()  # what the server said while this statement ran

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "line": self.line,
            "locks": [lock.as_dict() for lock in self.locks],
            "rewrites": list(self.rewrites),
            "ms": round(self.ms, 2),
        }
        if self.notices:
            doc["notices"] = list(self.notices)
        return doc | ({"error": self.error} if self.error else {})


@dataclass(frozen=True)
class TableSize:
    rows: int | None  # the planner's estimate; None when the table was never analysed
    bytes: int  # with its indexes and TOAST
    empty: bool = False  # not one page of rows: made in this run, or never written

    def shown(self) -> str:
        """` (1,200 rows, 0.1 MB)`, as the rehearsal prints it after a table's name."""
        if self.empty:
            return " (empty)"
        rows = "rows unknown (never analysed)" if self.rows is None else f"{self.rows:,} rows"
        return f" ({rows}, {self.bytes / 1_048_576:.1f} MB)"


@dataclass(frozen=True)
class MigrationTrace:
    statements: tuple[StatementTrace, ...]
    sizes: dict[str, TableSize] = field(default_factory=dict)
    stopped: str = ""  # "not rehearsed from here, because ...": why the rest was not run

    def strongest(self) -> list[tuple[str, str, int]]:
        """(relation, strongest mode, line it was first taken) over the whole migration, for
        the tables that existed before it (a table it made blocks nobody until commit)."""
        best: dict[str, tuple[str, int]] = {}
        for statement in self.statements:
            for lock in statement.locks:
                if lock.created_at is not None or not lock.taken_here:
                    continue
                known = best.get(lock.relation)
                if known is None or MODES.index(lock.mode) > MODES.index(known[0]):
                    best[lock.relation] = (lock.mode, statement.line)
        return [(relation, mode, line) for relation, (mode, line) in sorted(best.items())]


Query = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


class Tracer:
    """Traces one file: call `before()` and `after()` around each of its statements."""

    def __init__(self, query: Query) -> None:
        self.query = query
        self.nodes, locks = self._state()
        self.before_file = set(locks)  # held since an earlier file of the rehearsal
        self.since: dict[tuple[str, str], int] = {}  # taken in this file, at which line
        self.made: dict[str, int] = {}  # relations this file made, at which line
        self.statements: list[StatementTrace] = []
        self.started = 0.0

    def before(self) -> None:
        self.started = time.perf_counter()

    def failed(self, statement: Statement, message: str, notices: tuple[str, ...]) -> None:
        ms = (time.perf_counter() - self.started) * 1000
        text = (message.strip() or "error").splitlines()[0]
        self.statements.append(
            StatementTrace(statement.line, statement.text, (), (), ms, text, notices=notices)
        )

    def after(self, statement: Statement, notices: tuple[str, ...]) -> StatementTrace:
        ms = (time.perf_counter() - self.started) * 1000
        nodes, locks = self._state()
        line = statement.line
        created = tuple(sorted(set(nodes) - set(self.nodes)))
        for relation in created:
            self.made.setdefault(relation, line)
        rewrites = tuple(sorted(r for r, n in self.nodes.items() if nodes.get(r, n) != n))
        self.nodes = nodes
        fresh = sorted(set(locks) - self.before_file - set(self.since))
        for key in fresh:
            self.since[key] = line
        found = [Lock(r, m, created_at=self.made.get(r)) for r, m in fresh]
        found += self._already_held(statement, fresh)
        traced = StatementTrace(
            line, statement.text, tuple(found), rewrites, ms, "", created, notices
        )
        self.statements.append(traced)
        return traced

    def _already_held(self, statement: Statement, fresh: list[tuple[str, str]]) -> list[Lock]:
        """What the statement needs that this backend held already (so pg_locks is silent)."""
        found = []
        for relation, mode in needs(statement):
            if any(r == relation and covers(m, mode) for r, m in fresh):
                continue
            lines = [ln for (r, m), ln in self.since.items() if r == relation and covers(m, mode)]
            made = self.made.get(relation)
            if lines:
                found.append(Lock(relation, mode, held_since=min(lines), created_at=made))
            elif any(r == relation and covers(m, mode) for r, m in self.before_file):
                found.append(Lock(relation, mode, earlier=True, created_at=made))
        return found

    def finish(self, stopped: str = "") -> MigrationTrace:
        touched = sorted(
            {lk.relation for s in self.statements for lk in s.locks}
            | {r for s in self.statements for r in s.rewrites}
        )
        return MigrationTrace(tuple(self.statements), sizes(touched, self.query), stopped)

    def _state(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        nodes: dict[str, str] = {}
        locks: list[tuple[str, str]] = []
        for kind, name, value, _ in self.query(_STATE, ()):
            if kind == "n":
                nodes[str(name)] = str(value)
            else:
                locks.append((str(name), str(value)))
        return nodes, locks


def sizes(relations: list[str], query: Query) -> dict[str, TableSize]:
    """Each relation's estimated rows and bytes, in one round trip."""
    if not relations:
        return {}
    return {
        str(name): TableSize(None if rows is None else int(rows), int(size), bool(empty))
        for name, rows, size, empty in query(_SIZES, (relations,))
    }
