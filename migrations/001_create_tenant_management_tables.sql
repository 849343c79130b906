-- 001: tenants, memberships, helper functions, and a personal tenant for every new user.
-- Safe to run again: IF NOT EXISTS / CREATE OR REPLACE throughout.

create table if not exists public.tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 200),
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  kind text not null default 'team' check (kind in ('personal', 'team')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.tenants is 'A workspace: every tenant-scoped row belongs to one.';
-- Closed to the API from the start: no policy yet means anon and authenticated see nothing
-- until 004 adds the policies (enabling again there is harmless).
alter table public.tenants enable row level security;

create table if not exists public.user_tenants (
  user_id uuid not null references auth.users (id) on delete cascade,
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  role text not null default 'member' check (role in ('owner', 'admin', 'member')),
  is_default boolean not null default false,
  created_at timestamptz not null default now(),
  primary key (user_id, tenant_id)
);
comment on table public.user_tenants is 'Who belongs to which tenant, with what role.';
alter table public.user_tenants enable row level security;

-- The primary key serves lookups by user; lookups by tenant need their own index.
create index if not exists user_tenants_tenant_id_idx on public.user_tenants (tenant_id);
-- At most one default tenant per user.
create unique index if not exists user_tenants_one_default_per_user
  on public.user_tenants (user_id) where is_default;

create or replace function public.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

create or replace trigger tenants_set_updated_at
  before update on public.tenants
  for each row execute function public.set_updated_at();

-- Helpers for policies. SECURITY DEFINER so a policy on user_tenants can ask about
-- user_tenants without recursing into its own policy; STABLE so Postgres may evaluate them
-- once per query; an empty search_path with qualified names so nobody can shadow a table.
-- plpgsql rather than sql: a security definer SQL function is never inlined and is
-- re-planned on every call, while plpgsql keeps its plan for the session (every policy
-- check pays this call once per query).
create or replace function public.current_user_tenant_ids()
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

create or replace function public.current_user_admin_tenant_ids()
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select ut.tenant_id
  from public.user_tenants ut
  where ut.user_id = (select auth.uid())
    and ut.role in ('owner', 'admin')
$$;

-- The signed-in user's default tenant (or, lacking one, their oldest membership).
create or replace function public.user_default_tenant_id()
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
  select ut.tenant_id
  from public.user_tenants ut
  where ut.user_id = (select auth.uid())
  order by ut.is_default desc, ut.created_at, ut.tenant_id
  limit 1
$$;

revoke execute on function public.current_user_tenant_ids() from public, anon;
revoke execute on function public.current_user_admin_tenant_ids() from public, anon;
revoke execute on function public.user_default_tenant_id() from public, anon;
grant execute on function public.current_user_tenant_ids() to authenticated, service_role;
grant execute on function public.current_user_admin_tenant_ids() to authenticated, service_role;
grant execute on function public.user_default_tenant_id() to authenticated, service_role;

-- New user registration creates a personal tenant and an owner membership. The slug is
-- derived from the user id, so the backfill (003) and this trigger never create two.
create or replace function public.handle_new_user_tenant()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_tenant_id uuid;
  v_slug text := 'personal-' || replace(new.id::text, '-', '');
begin
  insert into public.tenants (name, slug, kind)
  values (
    left(coalesce(
      nullif(btrim(new.raw_user_meta_data ->> 'full_name'), ''),
      nullif(split_part(coalesce(new.email, ''), '@', 1), ''),
      'Personal workspace'
    ), 200),
    v_slug,
    'personal'
  )
  on conflict (slug) do nothing
  returning id into v_tenant_id;

  if v_tenant_id is null then
    select t.id into v_tenant_id from public.tenants t where t.slug = v_slug;
  end if;

  insert into public.user_tenants (user_id, tenant_id, role, is_default)
  values (
    new.id,
    v_tenant_id,
    'owner',
    not exists (select 1 from public.user_tenants d where d.user_id = new.id and d.is_default)
  )
  on conflict do nothing;
  return new;
end;
$$;

revoke execute on function public.handle_new_user_tenant() from public, anon, authenticated;

create or replace trigger on_auth_user_created_tenant
  after insert on auth.users
  for each row execute function public.handle_new_user_tenant();
