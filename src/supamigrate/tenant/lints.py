"""Lints named and levelled as Supabase's database linter (splinter) names them, run over the
app's exposed schemas. Each finding is its own check; a lint with none passes once.

Every query takes the exposed schemas as its one parameter and returns one text per finding.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor

from supamigrate.tenant.checks import Check, Level


@dataclass(frozen=True)
class Lint:
    name: str  # splinter's name
    level: Level  # splinter's level
    sql: str
    fix: str  # {obj} is the finding


_REL = "from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = any(%s)"
_API_READS = (
    "(has_table_privilege('anon', c.oid, 'select') "
    "or has_table_privilege('authenticated', c.oid, 'select'))"
)
_NOT_EXTENSION = "not exists (select 1 from pg_depend d where d.objid = {oid} and d.deptype = 'e')"
_POLICY_TEXT = "coalesce(qual, '') || ' ' || coalesce(with_check, '')"
_NAMED = "format('%%I.%%I', n.nspname, c.relname)"
_FUNCTION = (
    "format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))"
)

LINTS = (
    Lint(
        "rls_disabled_in_public",
        Level.ERROR,
        f"select {_NAMED} {_REL} and c.relkind in ('r', 'p') and not c.relispartition "
        f"and not c.relrowsecurity and {_API_READS} order by 1",
        "alter table {obj} enable row level security; then add policies",
    ),
    Lint(
        "policy_exists_rls_disabled",
        Level.ERROR,
        f"select {_NAMED} {_REL} and not c.relrowsecurity "
        "and exists (select 1 from pg_policy p where p.polrelid = c.oid) order by 1",
        "alter table {obj} enable row level security (its policies do nothing until then)",
    ),
    Lint(
        "rls_enabled_no_policy",
        Level.INFO,
        f"select {_NAMED} {_REL} and c.relkind in ('r', 'p') and c.relrowsecurity "
        "and not exists (select 1 from pg_policy p where p.polrelid = c.oid) order by 1",
        "create policies for {obj} (without one, only service_role and owners see rows)",
    ),
    Lint(
        "rls_references_user_metadata",
        Level.ERROR,
        "select format('%%I on %%I.%%I', policyname, schemaname, tablename) from pg_policies "
        f"where schemaname = any(%s) and ({_POLICY_TEXT}) ~* 'user_metadata' order by 1",
        "users can edit user_metadata: base policy {obj} on app_metadata or a table instead",
    ),
    Lint(
        "security_definer_view",
        Level.ERROR,
        f"select {_NAMED} {_REL} and c.relkind = 'v' and {_API_READS} "
        "and not exists (select 1 from unnest(coalesce(c.reloptions, '{}')) o "
        "                where o ~* '^security_invoker=(true|on|yes|1)$') "
        f"and {_NOT_EXTENSION.format(oid='c.oid')} order by 1",
        "alter view {obj} set (security_invoker = on): else it reads as its owner, past RLS",
    ),
    Lint(
        "auth_users_exposed",
        Level.ERROR,
        f"select distinct {_NAMED} {_REL} and c.relkind in ('v', 'm') and {_API_READS} "
        "and exists (select 1 from pg_rewrite r join pg_depend d on d.objid = r.oid "
        "            where r.ev_class = c.oid and d.refobjid = to_regclass('auth.users')) "
        "order by 1",
        "do not serve auth.users through {obj}: revoke it from anon and authenticated",
    ),
    Lint(
        "auth_rls_initplan",
        Level.WARNING,
        "select format('%%I on %%I.%%I', policyname, schemaname, tablename) from pg_policies "
        f"where schemaname = any(%s) "
        f"and ({_POLICY_TEXT}) ~* '(auth\\.(uid|jwt|role|email)\\(\\)|current_setting\\()' "
        f"and not ({_POLICY_TEXT}) "
        "~* '\\(\\s*select\\s+(auth\\.(uid|jwt|role|email)\\(\\)|current_setting\\()' order by 1",
        "write (select auth.uid()) in policy {obj} so it is evaluated once per query",
    ),
    Lint(
        "multiple_permissive_policies",
        Level.WARNING,
        "select format('%%I.%%I: %%s for %%s %%s', schemaname, tablename, "
        "              string_agg(policyname, ', ' order by policyname), r, a) "
        "from pg_policies, unnest(roles) r, "
        "     unnest(case when cmd = 'ALL' then array['SELECT', 'INSERT', 'UPDATE', 'DELETE'] "
        "                 else array[cmd] end) a "
        "where schemaname = any(%s) and permissive = 'PERMISSIVE' "
        "group by schemaname, tablename, r, a having count(*) > 1 order by 1",
        "merge them into one policy ({obj}): each permissive policy is evaluated for every row",
    ),
    Lint(
        "function_search_path_mutable",
        Level.WARNING,
        f"select {_FUNCTION} from pg_proc p join pg_namespace n "
        "on n.oid = p.pronamespace where n.nspname = any(%s) "
        "and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c "
        "                where c like 'search_path=%%') "
        f"and {_NOT_EXTENSION.format(oid='p.oid')} order by 1",
        "alter function {obj} set search_path = ''; and qualify every name in its body",
    ),
    Lint(
        "materialized_view_in_api",
        Level.WARNING,
        f"select {_NAMED} {_REL} and c.relkind = 'm' and {_API_READS} order by 1",
        "move {obj} out of the exposed schemas, or revoke select from anon and authenticated",
    ),
    Lint(
        "extension_in_public",
        Level.WARNING,
        "select e.extname from pg_extension e join pg_namespace n on n.oid = e.extnamespace "
        "where n.nspname = 'public' and 'public' = any(%s) order by 1",
        "alter extension {obj} set schema extensions",
    ),
    Lint(
        "duplicate_index",
        Level.WARNING,
        f"select format('%%s: %%s', {_NAMED}, "
        "              string_agg(i.indexrelid::regclass::text, ', ' order by 1)) "
        "from pg_index i join pg_class c on c.oid = i.indrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = any(%s) "
        "group by n.nspname, c.relname, i.indrelid, i.indkey::text, i.indclass::text, "
        "         i.indexprs::text, i.indpred::text having count(*) > 1 order by 1",
        "drop all but one of the identical indexes ({obj})",
    ),
    Lint(
        "unindexed_foreign_keys",
        Level.INFO,
        "select format('%%I.%%I (%%s)', n.nspname, c.relname, "
        "              string_agg(a.attname, ', ' order by a.attnum)) "
        "from pg_constraint k join pg_namespace n on n.oid = k.connamespace "
        "join pg_class c on c.oid = k.conrelid "
        "join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any(k.conkey) "
        "where k.contype = 'f' and n.nspname = any(%s) "
        "and not exists (select 1 from pg_index i where i.indrelid = k.conrelid "
        "                and (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey) "
        "group by n.nspname, c.relname, k.oid order by 1",
        "create index concurrently on {obj} (joins and cascading deletes scan without one)",
    ),
    Lint(
        "no_primary_key",
        Level.INFO,
        f"select {_NAMED} {_REL} and c.relkind in ('r', 'p') and not c.relispartition "
        "and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary) "
        "order by 1",
        "add a primary key to {obj} (replication and many tools need one)",
    ),
)


def lints(cur: Cursor, schemas: list[str]) -> list[Check]:
    """Every lint over `schemas`: one passing check per clean lint, one check per finding."""
    checks = []
    for lint in LINTS:
        cur.execute(lint.sql, (schemas,))
        found = [str(row[0]) for row in cur.fetchall()]
        name = f"lint {lint.name}"
        if not found:
            checks.append(Check(name, lint.level, True, "none"))
        checks += [Check(name, lint.level, False, obj, lint.fix.format(obj=obj)) for obj in found]
    return checks
