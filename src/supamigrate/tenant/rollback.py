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
    kept: tuple[str, ...] = ()  # why RLS stays on where it does

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
    """Only where 004 ran: drop its policies (by name); turn RLS off only on a table left with
    no policy of anyone else's, so an app's own RLS is never switched off."""
    if rls_version is None:
        raise UsageError(
            f"No {RLS_MIGRATION_NAME} migration (004) in this project: rollback-rls undoes only "
            "what 004 did, and there is no 004 here. Nothing was changed."
        )
    tables = _tables(table)
    recorded = _recorded(cur, rls_version)
    if recorded is None:
        return RollbackPlan(
            (), None, ("004 is not applied on this database: nothing of it to undo",)
        )
    statements: list[str] = []
    kept: list[str] = []
    for name in tables:
        found = _table_policies(cur, name)
        if found is None:
            continue
        enabled, policies = found
        ours = [p for p in policies if p in POLICIES[name]]
        others = [p for p in policies if p not in POLICIES[name]]
        statements += [f'drop policy if exists "{p}" on public.{name};' for p in ours]
        if enabled and others:
            mine = ", ".join(others)
            kept.append(f"public.{name} keeps RLS on: it has policies 004 did not create ({mine})")
        elif enabled:
            statements.append(f"alter table public.{name} disable row level security;")
    return RollbackPlan(tuple(statements), recorded, tuple(kept))


def _tables(table: str | None) -> list[str]:
    if table is None:
        return list(POLICIES)
    if table not in POLICIES:
        raise UsageError(
            f"--table {table!r} is not one 004 touches: choose from {', '.join(POLICIES)}."
        )
    return [table]


def _table_policies(cur: Any, name: str) -> tuple[bool, list[str]] | None:
    """(RLS enabled, every policy's name) for public.<name>; None if the table is absent."""
    cur.execute(
        "select c.relrowsecurity, coalesce(array_agg(p.polname::text order by p.polname) "
        "filter (where p.polname is not null), '{}') from pg_class c "
        "left join pg_policy p on p.polrelid = c.oid where c.oid = to_regclass(%s) "
        "group by c.relrowsecurity",
        (f"public.{name}",),
    )
    row = cur.fetchone()
    return None if row is None else (bool(row[0]), list(row[1]))


def _recorded(cur: Any, version: str) -> str | None:
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
