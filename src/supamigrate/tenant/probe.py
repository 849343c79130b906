"""The isolation probe: two users, each with their own tenant and one row in every
tenant-scoped table, acting as `authenticated` (and `anon`) as PostgREST would.

Runs under a savepoint that is always rolled back. Rows for any table are filled in by column
type; a table the probe cannot fill is named in an info line, never silently passed over.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import psycopg2
from psycopg2.extensions import cursor as Cursor

from supamigrate.tenant.catalog import has_column, one
from supamigrate.tenant.checks import Check, Level
from supamigrate.tenant.names import MEMBERSHIPS, TENANTS
from supamigrate.tenant.signup import describe

NAME = "isolation probe"
Params = dict[str, str]
_FIX = (
    "scope the table's policies to tenant members: "
    "tenant_id = any (array(select public.current_user_tenant_ids()))"
)
# type -> an expression a required column of that type accepts; distinct per row, so the two
# probe rows do not collide on a unique column
_PROBE_VALUES = {
    "uuid": "gen_random_uuid()",
    "text": "'probe ' || substr(md5(random()::text), 1, 8)",
    "character varying": "'probe ' || substr(md5(random()::text), 1, 8)",
    "integer": "(random() * 1e9)::integer",
    "bigint": "(random() * 1e15)::bigint",
    "smallint": "(random() * 3e4)::smallint",
    "numeric": "(random() * 9)::integer",
    "real": "random()",
    "double precision": "random()",
    "boolean": "false",
    "timestamp with time zone": "now()",
    "timestamp without time zone": "now()",
    "date": "current_date",
    "jsonb": "'{}'",
    "json": "'{}'",
    "inet": "'127.0.0.1'",
}


def isolation_probe(cur: Cursor, scoped: list[str]) -> list[Check]:
    """One check naming every table covered (or each leak), and an info line per table skipped."""
    cur.execute("savepoint supamigrate_probe")
    skipped: dict[str, str] = {}
    unread.clear()
    try:
        covered, problems = _run(cur, scoped, skipped)
    except psycopg2.Error as exc:
        covered, problems = [], [f"could not run: {describe(exc)}"]
    finally:
        cur.execute("rollback to savepoint supamigrate_probe")
    infos = [
        Check(
            f"{NAME} skipped {t}",
            Level.INFO,
            False,
            why,
            "probe it by hand, or give the column a default",
        )
        for t, why in skipped.items()
    ]
    infos += [
        Check(f"{NAME} unread {t}", Level.INFO, False, why, _UNREAD_FIX)
        for t, why in _unread(cur, [t for t in covered if t in unread]).items()
    ]
    if problems:
        problems = list(dict.fromkeys(problems))
        return [Check(NAME, Level.ERROR, False, "; ".join(problems), _fix(problems)), *infos]
    detail = f"2 probe users isolated in {', '.join(covered)}; anon sees nothing; nothing kept"
    return [Check(NAME, Level.ERROR, True, detail), *infos]


# Tables where a probe user read neither probe row, not even their own tenant's: nothing leaks
# there, which is the truth to report (a FAIL was not), but the probe shows no member reads
# their own rows either. Filled by _table_as_user during one probe.
unread: set[str] = set()
_UNREAD_FIX = (
    "if members should read it, add a permissive policy for select to authenticated using "
    "(tenant_id = any (array(select supamigrate.member_tenant_ids())))"
)
_READERS = """
select count(*) filter (where p.polpermissive), count(*) from pg_policy p
where p.polrelid = to_regclass(%s) and p.polcmd in ('r', '*')
  and (p.polroles = '{0}' or exists (select 1 from unnest(p.polroles) r
                                     where pg_has_role('authenticated', r, 'member')))"""


def _unread(cur: Cursor, tables: list[str]) -> dict[str, str]:
    """Why no probe user read their own row, per table: what the table's policies grant."""
    found = {}
    for table in tables:
        cur.execute(_READERS, (table,))
        permissive, every = cur.fetchone() or (0, 0)
        if not every:
            why = "no policy lets authenticated read it"
        elif not permissive:
            why = "only restrictive policies name select for authenticated (none grants it)"
        else:
            why = "its permissive select policies let no probe user read their own tenant's row"
        found[table] = (
            f"a user reads neither probe row, not even their own tenant's: {why}; nothing "
            "leaks there, and the probe proves no more than that for reads"
        )
    return found


