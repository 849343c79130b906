-- 004: Row Level Security. Signed-in users see and change only rows of tenants they belong
-- to; owners and admins manage memberships and rename tenants; anon gets nothing.
-- Policies call auth.uid() and the helpers through sub-selects, so Postgres evaluates them
-- once per query (an InitPlan) rather than once per row; `= any (array(select ...))` then
-- lets the planner use the tenant_id index (`in (select ...)` over a set-returning function
-- is planned as a filter on a full scan: ~400x slower on a million rows, measured). Safe to run again (DROP POLICY IF EXISTS first).
-- Undo quickly with `invoke rollback-rls` (keeps tables, columns and data).

-- DROP POLICY IF EXISTS says "does not exist, skipping" for every new policy: not news.
set local client_min_messages = warning;

alter table public.tenants enable row level security;
alter table public.user_tenants enable row level security;

drop policy if exists "tenants: members can read" on public.tenants;
create policy "tenants: members can read" on public.tenants
  for select to authenticated
  using (id = any (array(select public.current_user_tenant_ids())));

drop policy if exists "tenants: owners and admins can rename" on public.tenants;
create policy "tenants: owners and admins can rename" on public.tenants
  for update to authenticated
  using (id = any (array(select public.current_user_admin_tenant_ids())))
  with check (id = any (array(select public.current_user_admin_tenant_ids())));

drop policy if exists "user_tenants: see own and co-members" on public.user_tenants;
create policy "user_tenants: see own and co-members" on public.user_tenants
  for select to authenticated
  using (
    user_id = (select auth.uid())
    or tenant_id = any (array(select public.current_user_tenant_ids()))
  );

drop policy if exists "user_tenants: owners and admins add members" on public.user_tenants;
create policy "user_tenants: owners and admins add members" on public.user_tenants
  for insert to authenticated
  with check (tenant_id = any (array(select public.current_user_admin_tenant_ids())));

drop policy if exists "user_tenants: owners and admins change members" on public.user_tenants;
create policy "user_tenants: owners and admins change members" on public.user_tenants
  for update to authenticated
  using (tenant_id = any (array(select public.current_user_admin_tenant_ids())))
  with check (tenant_id = any (array(select public.current_user_admin_tenant_ids())));

drop policy if exists "user_tenants: admins remove members, members leave" on public.user_tenants;
create policy "user_tenants: admins remove members, members leave" on public.user_tenants
  for delete to authenticated
  using (
    user_id = (select auth.uid())
    or tenant_id = any (array(select public.current_user_admin_tenant_ids()))
  );

-- Each platform table that exists: one policy per action, scoped to the user's tenants.
do $$
declare
  t text;
  members constant text := 'tenant_id = any (array(select public.current_user_tenant_ids()))';
begin
  foreach t in array array['files', 'audit_logs', 'sessions'] loop
    if to_regclass(format('public.%I', t)) is null then
      raise notice '004: public.% does not exist, skipped', t;
      continue;
    end if;
    execute format('alter table public.%I enable row level security', t);
    execute format('drop policy if exists %I on public.%I', t || ': tenant members can read', t);
    execute format('create policy %I on public.%I for select to authenticated using (%s)',
                   t || ': tenant members can read', t, members);
    execute format('drop policy if exists %I on public.%I', t || ': tenant members can insert', t);
    execute format('create policy %I on public.%I for insert to authenticated with check (%s)',
                   t || ': tenant members can insert', t, members);
    execute format('drop policy if exists %I on public.%I', t || ': tenant members can update', t);
    execute format('create policy %I on public.%I for update to authenticated using (%s) with check (%s)',
                   t || ': tenant members can update', t, members, members);
    execute format('drop policy if exists %I on public.%I', t || ': tenant members can delete', t);
    execute format('create policy %I on public.%I for delete to authenticated using (%s)',
                   t || ': tenant members can delete', t, members);
  end loop;
end;
$$;
