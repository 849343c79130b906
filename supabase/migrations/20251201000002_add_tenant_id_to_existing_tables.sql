-- 002: tenant_id on each platform table that exists (files, audit_logs, sessions), with a
-- foreign key to tenants and an index; files get tenant_id filled in on insert.
-- Works with all, some or none of the tables present. Safe to run again.
--
-- The foreign key is added NOT VALID, then validated: the column is new and empty, so the
-- validation scan is cheap. On very large tables, create the index concurrently first
-- (see the README); IF NOT EXISTS then skips it here.

do $$
declare
  t text;
begin
  foreach t in array array['files', 'audit_logs', 'sessions'] loop
    if to_regclass(format('public.%I', t)) is null then
      raise notice '002: public.% does not exist, skipped', t;
      continue;
    end if;
    execute format('alter table public.%I add column if not exists tenant_id uuid', t);
    if not exists (
      select 1 from pg_constraint
      where conrelid = format('public.%I', t)::regclass and conname = t || '_tenant_id_fkey'
    ) then
      execute format(
        'alter table public.%I add constraint %I foreign key (tenant_id) '
        'references public.tenants (id) on delete cascade not valid',
        t, t || '_tenant_id_fkey'
      );
    end if;
    execute format('alter table public.%I validate constraint %I', t, t || '_tenant_id_fkey');
    execute format('create index if not exists %I on public.%I (tenant_id)', t || '_tenant_id_idx', t);
  end loop;
end;
$$;

-- File upload sets tenant_id: from the file owner's default tenant, else the uploader's.
create or replace function public.set_file_tenant_id()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.tenant_id is null then
    select ut.tenant_id into new.tenant_id
    from public.user_tenants ut
    where ut.user_id = coalesce(new.user_id, (select auth.uid()))
    order by ut.is_default desc, ut.created_at, ut.tenant_id
    limit 1;
  end if;
  return new;
end;
$$;

revoke execute on function public.set_file_tenant_id() from public, anon, authenticated;

do $$
begin
  if to_regclass('public.files') is not null then
    execute 'create or replace trigger files_set_tenant_id before insert on public.files '
            'for each row execute function public.set_file_tenant_id()';
  end if;
end;
$$;
