"""A rehearsal must not become the outage it warns about: how long it may hold a lock.

On the real target a rehearsal's locks are real. No statement may run (or wait for a lock)
longer than the bound (`--rehearse-limit`, default 2s); after the first statement that took a
lock keeping the app waiting (SHARE and stronger, on a table that existed before), the rest of
the rehearsal may take at most the bound more: every statement runs with statement_timeout and
lock_timeout cut to what is left (or to the file's own timeouts when shorter). A statement
stopped by the bound is a finding ("would hold ... for longer than ..."), not a failure: the
rest is not rehearsed, and the locks go at once (ROLLBACK TO).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from supamigrate.durations import to_ms
from supamigrate.executors.envelope import Limits
from supamigrate.executors.trace import Lock, TableSize, sizes
from supamigrate.executors.trace_needs import BLOCKS_APP, needs
from supamigrate.sql.reading import Statement

# Below this much time left, a statement is not started: our own queries need some too.
_LEAST_MS = 20


def duration_ms(value: str) -> int:
    """A Postgres duration ('5s', '500ms', '0', '') in milliseconds; 0 is no limit."""
    return to_ms(value or "0") or 0


def shown(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _least(limit: int, left: int | None) -> int:
    if left is None:
        return limit
    return left if limit == 0 else min(limit, left)


class Bound:
    """The bound, the file's own timeouts, and since when the rehearsal holds a lock."""

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.since: float | None = None
        self.what = ""  # the first such lock, e.g. "AccessExclusiveLock on public.big"
        self.statement_ms = self.lock_ms = 0  # the file's own (0: none)
        self.cut_statement = self.cut_lock = False  # the bound, not the file, set the limit

    def new_file(self, limits: Limits) -> None:
        self.statement_ms = duration_ms(limits.statement_timeout)
        self.lock_ms = duration_ms(limits.lock_timeout)

    def left(self) -> int | None:
        if not self.ms:
            return None
        if self.since is None:
            return self.ms
        return self.ms - int((time.perf_counter() - self.since) * 1000)

    def exhausted(self) -> str:
        left = self.left()
        if left is None or left >= _LEAST_MS:
            return ""
        return (
            f"the rehearsal has held {self.what} for {shown(self.ms)}, its bound "
            "(--rehearse-limit); it stopped here so as not to keep the app waiting"
        )

    def prefix(self) -> str:
        """SET LOCAL both timeouts for the next statement."""
        left = self.left()
        statement, lock = _least(self.statement_ms, left), _least(self.lock_ms, left)
        self.cut_statement = left is not None and statement == left
        self.cut_lock = left is not None and lock == left
        return (
            f"SET LOCAL statement_timeout = '{statement}ms'; SET LOCAL lock_timeout = '{lock}ms';\n"
        )

    def file_set(self, node: dict[str, Any], current: tuple[str, str]) -> None:
        """After the file's own SET/RESET: its timeouts, as the server now has them."""
        name, every = node.get("name"), node.get("kind") == "VAR_RESET_ALL"
        if every or name == "statement_timeout":
            self.statement_ms = duration_ms(current[0])
        if every or name == "lock_timeout":
            self.lock_ms = duration_ms(current[1])

    def holding(self, locks: tuple[Lock, ...]) -> None:
        if self.since is None:
            self.since = time.perf_counter()
            first = next(lk for lk in locks if lk.mode in BLOCKS_APP)
            self.what = f"{first.mode} on {first.relation}"


Ask = Callable[..., list[tuple[Any, ...]]]


def stopped_at_bound(
    sqlstate: str,
    bound: Bound,
    what: str,
    statement: Statement | None = None,
    ask: Ask | None = None,
) -> str:
    """Why the rest is not rehearsed when the bound (not the file's timeouts) stopped it."""
    tables = needs(statement) if statement is not None else []
    found = sizes(sorted({t for t, _ in tables}), ask) if tables and ask is not None else {}
    locks = "; ".join(f"{mode} on {table}{_size(found.get(table))}" for table, mode in tables)
    limit = shown(bound.ms)
    if sqlstate == "57014" and bound.cut_statement:
        if what:
            return f"{what} would run past the bound of {limit} (--rehearse-limit)"
        held = locks or (bound.what or "the locks the file holds")
        return (
            f"would hold {held} for longer than {limit} (--rehearse-limit); the rehearsal "
            "stopped it there so as not to keep the app waiting. A finding, not a failure: "
            "rehearse on a copy (see README) or raise --rehearse-limit to see it through"
        )
    if sqlstate == "55P03" and bound.cut_lock:
        on = locks or "a table"
        return (
            f"waited longer than {limit} (--rehearse-limit) for {on}: another session holds a "
            "conflicting lock; the real run would wait up to its lock_timeout"
        )
    return ""


def _size(size: TableSize | None) -> str:
    return "" if size is None else size.shown()
