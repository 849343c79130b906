"""`invoke rollback-rls`: turn off the RLS layer 004 and 005 added, keeping tables, columns, data.

What it undoes is read from the record 005 writes (supamigrate.tenant_rls): the policies 004
and 005 created and RLS only on the tables where they turned it on. 001's RLS on tenants and
user_tenants is never touched. On a database where 004 ran and 005 did not, the record does
not exist yet: then 004's policies are found by name and RLS is turned off only on a platform
table left with no policy of anyone else's. Where 004 ran under a runner that noted which
platform tables had RLS on before it (executors.rls_before), RLS that was on before stays on:
005's record can only guess which RLS was 004's, and an app's deny-all table (RLS on, no
policy) looks like one 004 turned on. All in one transaction, with the history rows of 004 and
005 deleted (and the note, so a re-run of 004 notes afresh) so `invoke migrate` can apply them
again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supamigrate.errors import UsageError
from supamigrate.executors.rls_before import TABLE as BEFORE_004
from supamigrate.history.table import TABLE, quote_literal
from supamigrate.tenant.names import (
    MEMBERSHIPS,
    POLICIES,
    RECORD,
    RLS_MIGRATION_NAME,
    TENANTS,
)

__all__ = ["POLICIES", "RLS_MIGRATION_NAME", "RollbackPlan", "apply_rollback", "plan_rollback"]

# 001 turns RLS on here: rollback-rls never turns it off.
_KEEP_RLS = (f"public.{TENANTS}", f"public.{MEMBERSHIPS}")


@dataclass(frozen=True)
class RollbackPlan:
    statements: tuple[str, ...]
    history_versions: tuple[str, ...]  # 004's and 005's rows to delete, where recorded
    kept: tuple[str, ...] = ()  # why RLS stays on where it does

    @property
    def empty(self) -> bool:
        return not self.statements and not self.history_versions

    def sql(self) -> str:
        lines = ["begin;", *self.statements]
        lines += [
            f"delete from {TABLE} where version = {quote_literal(v)};"
            for v in self.history_versions
        ]
        return "\n".join([*lines, "commit;"])


def plan_rollback(
    cur: Any, *, table: str | None, rls_version: str | None, boundary_version: str | None = None
) -> RollbackPlan:
    """Only where 004 (or 005) ran; only what the record says they did."""
    if rls_version is None:
        raise UsageError(
            f"No {RLS_MIGRATION_NAME} migration (004) in this project: rollback-rls undoes only "
            "what 004 (and 005) did, and there is no 004 here. Nothing was changed."
        )
    done = _from_record(cur) if _has_record(cur) else {}
    wanted = _choose(done or _from_names(cur), table)
    versions = tuple(v for v in (rls_version, boundary_version) if v and _recorded(cur, v))
    if not versions:
        return RollbackPlan((), (), ("004 is not applied on this database: nothing of it to undo",))
    statements: list[str] = []
    kept: list[str] = []
    noted = _rls_before_004(cur)
    for rel, (rls, policies) in wanted.items():
        current = _table_policies(cur, rel)
        if current is None:
            continue
        enabled, existing = current
        ours = [p for p in policies if p in existing]
        statements += [f"drop policy if exists {_ident(p)} on {rel};" for p in ours]
        others = [p for p in existing if p not in policies]
        if not enabled or rel in _KEEP_RLS:
            continue
        if rel in noted and not _turned_on_by_005(cur, rel):
            # Known, not guessed: as it was before 004 (the app's policies then were not in
            # force if RLS was off).
            if not noted[rel]:
                statements.append(f"alter table {rel} disable row level security;")
            elif rls:
                kept.append(f"{rel} keeps RLS on: it was on before 004 ran")
            continue
        if not rls:
            continue
        if others:
            mine = ", ".join(others)
            kept.append(f"{rel} keeps RLS on: it has policies 004 and 005 did not create ({mine})")
        else:
            statements.append(f"alter table {rel} disable row level security;")
    where = "" if table is None else f" where rel = {quote_literal(next(iter(wanted)))}::regclass"
    if _has_record(cur):
        statements.append(f"delete from {RECORD}{where};")
    if _exists(cur, BEFORE_004):
        statements.append(f"delete from {BEFORE_004}{where};")
    return RollbackPlan(tuple(statements), versions, tuple(kept))


# table -> (RLS turned on by 004/005, the policies they created)
Done = dict[str, tuple[bool, list[str]]]


def _from_record(cur: Any) -> Done:
    cur.execute(
        "select format('%%I.%%I', n.nspname, c.relname), bool_or(r.policy = ''), "
        "coalesce(array_agg(r.policy::text order by r.policy) filter (where r.policy <> ''), '{}') "
        f"from {RECORD} r join pg_class c on c.oid = r.rel "
        "join pg_namespace n on n.oid = c.relnamespace "
        "group by n.nspname, c.relname order by c.relname <> %s, c.relname <> %s, c.relname",
        (TENANTS, MEMBERSHIPS),
    )
    return {row[0]: (bool(row[1]), list(row[2])) for row in cur.fetchall()}


def _from_names(cur: Any) -> Done:
    """004 without 005's record: its policies by name; RLS on the platform tables it touched."""
    return {
        f"public.{name}": (name not in (TENANTS, MEMBERSHIPS), list(policies))
        for name, policies in POLICIES.items()
    }


