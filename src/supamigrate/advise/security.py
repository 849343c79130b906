"""splinter's security advisors: who can reach what through the API."""

from __future__ import annotations

from supamigrate.advise.model import Category, Level, Lint
from supamigrate.advise.sql import (
    API_CAN,
    API_READS,
    FUNCTION,
    NAMED,
    POLICY,
    POLICY_TEXT,
    REL,
    not_extension,
)

_S = Category.SECURITY
SECURITY_INVOKER = (
    "exists (select 1 from unnest(coalesce(c.reloptions, '{}')) o "
    # Postgres's boolean takes any prefix of true/yes (`security_invoker = t`), and keeps the
    # option as spelt
    "        where o ~* '^security_invoker=(t|tr|tru|true|y|ye|yes|on|1)$')"
)

LINTS = (
    Lint(
        "rls_disabled_in_public",
        Level.ERROR,
        _S,
        "table served by the API without row level security",
        f"select {NAMED} {REL} where n.nspname = any(%(app)s) and c.relkind in ('r', 'p') "
        f"and not c.relispartition and not c.relrowsecurity and {API_CAN} order by 1",
        "alter table {obj} enable row level security; then add policies (without RLS anyone "
        "with the anon key reads and writes it)",
    ),
    Lint(
        "policy_exists_rls_disabled",
        Level.ERROR,
        _S,
        "policies written but row level security off",
        f"select {NAMED} {REL} where n.nspname = any(%(app)s) and not c.relrowsecurity "
        "and exists (select 1 from pg_policy p where p.polrelid = c.oid) order by 1",
        "alter table {obj} enable row level security (its policies do nothing until then)",
    ),
    Lint(
        "rls_enabled_no_policy",
        Level.INFO,
        _S,
        "row level security on, but no policy",
        f"select {NAMED} {REL} where n.nspname = any(%(app)s) and c.relkind in ('r', 'p') "
        "and c.relrowsecurity and not exists (select 1 from pg_policy p where p.polrelid = c.oid) "
        "order by 1",
        "create policies for {obj} (without one the API sees no rows; only service_role and "
        "owners do)",
    ),
    Lint(
        "rls_references_user_metadata",
        Level.ERROR,
        _S,
        "policy trusts user_metadata, which users can edit",
        f"select {POLICY} from pg_policies where schemaname = any(%(app)s) "
        f"and {POLICY_TEXT} ~* 'user_metadata' order by 1",
        "base policy {obj} on app_metadata or a table of your own: users can set their own "
        "user_metadata",
    ),
    Lint(
        "rls_policy_always_true",
        Level.ERROR,
        _S,
        "write policy that is always true",
        f"select {POLICY} from pg_policies where schemaname = any(%(app)s) "
        "and permissive = 'PERMISSIVE' and cmd in ('ALL', 'INSERT', 'UPDATE', 'DELETE') "
        "and (qual = 'true' or with_check = 'true') order by 1",
        "state who may write in {obj}, e.g. using ((select auth.uid()) = user_id): always true, "
        "it lets every member of its roles write any row",
    ),
    Lint(
        "security_definer_view",
        Level.ERROR,
        _S,
        "view runs as its owner, past the caller's RLS",
        f"select {NAMED} {REL} where n.nspname = any(%(app)s) and c.relkind = 'v' "
        f"and {API_READS} and not {SECURITY_INVOKER} and {not_extension('c.oid')} order by 1",
        "alter view {obj} set (security_invoker = on): else it reads as its owner, past RLS",
    ),
    Lint(
        "auth_users_exposed",
        Level.ERROR,
        _S,
        "auth.users readable through the API",
        f"select distinct {NAMED} {REL} where n.nspname = any(%(app)s) "
        f"and (c.relkind = 'm' or (c.relkind = 'v' and not {SECURITY_INVOKER})) and {API_READS} "
        "and exists (select 1 from pg_rewrite w join pg_depend d on d.objid = w.oid "
        "            where w.ev_class = c.oid and d.refobjid = to_regclass('auth.users')) "
        "order by 1",
        "do not serve auth.users through {obj}: revoke select on it from anon and "
        "authenticated, or make it security_invoker",
    ),
    Lint(
        "auth_allow_anonymous_sign_ins",
        Level.INFO,
        _S,
        "policy lets anonymous users in as signed-in ones",
        f"select {POLICY} from pg_policies where schemaname = any(%(app)s) "
        "and roles && array['authenticated', 'public']::name[] "
        f"and {POLICY_TEXT} !~* 'is_anonymous' order by 1",
        "anonymous sign-ins are in use here: if {obj} is for permanent users only, add "
        "((select (auth.jwt()->>'is_anonymous')::boolean) is false)",
        needs="anonymous_users",
    ),
    Lint(
        "function_search_path_mutable",
        Level.WARNING,
        _S,
        "function resolves names through the caller's search_path",
        f"select {FUNCTION} from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname = any(%(mine)s) and p.prokind in ('f', 'p') "
        "and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) s "
        "                where s like 'search\\_path=%%') "
        f"and {not_extension('p.oid')} order by 1",
        "alter function {obj} set search_path = ''; and qualify every name in its body",
    ),
    Lint(
        "extension_in_public",
        Level.WARNING,
        _S,
        "extension installed in public",
        "select e.extname from pg_extension e join pg_namespace n on n.oid = e.extnamespace "
        "where n.nspname = 'public' order by 1",
        "alter extension {obj} set schema extensions (if it is relocatable; else drop and "
        "create it there)",
    ),
    Lint(
        "materialized_view_in_api",
        Level.WARNING,
        _S,
        "materialized view served by the API (no RLS applies)",
        f"select {NAMED} {REL} where n.nspname = any(%(app)s) and c.relkind = 'm' "
        f"and {API_READS} order by 1",
        "move {obj} out of the exposed schemas, or revoke select on it from anon and authenticated",
    ),
    Lint(
        "foreign_table_in_api",
        Level.WARNING,
        _S,
        "foreign table served by the API (no RLS applies)",
        f"select {NAMED} {REL} where n.nspname = any(%(app)s) and c.relkind = 'f' "
        f"and {API_READS} order by 1",
        "move {obj} out of the exposed schemas, or revoke select on it from anon and authenticated",
    ),
    Lint(
        "unsupported_reg_types",
        Level.WARNING,
        _S,
        "column type pg_upgrade cannot carry (blocks Postgres upgrades)",
        "select format('%%I.%%I.%%I (%%s)', n.nspname, c.relname, a.attname, "
        f"               format_type(a.atttypid, a.atttypmod)) {REL} "
        "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
        "where n.nspname = any(%(mine)s) and c.relkind in ('r', 'p', 'm') "
        "and a.atttypid in ('regcollation'::regtype, 'regconfig'::regtype, "
        "  'regdictionary'::regtype, 'regnamespace'::regtype, 'regoper'::regtype, "
        "  'regoperator'::regtype, 'regproc'::regtype, 'regprocedure'::regtype) order by 1",
        "store the name as text instead of {obj}: pg_upgrade refuses tables with it",
    ),
    Lint(
        "insecure_queue_exposed_in_api",
        Level.ERROR,
        _S,
        "queue served by the API (pgmq_public) without row level security",
        f"select {NAMED} {REL} where n.nspname = 'pgmq' and c.relname like 'q\\_%%' "
        f"and c.relkind in ('r', 'p') and not c.relrowsecurity and {API_CAN} "
        "and 'pgmq_public' = any(%(api)s) order by 1",
        "alter table {obj} enable row level security; then add policies for who may send and read",
    ),
    Lint(
        "fkey_to_auth_unique",
        Level.ERROR,
        _S,
        "foreign key to a unique constraint in auth (blocks Auth upgrades)",
        "select format('%%I on %%I.%%I', k.conname, n.nspname, c.relname) "
        "from pg_constraint k join pg_class c on c.oid = k.conrelid "
        "join pg_namespace n on n.oid = c.relnamespace "
        "join pg_class r on r.oid = k.confrelid join pg_namespace rn on rn.oid = r.relnamespace "
        "join pg_index i on i.indexrelid = k.conindid "
        "where k.contype = 'f' and rn.nspname = 'auth' and not i.indisprimary order by 1",
        "drop {obj} and reference auth.users (id), the primary key, instead",
    ),
)
