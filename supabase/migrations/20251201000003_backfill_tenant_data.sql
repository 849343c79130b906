-- supamigrate:no-transaction
-- 003: give every existing user a tenant, then tenant_id to existing platform rows.
--
-- Runs outside one big transaction on purpose: the row updates commit in batches of heap
-- pages, so no statement holds locks on a big table for long and the app keeps writing.
-- Every step is idempotent (ON CONFLICT DO NOTHING, WHERE tenant_id IS NULL): if the run is
-- interrupted, run it again and it carries on where it stopped.

-- 1. A personal tenant for every auth user without any membership.
insert into public.tenants (name, slug, kind)
select
  left(coalesce(
    nullif(btrim(u.raw_user_meta_data ->> 'full_name'), ''),
    nullif(split_part(coalesce(u.email, ''), '@', 1), ''),
    'Personal workspace'
  ), 200),
  'personal-' || replace(u.id::text, '-', ''),
  'personal'
from auth.users u
where not exists (select 1 from public.user_tenants ut where ut.user_id = u.id)
on conflict (slug) do nothing;

-- 2. Their owner membership, default unless they already have a default.
insert into public.user_tenants (user_id, tenant_id, role, is_default)
select u.id, t.id, 'owner',
       not exists (select 1 from public.user_tenants d where d.user_id = u.id and d.is_default)
from auth.users u
join public.tenants t on t.slug = 'personal-' || replace(u.id::text, '-', '')
where not exists (select 1 from public.user_tenants ut where ut.user_id = u.id)
on conflict do nothing;

-- 3. tenant_id from each row's user_id (their default tenant), committed batch by batch.
do $$
declare
  t text;
  batch_pages constant int := 200;
  first_page bigint;
  pages bigint;
  updated bigint;
  total bigint;
  reported bigint;
  null_users bigint;
  orphans bigint;
begin
  create temp table if not exists supamigrate_default_tenant (
    user_id uuid primary key,
    tenant_id uuid not null
  ) on commit preserve rows;
  truncate supamigrate_default_tenant;
  insert into supamigrate_default_tenant
  select distinct on (ut.user_id) ut.user_id, ut.tenant_id
  from public.user_tenants ut
  order by ut.user_id, ut.is_default desc, ut.created_at, ut.tenant_id;
  analyze supamigrate_default_tenant;
  commit;

  foreach t in array array['files', 'audit_logs', 'sessions'] loop
    if to_regclass(format('public.%I', t)) is null then
      raise notice '003: public.% does not exist, skipped', t;
      continue;
    end if;
    total := 0;
    first_page := 0;
    reported := 0;
    -- The table's size now: the updates below append new row versions after it, which
    -- already have their tenant_id and need no second pass (rows the app inserts meanwhile
    -- are swept once at the end).
    pages := pg_relation_size(format('public.%I', t)::regclass)
             / current_setting('block_size')::bigint;
    loop
      exit when first_page >= pages;
      execute format(
        'update public.%I x set tenant_id = d.tenant_id '
        'from supamigrate_default_tenant d '
        'where x.ctid >= $1 and x.ctid < $2 and x.tenant_id is null and d.user_id = x.user_id',
        t
      ) using format('(%s,0)', first_page)::tid, format('(%s,0)', first_page + batch_pages)::tid;
      get diagnostics updated = row_count;
      total := total + updated;
      first_page := first_page + batch_pages;
      commit;
      -- Progress about every tenth of the table: a long backfill is visibly alive.
      if first_page < pages and first_page >= reported + greatest(pages / 10, batch_pages) then
        raise notice '003: public.%: % of % pages, % row(s) so far', t, first_page, pages, total;
        reported := first_page;
      end if;
    end loop;
    execute format(
      'update public.%I x set tenant_id = d.tenant_id '
      'from supamigrate_default_tenant d '
      'where x.ctid >= $1 and x.tenant_id is null and d.user_id = x.user_id',
      t
    ) using format('(%s,0)', pages)::tid;
    get diagnostics updated = row_count;
    total := total + updated;
    commit;
    execute format(
      'select count(*) filter (where x.user_id is null), '
      '       count(*) filter (where x.user_id is not null) '
      'from public.%I x where x.tenant_id is null',
      t
    ) into null_users, orphans;
    raise notice '003: public.%: % row(s) given a tenant; left without one: % with no user_id, % whose user_id is not a user',
      t, total, null_users, orphans;
  end loop;
  drop table supamigrate_default_tenant;
end;
$$;
