-- 005: the tenant boundary, as RESTRICTIVE policies no other policy can widen.
--
-- 004's policies are PERMISSIVE, and Postgres ORs permissive policies: next to an app's own
-- ("Users manage their own files" using (auth.uid() = user_id)) they could only ever widen
-- access, so a user could write a row into another tenant. RESTRICTIVE policies are ANDed with
-- every permissive one. This file gives tenants, user_tenants and every public table with a
-- tenant_id column one restrictive policy per command (select, insert, update, delete; USING
-- and WITH CHECK), for every role (TO public): whatever the app's policies allow, nobody but
-- a member of a row's tenant reads, writes, moves or deletes it. Roles that must cross tenants
-- (service_role) bypass RLS, as before. The app's own policies are left exactly as they are.
--
-- Also: a new user's tenant is made BEFORE the insert into auth.users, so every trigger of
-- the app on auth.users (AFTER triggers fire after all BEFORE ones, whatever their names)
-- finds it; platform rows inserted without tenant_id get the owner's default tenant; and
-- what 004 and this file turned on is recorded in supamigrate.tenant_rls for rollback-rls.
--
-- Safe to run again. It bounds the tables that have tenant_id when it runs: after adding
-- tenant_id to a table of your own, run it again (`invoke migrate --migration 005`);
-- `invoke verify` fails on a tenant table without the boundary until then.

-- DROP ... IF EXISTS says "does not exist, skipping" for every new object: not news.
set local client_min_messages = warning;

-- A private schema (not exposed by the API, no table grants): the boundary's helper and the
-- record of what the tenant migrations turned on.
create schema if not exists supamigrate;
comment on schema supamigrate is 'supamigrate tenant boundary: helper and record (not exposed).';
-- Every role evaluates the boundary, so every role may use the schema and call the helper.
grant usage on schema supamigrate to public;

create table if not exists supamigrate.tenant_rls (
  rel regclass not null,
  policy name not null default '',  -- '' : the row says RLS was turned on
  migration text not null check (migration in ('004', '005')),
  -- true: 004 ran before anything recorded, and 005 inferred it turned RLS on because the
  -- table had no policy but 004's
  inferred boolean not null default false,
  primary key (rel, policy)
);
comment on table supamigrate.tenant_rls is
  'What the tenant migrations turned on: rollback-rls undoes exactly these rows.';
revoke all on table supamigrate.tenant_rls from public;

-- The caller's tenants. SECURITY DEFINER (its owner bypasses RLS) so a policy on user_tenants
-- can ask about user_tenants without recursing; stable and called through a sub-select so
-- Postgres evaluates it once per query; in a schema the API does not serve, so it is no RPC.
create or replace function supamigrate.member_tenant_ids()
returns setof uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return query
    select ut.tenant_id
    from public.user_tenants ut
    where ut.user_id = (select auth.uid());
end;
$$;
grant execute on function supamigrate.member_tenant_ids() to public;

do $$
declare
  member constant text := 'tenant_id = any (array(select supamigrate.member_tenant_ids()))';
  tenant constant text := 'id = any (array(select supamigrate.member_tenant_ids()))';
  -- a new tenant: only by a signed-in user, and only a team (personal tenants come from the
  -- signup trigger; their slug names the user)
  new_team constant text :=
    '(select auth.uid()) is not null and kind = ''team'' and slug !~ ''^personal-''';
  platform constant text[] := array['files', 'audit_logs', 'sessions'];
  rls004 text[];
  t regclass;
  q text;
  rel text;
  cmd text;
  u text;
  k text;
  pname text;
  kind text;