def _fix(problems: list[str]) -> str:
    """The policies that let each leak through, by table, then what to do."""
    blamed: dict[str, list[str]] = {}
    for problem in problems:
        found = re.match(r"^(\S+): .*\(let through by (.*)\)$", problem)
        if found:
            names = blamed.setdefault(found.group(1), [])
            names += [n for n in found.group(2).split(", ") if n not in names]
    if not blamed:
        return _FIX
    named = "; ".join(f"{', '.join(names)} on {table}" for table, names in blamed.items())
    return (
        f"let through by {named}: bound the table with the restrictive tenant boundary "
        "(`invoke migrate --migration 005`), or narrow those policies to tenant members"
    )


def _run(cur: Cursor, scoped: list[str], skipped: dict[str, str]) -> tuple[list[str], list[str]]:
    users = [str(uuid.uuid4()) for _ in range(2)]
    for user in users:
        cur.execute(
            "insert into auth.users (id, email, aud, role) "
            "values (%s, %s, 'authenticated', 'authenticated')",
            (user, f"probe-{user}@example.invalid"),
        )
    cur.execute(
        f"select user_id::text, tenant_id::text from public.{MEMBERSHIPS} "
        "where user_id = any(%s::uuid[])",
        (users,),
    )
    tenant_of = dict(cur.fetchall())
    if len(tenant_of) != 2:
        return [], ["a new user got no tenant (is the 001 trigger on auth.users there?)"]
    rows: dict[str, list[str]] = {}
    for table in scoped:
        seeded = _seed(cur, table, users, tenant_of)
        if isinstance(seeded, str):
            skipped[table] = seeded
        else:
            rows[table] = seeded
    problems = [p for i in range(2) for p in _as_user(cur, users, i, tenant_of, rows)]
    return [TENANTS, MEMBERSHIPS, *rows], problems + _as_anon(cur, users, rows)


def _seed(cur: Cursor, table: str, users: list[str], tenant_of: dict[str, str]) -> list[str] | str:
    """One row per probe user in its tenant (as the owner: RLS bypassed); else why not."""
    reachable = (
        "select has_table_privilege('authenticated', c.oid, 'select') and "
        "has_schema_privilege('authenticated', c.relnamespace, 'usage') "
        "from pg_class c where c.oid = to_regclass(%s)"
    )
    if not one(cur, reachable, (table,)):
        return "authenticated cannot select from it (the API cannot reach it)"
    insert = probe_insert(cur, table)
    if insert.startswith("cannot"):
        return insert
    ids = []
    for user in users:
        # As PostgREST would for this user: a column defaulting to auth.uid() (owner_id
        # default auth.uid(), Supabase's usual pattern) gets the user, not null.
        claims = json.dumps({"sub": user, "role": "authenticated"})
        cur.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        rows, error = attempt(
            cur, f"{insert} returning ctid::text", _row(user, tenant_of[user]), keep=True
        )
        if error is not None:
            return f"cannot insert a probe row: {error}"
        ids.append(str(rows[0][0]))
    return ids


