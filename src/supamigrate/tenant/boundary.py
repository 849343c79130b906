"""The boundary check: every tenant table, tenants and user_tenants carry a restrictive tenant
policy for each command that binds every role (TO public), in USING and WITH CHECK.

A permissive policy can only widen access (Postgres ORs them), so only a restrictive one is a
boundary; one `TO authenticated` leaves every other role (anon, a role the app makes) unbound.
"""

from __future__ import annotations

from psycopg2.extensions import cursor as Cursor

from supamigrate.tenant.catalog import one
from supamigrate.tenant.checks import Check, Level
from supamigrate.tenant.names import COMMANDS, MEMBERSHIPS, TENANTS

_CMD = {"select": "r", "insert": "a", "update": "w", "delete": "d"}

# For each command: is there a restrictive policy for it (or ALL) to public whose USING (where
# the command has one) and WITH CHECK (where it has one) ask for the caller's tenants?
_BOUND = """
select exists (
  select 1 from pg_policy p
  where p.polrelid = to_regclass(%(table)s) and not p.polpermissive
    and p.polcmd in (%(cmd)s, '*') and p.polroles = '{0}'
    and (%(cmd)s = 'a' or pg_get_expr(p.polqual, p.polrelid) ~ %(tenant)s)
    and (%(cmd)s in ('r', 'd')
         or coalesce(pg_get_expr(p.polwithcheck, p.polrelid),
                     pg_get_expr(p.polqual, p.polrelid)) ~ %(tenant_or_team)s))"""
_TENANTS = r"(member_tenant_ids|current_user_tenant_ids)\(\)"


def boundary_checks(cur: Cursor, scoped: list[str]) -> list[Check]:
    """One check per table: which commands lack the boundary, with the fix."""
    checks = []
    for table in (f"public.{TENANTS}", f"public.{MEMBERSHIPS}", *scoped):
        if not one(cur, "select to_regclass(%s) is not null", (table,)):
            continue
        column = "id" if table == f"public.{TENANTS}" else "tenant_id"
        tenant = rf"\m{column} = ANY .*{_TENANTS}"
        missing = []
        for cmd in COMMANDS:
            team = r"auth\.uid\(\)" if (column == "id" and cmd == "insert") else tenant
            params = {"table": table, "cmd": _CMD[cmd], "tenant": tenant, "tenant_or_team": team}
            cur.execute(_BOUND, params)
            if not (cur.fetchone() or (False,))[0]:
                missing.append(cmd)
        name = f"tenant boundary {table}"
        if not missing:
            checks.append(Check(name, Level.ERROR, True, "restrictive, every command, every role"))
            continue
        detail = f"no restrictive tenant policy to public for {', '.join(missing)}"
        fix = (
            "run `invoke migrate --migration 005` (it bounds every public table with tenant_id)"
            if table.startswith("public.")
            else f'create policy "tenant boundary: <command>" on {table} as restrictive for '
            "<command> to public using (tenant_id = any (array(select "
            "supamigrate.member_tenant_ids()))) with check (same), for each command"
        )
        checks.append(Check(name, Level.ERROR, False, detail, fix))
    return checks
