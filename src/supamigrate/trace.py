"""What each statement of a rehearsed migration did on the real target: locks, rewrites, time.

Inside the rehearsal's transaction (always rolled back), each statement of the file, as
Postgres's parser reads it, runs on its own; after it we read our own backend's relation locks
(pg_locks) and compare every relation's file node with the one before it (a changed relfilenode
is a rewrite). Locks are reported on tables (an index's own lock follows its table's). The
tables touched get their size there (estimated rows, bytes). Nothing here
decides what a statement *should* lock: the server says what it did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Postgres lock modes, weakest first, and what each keeps waiting (from the conflict table).
MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
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
_USER_RELATIONS = (
    f"select {_NAME}, c.relfilenode from pg_class c join pg_namespace n on n.oid = c.relnamespace "
    f"where c.relkind in ('r', 'p', 'm', 'i', 't') and {_OURS}"
)
_OWN_LOCKS = (
    f"select {_NAME}, l.mode from pg_locks l join pg_class c on c.oid = l.relation "
    "join pg_namespace n on n.oid = c.relnamespace where l.pid = pg_backend_pid() "
    f"and l.locktype = 'relation' and l.granted and c.relkind in ('r', 'p', 'm', 'f') and {_OURS}"
)
_SIZE = (
    "select case when c.reltuples >= 0 then c.reltuples::bigint end, "
    "pg_total_relation_size(c.oid) from pg_class c where c.oid = to_regclass(%s)"
)


@dataclass(frozen=True)
class Lock:
    relation: str
    mode: str

    @property
    def blocks(self) -> str:
        return BLOCKS.get(self.mode, "?")


@dataclass(frozen=True)
class StatementTrace:
    line: int
    text: str
    locks: tuple[Lock, ...]
    rewrites: tuple[str, ...]
    ms: float
    error: str = ""
    created: tuple[str, ...] = ()  # relations this statement made (their locks are no news)

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "line": self.line,
            "locks": [{"relation": lk.relation, "mode": lk.mode} for lk in self.locks],
            "rewrites": list(self.rewrites),
            "ms": round(self.ms, 2),
        }
        return doc | ({"error": self.error} if self.error else {})


@dataclass(frozen=True)
class TableSize:
    rows: int | None  # the planner's estimate; None when the table was never analysed
    bytes: int


@dataclass(frozen=True)
class MigrationTrace:
    statements: tuple[StatementTrace, ...]
    sizes: dict[str, TableSize] = field(default_factory=dict)
    held_before: frozenset[str] = frozenset()  # ACCESS EXCLUSIVE already held when it began

    def strongest(self) -> list[tuple[str, str, int]]:
        """(relation, strongest mode, line it was first taken) over the whole migration."""
        best: dict[str, tuple[str, int]] = {}
        for statement in self.statements:
            for lock in statement.locks:
                known = best.get(lock.relation)
                if known is None or MODES.index(lock.mode) > MODES.index(known[0]):
                    best[lock.relation] = (lock.mode, statement.line)
        return [(relation, mode, line) for relation, (mode, line) in sorted(best.items())]


Run = Callable[[str], Any]  # executes SQL; returns the driver error or None
Query = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


def trace_statements(
    statements: Sequence[tuple[int, str]], run: Run, query: Query
) -> tuple[MigrationTrace, Any]:
    """Run each (line, text) in turn; stop at the first error, returned with the trace."""
    traced: list[StatementTrace] = []
    held: set[tuple[str, str]] = set(_locks(query))
    before = frozenset(r for r, m in held if m == "AccessExclusiveLock")
    error: Any = None
    for line, text in statements:
        nodes = _nodes(query)
        started = time.perf_counter()
        error = run(text)
        ms = (time.perf_counter() - started) * 1000
        if error is not None:  # the transaction is aborted now: nothing more can be asked
            message = (str(error).strip() or "error").splitlines()[0]
            traced.append(StatementTrace(line, text, (), (), ms, message))
            return MigrationTrace(tuple(traced), held_before=before), error
        now = _locks(query)
        taken = tuple(Lock(r, m) for r, m in sorted(set(now) - held))
        held |= set(now)
        after = _nodes(query)
        rewrites = tuple(sorted(r for r, node in nodes.items() if after.get(r, node) != node))
        created = tuple(sorted(set(after) - set(nodes)))
        traced.append(StatementTrace(line, text, taken, rewrites, ms, created=created))
    touched = {lk.relation for s in traced for lk in s.locks} | {
        r for s in traced for r in s.rewrites
    }
    return MigrationTrace(tuple(traced), _sizes(sorted(touched), query), before), error


def _nodes(query: Query) -> dict[str, int]:
    return {str(relation): int(node) for relation, node in query(_USER_RELATIONS, ())}


def _locks(query: Query) -> list[tuple[str, str]]:
    return [(str(r), str(m)) for r, m in query(_OWN_LOCKS, ())]


def _sizes(relations: list[str], query: Query) -> dict[str, TableSize]:
    sizes = {}
    for relation in relations:
        rows = query(_SIZE, (relation,))
        if rows:
            estimate, size = rows[0]
            sizes[relation] = TableSize(None if estimate is None else int(estimate), int(size))
    return sizes