def probe_insert(cur: Cursor, table: str) -> str:
    """INSERT of tenant_id, user_id (if any) and every required column; or `cannot ...`.

    Its parameters are named: %(user)s and %(tenant)s.
    """
    cur.execute(
        "select a.attname, format_type(a.atttypid, null), t.typtype, exists (select 1 "
        "  from pg_constraint k where k.conrelid = a.attrelid and k.contype = 'f' "
        "  and k.conkey = array[a.attnum] and k.confrelid = to_regclass('auth.users')) "
        "from pg_attribute a "
        "join pg_type t on t.oid = a.atttypid where a.attrelid = to_regclass(%s) and a.attnum > 0 "
        "and not a.attisdropped and a.attnotnull and not a.atthasdef and a.attidentity = '' "
        "and a.attgenerated = '' and a.attname not in ('user_id', 'tenant_id') order by a.attnum",
        (table,),
    )
    required = cur.fetchall()
    columns, values = ["tenant_id"], ["%(tenant)s"]
    if has_column(cur, table, "user_id"):
        columns, values = ["user_id", "tenant_id"], ["%(user)s", "%(tenant)s"]
    for column, type_name, kind, user_key in required:
        # a required key to auth.users (owner_id without a default) holds the probe user
        value = (
            "%(user)s"
            if user_key
            else f"(enum_range(null::{esc(type_name)}))[1]"
            if kind == "e"
            else _PROBE_VALUES.get(type_name)
        )
        if value is None:
            return f"cannot fill required column {column} ({type_name})"
        columns.append(esc('"' + column.replace('"', '""') + '"'))
        values.append(value)
    return f"insert into {esc(table)} ({', '.join(columns)}) values ({', '.join(values)})"


def attempt(
    cur: Cursor, sql: str, params: Params | tuple[Any, ...] = (), *, keep: bool = False
) -> tuple[list[tuple[Any, ...]], str | None]:
    """Run `sql` under a savepoint: (rows, None), or ([], the error). Undone unless `keep`."""
    cur.execute("savepoint supamigrate_step")
    try:
        cur.execute(sql, params or None)
        rows = cur.fetchall() if cur.description else [(cur.rowcount,)]
    except psycopg2.Error as exc:
        cur.execute("rollback to savepoint supamigrate_step")
        return [], describe(exc)
    cur.execute(f"{'release' if keep else 'rollback to'} savepoint supamigrate_step")
    return rows, None


def esc(name: str) -> str:
    """A name from the catalog inside SQL that also carries %s parameters: a % in the name
    must reach the server as itself, not be read as a placeholder."""
    return name.replace("%", "%%")


def _row(user: str, tenant: str) -> Params:
    return {"user": user, "tenant": tenant}


def act(cur: Cursor, role: str, user: str | None) -> None:
    """Become `role` with PostgREST's JWT claims, for the rest of the transaction."""
    cur.execute(f"set local role {role}")
    claims = {"role": role} if user is None else {"sub": user, "role": role}
    cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))


def _as_user(
    cur: Cursor, users: list[str], index: int, tenant_of: dict[str, str], rows: dict[str, list[str]]
) -> list[str]:
    user, other = users[index], users[1 - index]
    act(cur, "authenticated", user)
    problems = []
    if one(cur, f"select count(*) from public.{TENANTS}") != 1:
        problems.append(f"{TENANTS}: a user sees tenants they are not in")
    seen = one(
        cur, f"select count(*) from public.{MEMBERSHIPS} where user_id = any(%s::uuid[])", (users,)
    )
    if seen != 1:
        problems.append(f"{MEMBERSHIPS}: a user sees {seen} of the 2 probe memberships (must be 1)")
    for table, ids in rows.items():
        problems += _table_as_user(cur, table, ids[index], ids, _row(user, tenant_of[other]))
    cur.execute("reset role")
    return problems


