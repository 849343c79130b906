"""`invoke rollback-rls`: turn off what 004 turned on, keeping tables, columns and data.

Drops only the policies 004 creates (by name) and disables RLS on the tables it touched, in one
transaction, then deletes 004's history row so `invoke migrate` can enable RLS again later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supamigrate.errors import UsageError
from supamigrate.history import TABLE, quote_literal
from supamigrate.tenant.names import POLICIES, RLS_MIGRATION_NAME

__all__ = ["POLICIES", "RLS_MIGRATION_NAME", "RollbackPlan", "apply_rollback", "plan_rollback"]


@dataclass(frozen=True)
class RollbackPlan:
    statements: tuple[str, ...]
    history_version: str | None  # 004's row to delete, if recorded

    @property
    def empty(self) -> bool:
        return not self.statements and self.history_version is None

    def sql(self) -> str:
        lines = ["begin;", *self.statements]
        if self.history_version:
            lines.append(
                f"delete from {TABLE} where version = {quote_literal(self.history_version)};"
            )
        return "\n".join([*lines, "commit;"])


def plan_rollback(cur: Any, *, table: str | None, rls_version: str | None) -> RollbackPlan:
    tables = list(POLICIES)
    if table is not None:
        if table not in POLICIES:
            raise UsageError(
                f"--table {table!r} is not one 004 touches: choose from {', '.join(POLICIES)}."
            )
        tables = [table]
    statements: list[str] = []
    for name in tables:
        cur.execute(
            "select relrowsecurity from pg_class where oid = to_regclass(%s)", (f"public.{name}",)
        )
        row = cur.fetchone()
        if row is None:
            continue
        cur.execute(
            "select policyname from pg_policies where schemaname = 'public' and tablename = %s "
            "and policyname = any(%s) order by 1",
            (name, list(POLICIES[name])),
        )
        for (policy,) in cur.fetchall():
            statements.append(f'drop policy if exists "{policy}" on public.{name};')
        if row[0]:
            statements.append(f"alter table public.{name} disable row level security;")
    return RollbackPlan(tuple(statements), _recorded(cur, rls_version))


def _recorded(cur: Any, version: str | None) -> str | None:
    if version is None:
        return None
    cur.execute("select to_regclass(%s) is not null", (TABLE,))
    if not cur.fetchone()[0]:
        return None
    cur.execute(f"select 1 from {TABLE} where version = %s", (version,))
    return version if cur.fetchone() else None


def apply_rollback(cur: Any, plan: RollbackPlan, *, lock_timeout: str) -> None:
    """Run the plan in the caller's transaction (the caller commits)."""
    cur.execute(f"set local lock_timeout = {quote_literal(lock_timeout or '0')}")
    for statement in plan.statements:
        cur.execute(statement)
    if plan.history_version:
        cur.execute(f"delete from {TABLE} where version = %s", (plan.history_version,))