def _choose(done: Done, table: str | None) -> Done:
    if table is None:
        return done
    for rel in done:
        if table in (rel, rel.removeprefix("public.")):
            return {rel: done[rel]}
    names = ", ".join(rel.removeprefix("public.") for rel in done)
    raise UsageError(f"--table {table!r} is not one 004 or 005 touched: choose from {names}.")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _has_record(cur: Any) -> bool:
    return _exists(cur, RECORD)


def _exists(cur: Any, table: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (table,))
    return bool(cur.fetchone()[0])


def _rls_before_004(cur: Any) -> dict[str, bool]:
    """Each platform table's RLS flag just before 004 ran, as noted then (empty: no note)."""
    if not _exists(cur, BEFORE_004):
        return {}
    cur.execute(
        "select format('%%I.%%I', n.nspname, c.relname), b.rls from "
        f"{BEFORE_004} b join pg_class c on c.oid = b.rel "
        "join pg_namespace n on n.oid = c.relnamespace",
        (),
    )
    return {row[0]: bool(row[1]) for row in cur.fetchall()}


def _turned_on_by_005(cur: Any, rel: str) -> bool:
    """005 (or the guard) turned RLS on itself (found it off, not guessed): RLS was turned
    off between 004 and 005, and 005's own RLS is undone."""
    if not _has_record(cur):
        return False
    cur.execute(
        f"select 1 from {RECORD} where rel = to_regclass(%s) and policy = '' "
        "and migration = '005' and not inferred",
        (rel,),
    )
    return cur.fetchone() is not None


def _table_policies(cur: Any, rel: str) -> tuple[bool, list[str]] | None:
    """(RLS enabled, every policy's name) for `rel`; None if the table is absent."""
    cur.execute(
        "select c.relrowsecurity, coalesce(array_agg(p.polname::text order by p.polname) "
        "filter (where p.polname is not null), '{}') from pg_class c "
        "left join pg_policy p on p.polrelid = c.oid where c.oid = to_regclass(%s) "
        "group by c.relrowsecurity",
        (rel,),
    )
    row = cur.fetchone()
    return None if row is None else (bool(row[0]), list(row[1]))


def _recorded(cur: Any, version: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (TABLE,))
    if not cur.fetchone()[0]:
        return False
    cur.execute(f"select 1 from {TABLE} where version = %s", (version,))
    return cur.fetchone() is not None


def apply_rollback(cur: Any, plan: RollbackPlan, *, lock_timeout: str) -> None:
    """Run the plan in the caller's transaction (the caller commits)."""
    cur.execute(f"set local lock_timeout = {quote_literal(lock_timeout or '0')}")
    for statement in plan.statements:
        cur.execute(statement)
    for version in plan.history_versions:
        cur.execute(f"delete from {TABLE} where version = %s", (version,))