begin
  -- 1. 004's work, recorded once: it ran before anything could record it. Its policies by
  --    name. RLS on a platform table counts as 004's when the table has no policy but 004's
  --    (an app with policies of its own had RLS on before); on tenants and user_tenants it is
  --    001's, never 004's.
  for t, rel, rls004 in
    select c.oid::regclass, c.relname::text,
           case c.relname
             when 'tenants' then array['tenants: members can read',
                                       'tenants: owners and admins can rename']
             when 'user_tenants' then array['user_tenants: see own and co-members',
                                            'user_tenants: owners and admins add members',
                                            'user_tenants: owners and admins change members',
                                            'user_tenants: admins remove members, members leave']
             else array[c.relname || ': tenant members can read',
                        c.relname || ': tenant members can insert',
                        c.relname || ': tenant members can update',
                        c.relname || ': tenant members can delete']
           end
    from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
      and c.relname = any (array['tenants', 'user_tenants'] || platform)
  loop
    if not exists (select 1 from pg_policy where polrelid = t and polname = any (rls004))
       or exists (select 1 from supamigrate.tenant_rls r where r.rel = t and r.migration = '004')
    then
      continue;  -- 004 did not run here, or it is recorded already
    end if;
    insert into supamigrate.tenant_rls (rel, policy, migration)
    select t, polname, '004' from pg_policy where polrelid = t and polname = any (rls004)
    on conflict do nothing;
    if rel = any (platform)
       and (select relrowsecurity from pg_class where oid = t)
       and not exists (select 1 from pg_policy where polrelid = t and polname <> all (rls004))
    then
      insert into supamigrate.tenant_rls (rel, migration, inferred) values (t, '004', true)
      on conflict do nothing;
    end if;
  end loop;

  -- 2. Every tenant-scoped table, user_tenants and tenants: RLS on where it was off (recorded,
  --    with 004's kind of member policies, so what any user could do there before, a member
  --    still can in their tenant), then the boundary: one restrictive policy per command.
  for t, q, rel in
    select c.oid::regclass, format('%I.%I', 'public', c.relname), c.relname::text
    from pg_class c
    -- partitions too: the API can query a partition of a public table directly
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
      and (c.relname in ('tenants', 'user_tenants')
           or exists (select 1 from pg_attribute a where a.attrelid = c.oid
                      and a.attname = 'tenant_id' and not a.attisdropped))
    order by c.relname
  loop
    for kind, cmd in
      select * from (values ('permissive', 'select'), ('permissive', 'insert'),
                            ('permissive', 'update'), ('permissive', 'delete'),
                            ('restrictive', 'select'), ('restrictive', 'insert'),
                            ('restrictive', 'update'), ('restrictive', 'delete')) as v
    loop
      u := case when cmd in ('select', 'update', 'delete')
                then case rel when 'tenants' then tenant else member end end;
      k := case when cmd = 'insert' and rel = 'tenants' then new_team
                when cmd in ('insert', 'update')
                then case rel when 'tenants' then tenant else member end end;
      if kind = 'permissive' then
        if rel in ('tenants', 'user_tenants') then
          continue;  -- 004 made these tables' own policies
        end if;
        if not (select relrowsecurity from pg_class where oid = t) then
          execute format('alter table %s enable row level security', q);
          insert into supamigrate.tenant_rls (rel, migration) values (t, '005')
          on conflict do nothing;
        elsif not exists (select 1 from supamigrate.tenant_rls r
                          where r.rel = t and r.policy = '' and r.migration = '005') then
          continue;  -- RLS was on already: the app's policies decide, inside the boundary
        end if;
        pname := 'tenant members can ' || case cmd when 'select' then 'read' else cmd end;
      else
        pname := 'tenant boundary: ' || cmd;
      end if;
      -- Drop and create only a policy recorded as ours: a same-named policy of the app's is
      -- never dropped.
      if exists (select 1 from pg_policy where polrelid = t and polname = pname) then
        if not exists (select 1 from supamigrate.tenant_rls r
                       where r.rel = t and r.policy = pname and r.migration = '005') then
          raise exception '005: % has a policy named "%" that 005 did not create: rename it, '
                          'then run 005 again', q, pname;
        end if;
        execute format('drop policy %I on %s', pname, q);
      end if;
      execute format('create policy %I on %s as %s for %s to %s%s%s', pname, q, kind, cmd,
                     case kind when 'permissive' then 'authenticated' else 'public' end,
                     case when u is null then '' else format(' using (%s)', u) end,
                     case when k is null then '' else format(' with check (%s)', k) end);
      insert into supamigrate.tenant_rls (rel, policy, migration) values (t, pname, '005')
      on conflict do nothing;
    end loop;
  end loop;
end;
$$;

-- 3. Platform rows inserted without tenant_id get their owner's default tenant (002's files
--    trigger, now on each platform table): an app that inserted a user's row without one
--    before still can, inside the boundary.
do $$
declare
  t text;
begin
  foreach t in array array['audit_logs', 'sessions'] loop
    if to_regclass(format('public.%I', t)) is not null then
      execute format('create or replace trigger %I before insert on public.%I '
                     'for each row execute function public.set_file_tenant_id()',
                     t || '_set_tenant_id', t);
    end if;
  end loop;
end;
$$;

-- 4. Signups: the tenant first. Triggers on auth.users fire in name order, so 001's AFTER
--    trigger ran after an app's `on_auth_user_created` (which sorts first) and that trigger
--    found no tenant. As a BEFORE trigger it runs before every AFTER trigger, whatever its
--    name. The membership is inserted before the user's row exists, so its foreign key to
--    auth.users is checked at commit (deferred); ON DELETE CASCADE still acts at once.
do $$
declare
  fk name;
begin
  select conname into fk from pg_constraint
  where conrelid = 'public.user_tenants'::regclass and contype = 'f'
    and confrelid = 'auth.users'::regclass;
  execute format('alter table public.user_tenants alter constraint %I '
                 'deferrable initially deferred', fk);
end;
$$;

create or replace trigger on_auth_user_created_tenant
  before insert on auth.users
  for each row execute function public.handle_new_user_tenant();

-- 5. Rows 003's page-by-page backfill could not see. An app's UPDATE of a row 003 had not
--    reached yet can put the row's new version in a page 003 had already done (into space its
--    own updates freed), and 003's final sweep covers only pages past the table's first size.
--    One pass over what is left, in this transaction: a scan, and few rows to change.
do $$
declare
  t text;
  fixed bigint;
begin
  foreach t in array array['files', 'audit_logs', 'sessions'] loop
    if to_regclass(format('public.%I', t)) is null then
      continue;
    end if;
    execute format(
      'update public.%I x set tenant_id = ('
      '  select ut.tenant_id from public.user_tenants ut where ut.user_id = x.user_id'
      '  order by ut.is_default desc, ut.created_at, ut.tenant_id limit 1) '
      'where x.tenant_id is null and x.user_id is not null '
      '  and exists (select 1 from public.user_tenants ut where ut.user_id = x.user_id)', t);
    get diagnostics fixed = row_count;
    if fixed > 0 then
      raise warning '005: public.%: % row(s) the backfill missed given their tenant', t, fixed;
    end if;
  end loop;
end;
$$;
