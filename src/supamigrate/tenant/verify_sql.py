"""`invoke verify --sql`: the read-only part of verify, to paste into the Supabase SQL editor.

The probes need a transaction that acts as other roles and is rolled back, so they are left
to `invoke verify`; these queries show what those probes rely on.
"""

from __future__ import annotations

VERIFY_SQL = """-- Paste into the Supabase SQL editor to check the tenant migrations (read-only).
select to_regclass('public.tenants') is not null as tenants_exists,
       to_regclass('public.user_tenants') is not null as user_tenants_exists;
-- Every tenant-scoped table (any table in public with tenant_id): RLS on, policies, index.
select c.relname, c.relrowsecurity as rls_enabled,
       (select count(*) from pg_policy p where p.polrelid = c.oid) as policies,
       (select string_agg(pg_get_expr(p.polqual, p.polrelid), ' | ') from pg_policy p
         where p.polrelid = c.oid and pg_get_expr(p.polqual, p.polrelid) = 'true')
         as always_true_policies,
       exists (select 1 from pg_index i join pg_attribute a
                 on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
               where i.indrelid = c.oid and a.attname = 'tenant_id') as tenant_id_indexed,
       (select string_agg(distinct p.polcmd::text, '' order by p.polcmd::text) from pg_policy p
         where p.polrelid = c.oid and not p.polpermissive and p.polroles = '{0}')
         as boundary_cmds  -- restrictive to public: a d r w = insert delete select update
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
  and (c.relname in ('tenants', 'user_tenants')
       or exists (select 1 from pg_attribute a where a.attrelid = c.oid
                  and a.attname = 'tenant_id' and not a.attisdropped))
order by 1;
select (select count(*) from public.tenants) as tenants,
       (select count(*) from public.user_tenants) as memberships,
       (select count(*) from auth.users u where not exists
          (select 1 from public.user_tenants ut where ut.user_id = u.id)) as users_without_tenant;
-- Signups: Supabase Auth inserts into auth.users as supabase_auth_admin, which has no rights on
-- public tables; a trigger function that is not security definer fails every signup.
select g.tgname as auth_users_trigger, p.oid::regprocedure as function,
       p.prosecdef as security_definer,
       exists (select 1 from unnest(coalesce(p.proconfig, '{}')) s
               where s like 'search_path=%') as search_path_fixed
from pg_trigger g join pg_proc p on p.oid = g.tgfoid
where g.tgrelid = 'auth.users'::regclass and not g.tgisinternal
order by 1;
-- Tables in public the API serves with per-user rows (user_id, or a key to auth.users on any
-- column, as profiles.id) but no tenant_id.
select c.relname as user_rows_without_tenant_id
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
  and has_table_privilege('authenticated', c.oid, 'select')
  and (exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'user_id')
       or exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'f'
                  and k.confrelid = to_regclass('auth.users')))
  and not exists (select 1 from pg_attribute a where a.attrelid = c.oid
                  and a.attname = 'tenant_id' and not a.attisdropped)
order by 1;
"""
