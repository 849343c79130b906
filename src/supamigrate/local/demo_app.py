"""The app around the platform tables, shaped like most Supabase apps before tenancy.

Per-user RLS policies on each platform table (`auth.uid() = user_id`), a `profiles` table
filled by the app's own `handle_new_user` trigger on auth.users (named `on_auth_user_created`,
as the Supabase docs name it: it sorts before 001's trigger), a storage bucket with per-user
object policies, and a view (security invoker, as the linter asks). Written from Supabase's
documented facts; the demo (`db.seed`) and the tests' fixtures both use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

PROFILES = """
create table if not exists public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  full_name text,
  avatar_url text,
  updated_at timestamptz not null default now()
);
alter table public.profiles enable row level security;
create policy "Users see their own profile" on public.profiles
  for select to authenticated using ((select auth.uid()) = id);
create policy "Users update their own profile" on public.profiles
  for update to authenticated
  using ((select auth.uid()) = id) with check ((select auth.uid()) = id);

create or replace function public.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, full_name)
  values (new.id, new.raw_user_meta_data ->> 'full_name');
  return new;
end;
$$;
revoke execute on function public.handle_new_user() from public, anon, authenticated;
create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_user();
"""

# table -> its per-user policies, as apps write them
POLICIES = {
    "files": """
        create policy "Users manage their own files" on public.files for all to authenticated
          using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id)""",
    "audit_logs": """
        create policy "Users read their own audit log" on public.audit_logs
          for select to authenticated using ((select auth.uid()) = user_id)""",
    "sessions": """
        create policy "Users read their own sessions" on public.sessions
          for select to authenticated using ((select auth.uid()) = user_id);
        create policy "Users end their own sessions" on public.sessions
          for delete to authenticated using ((select auth.uid()) = user_id)""",
}

STORAGE = """
insert into storage.buckets (id, name, public) values ('avatars', 'avatars', false)
  on conflict do nothing;
create policy "Users read their own avatars" on storage.objects for select to authenticated
  using (bucket_id = 'avatars' and owner = (select auth.uid()));
create policy "Users upload into their own folder" on storage.objects for insert
  to authenticated
  with check (bucket_id = 'avatars'
              and (storage.foldername(name))[1] = (select auth.uid())::text);
"""

VIEW = """
create view public.file_stats with (security_invoker = on) as
  select user_id, count(*) as files, sum(size_bytes) as bytes
  from public.files group by user_id
"""


def create_app(cur: Any, tables: Iterable[str]) -> None:
    """The app's policies on `tables`, its profiles and signup trigger, storage, a view."""
    tables = list(tables)
    cur.execute(PROFILES)
    for table in tables:
        cur.execute(f"alter table public.{table} enable row level security")
        cur.execute(POLICIES[table])
    if _exists(cur, "storage.objects"):
        cur.execute(STORAGE)
    if "files" in tables:
        cur.execute(VIEW)


def add_avatars(cur: Any, users: Sequence[str]) -> None:
    """One avatar object per user, in their own folder, owned by them."""
    if not users or not _exists(cur, "storage.objects"):
        return
    cur.execute(
        "insert into storage.objects (bucket_id, name, owner, metadata) "
        "select 'avatars', u.id || '/avatar.png', u.id::uuid, '{\"size\": 1024}' "
        "from unnest(%s::text[]) as u(id)",
        (list(users),),
    )


def _exists(cur: Any, name: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (name,))
    return bool(cur.fetchone()[0])