def _table_as_user(
    cur: Cursor, table: str, mine: str, ids: list[str], foreign: Params
) -> list[str]:
    """Every command against the other tenant's row: read, insert, move, update, delete."""
    problems = []
    theirs = next(i for i in ids if i != mine)
    user = str(one(cur, "select auth.uid()::text"))
    seen, error = attempt(
        cur, f"select ctid::text from {esc(table)} where ctid = any(%s::tid[])", (ids,)
    )
    if error is None and not seen:
        unread.add(table)  # nothing leaks; said in an info line (isolation_probe)
    elif error is not None or {r[0] for r in seen} != {mine}:
        why = f": {error}" if error else ""
        problems.append(
            f"{table}: a user sees {len(seen)} of the 2 probe rows (must be 1){why}"
            + culprits(cur, table, "select", user, theirs)
        )
    if attempt(cur, probe_insert(cur, table), foreign)[1] is None:
        problems.append(
            f"{table}: a user can insert into another tenant"
            + culprits(cur, table, "insert", user, mine, foreign["tenant"])
        )
    moved, _ = attempt(
        cur,
        f"update {esc(table)} set tenant_id = %s where ctid = %s::tid",
        (foreign["tenant"], mine),
    )
    if moved and moved[0][0]:
        problems.append(
            f"{table}: a user can move a row into another tenant"
            + culprits(cur, table, "update", user, mine, foreign["tenant"])
        )
    for verb, sql in (
        ("update", f"update {esc(table)} set tenant_id = tenant_id where ctid = %s::tid"),
        ("delete", f"delete from {esc(table)} where ctid = %s::tid"),
    ):
        done, _ = attempt(cur, sql, (theirs,))
        if done and done[0][0]:
            problems.append(
                f"{table}: a user can {verb} another tenant's row"
                + culprits(cur, table, verb, user, theirs)
            )
    return problems


_POLICIES = """
select p.polname, pg_get_expr(case when %(check)s then coalesce(p.polwithcheck, p.polqual)
                                   else p.polqual end, p.polrelid)
from pg_policy p
where p.polrelid = to_regclass(%(table)s) and p.polpermissive
  and p.polcmd in (%(cmd)s, '*')
  and (p.polroles = '{0}' or exists (select 1 from unnest(p.polroles) r
                                     where pg_has_role(%(role)s, r, 'member')))
order by 1"""
_CMD = {"select": "r", "insert": "a", "update": "w", "delete": "d"}


def culprits(
    cur: Cursor, table: str, cmd: str, user: str | None, row: str, tenant: str | None = None
) -> str:
    """` (let through by policy "x")`: the permissive policies true for the row as the user.

    The row (with tenant_id set to `tenant` for a write into another tenant) is copied into a
    temporary table the user may read, and each policy's expression is evaluated on it there,
    as the user: on the real table the boundary (if any) would hide it.
    """
    role = str(one(cur, "select current_user"))
    cur.execute("savepoint supamigrate_culprit")
    try:
        cur.execute("reset role")
        cur.execute(
            _POLICIES,
            {
                "check": tenant is not None or cmd == "insert",
                "table": table,
                "cmd": _CMD[cmd],
                "role": role,
            },
        )
        policies = [(name, expr) for name, expr in cur.fetchall() if expr]
        cur.execute(
            f"create temp table supamigrate_probe_row as select * from {esc(table)} "
            "where ctid = %s::tid",
            (row,),
        )
        if tenant is not None:
            cur.execute("update pg_temp.supamigrate_probe_row set tenant_id = %s", (tenant,))
        cur.execute("grant select on pg_temp.supamigrate_probe_row to public")
        act(cur, role, user)
        alias = table.rsplit(".", 1)[-1]
        found = [
            name
            for name, expr in policies
            if attempt(cur, f"select ({esc(expr)}) from pg_temp.supamigrate_probe_row as {alias}")[
                0
            ]
            == [(True,)]
        ]
    except psycopg2.Error:
        found = []
    finally:
        cur.execute("rollback to savepoint supamigrate_culprit")
        cur.execute("release savepoint supamigrate_culprit")
    if not found:
        return ""
    return " (let through by " + ", ".join(f'policy "{n}"' for n in found) + ")"


def _as_anon(cur: Cursor, users: list[str], rows: dict[str, list[str]]) -> list[str]:
    act(cur, "anon", None)
    problems = []
    for table in (f"public.{TENANTS}", f"public.{MEMBERSHIPS}", *rows):
        seen, _ = attempt(cur, f"select ctid::text from {esc(table)} limit 1")
        if seen:
            named = culprits(cur, table, "select", None, str(seen[0][0]))
            problems.append(f"{table}: anon sees rows{named}")
    cur.execute("reset role")
    return problems
