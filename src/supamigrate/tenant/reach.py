"""What a function can reach when it runs: the app's functions as a call graph, read once.

A SECURITY DEFINER function runs everything it calls as its owner, invoker functions
included, so the question "does it read a tenant table past RLS" is about the whole graph
below it, not its own body. A body is text to Postgres (only BEGIN ATOMIC SQL bodies record
their dependencies), so calls and tables are matched by name; dynamic SQL (plpgsql EXECUTE,
dblink, query_to_xml and the like, another procedural language) can reach any table, and is
reported as such: verify cannot read it, so it cannot say the boundary holds.

Supabase's own schemas and extensions' members are not in the graph: they are Supabase's to
vouch for and call none of the app's tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from psycopg2.extensions import cursor as Cursor

from supamigrate.advise.catalog import MANAGED

_FUNCTIONS = """
select p.oid::bigint, n.nspname, p.proname,
       format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       pg_get_userbyid(p.proowner), l.lanname, p.prosecdef,
       p.prorettype in ('trigger'::regtype, 'event_trigger'::regtype), coalesce(p.prosrc, ''),
       exists (select 1 from pg_roles r where r.rolname in ('anon', 'authenticated')
               and has_function_privilege(r.oid, p.oid, 'execute')),
       array(select d.refobjid::bigint from pg_depend d where d.objid = p.oid
             and d.classid = 'pg_proc'::regclass and d.refclassid = 'pg_class'::regclass),
       array(select d.refobjid::bigint from pg_depend d where d.objid = p.oid
             and d.classid = 'pg_proc'::regclass and d.refclassid = 'pg_proc'::regclass)
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
join pg_language l on l.oid = p.prolang
join pg_roles o on o.oid = p.proowner
-- Supabase's own functions by who made them, not where: the app's migrations (as postgres,
-- which may create in storage) can put a definer function in Supabase's schemas too.
where p.prokind in ('f', 'p')
  and (n.nspname <> all(%(managed)s) or not (o.rolsuper or o.rolname ~ '^supabase_'))
  and n.nspname !~ '^pg_'
  and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')"""

# Calls that run a query given as text, whatever the language.
_DYNAMIC_CALLS = re.compile(
    r"\b(dblink\w*|query_to_xml\w*|cursor_to_xml\w*|table_to_xml\w*|schema_to_xml\w*"
    r"|database_to_xml\w*|query_to_json\w*)\s*\(",
    re.IGNORECASE,
)
# A name followed by "(": a call (or a column list: a false edge at worst, never a lost one).
_CALLED = re.compile(r'([A-Za-z_][\w$]*)"?\s*\(')
_EXECUTE = re.compile(r"\bexecute\b", re.IGNORECASE)
# Languages whose bodies verify reads; any other (plv8, plpython, ...) can run any SQL.
_READABLE = {"sql", "plpgsql", "internal", "c"}
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


@dataclass
class Function:
    oid: int
    name: str
    signature: str
    owner: str
    definer: bool
    trigger: bool
    api: bool
    body: str
    dynamic: str  # why it runs SQL verify cannot read ("" if it does not)
    tables: set[int] = field(default_factory=set)
    calls: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Reach:
    """What running a function touches: table names, and dynamic SQL (with where it is)."""

    tables: dict[str, str]  # table -> the function whose body names it
    dynamic: dict[str, str]  # function -> why its SQL cannot be read


def _dynamic(language: str, body: str) -> str:
    if language not in _READABLE:
        return f"is written in {language}, which can run any SQL"
    called = _DYNAMIC_CALLS.search(body)
    if called:
        return f"runs SQL built at run time ({called.group(1).lower()})"
    if language == "plpgsql" and _EXECUTE.search(body):
        return "runs SQL built at run time (execute)"
    return ""


def functions(cur: Cursor) -> dict[int, Function]:
    """Every function of the app's (not Supabase's, not an extension's), with its calls."""
    cur.execute(_FUNCTIONS, {"managed": list(MANAGED)})
    found: dict[int, Function] = {}
    names: dict[str, set[int]] = {}
    for (
        oid,
        _schema,
        name,
        signature,
        owner,
        language,
        definer,
        trigger,
        src,
        api,
        rels,
        procs,
    ) in cur.fetchall():
        body = _COMMENTS.sub(" ", src) if language in ("sql", "plpgsql") else src
        function = Function(
            int(oid), name, signature, owner, definer, trigger, api, body, _dynamic(language, body)
        )
        function.tables = {int(r) for r in rels}
        function.calls = {int(p) for p in procs}
        found[function.oid] = function
        names.setdefault(name.lower(), set()).add(function.oid)
    for function in found.values():
        for called in _CALLED.findall(function.body):
            function.calls |= names.get(called.lower(), set()) - {function.oid}
    return found


def reach(graph: dict[int, Function], start: int, tables: dict[int, tuple[str, str]]) -> Reach:
    """The tables among `tables` (oid -> (name, bare name)) that running `start` can touch,
    and where it runs dynamic SQL: its body and every function it calls, transitively."""
    seen, todo = {start}, [start]
    touched: dict[str, str] = {}
    dynamic: dict[str, str] = {}
    patterns = {
        oid: re.compile(rf"(?<![\w$]){re.escape(bare)}(?![\w$])", re.IGNORECASE)
        for oid, (_, bare) in tables.items()
    }
    while todo:
        function = graph[todo.pop()]
        if function.dynamic:
            dynamic.setdefault(function.signature, function.dynamic)
        for oid, (name, _) in tables.items():
            if oid in function.tables or patterns[oid].search(function.body):
                touched.setdefault(name, function.signature)
        for callee in function.calls:
            if callee in graph and callee not in seen:
                seen.add(callee)
                todo.append(callee)
    return Reach(touched, dynamic)


def through(found: dict[str, str], start: str) -> str:
    """`public.files` or `public.files (through private.all_files())` for each touched table."""
    return ", ".join(
        name if where == start else f"{name} (through {where})" for name, where in found.items()
    )
