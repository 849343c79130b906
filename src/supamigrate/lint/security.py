"""Supabase security rules, named after splinter's lints where one exists.

PostgREST serves the exposed schemas (public, graphql_public) to anyone holding the anon key,
so in those schemas a table needs RLS, a view must not run as its owner, and a SECURITY
DEFINER function must not be callable by anon. Supabase's default privileges grant EXECUTE on
new functions in public to anon and authenticated explicitly, so revoking from PUBLIC alone
is not enough.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from supamigrate.lint.findings import Hit
from supamigrate.lint.migration import EXPOSED_SCHEMAS, Migration
from supamigrate.lint.nodes import (
    Node,
    is_true,
    options,
    qualified_function,
    strings,
    table_of,
    type_name,
    walk,
)
from supamigrate.sql.reading import Statement

PER_ROW_CALLS = frozenset({"auth.uid", "auth.jwt", "auth.role", "auth.email", "current_setting"})
USER_METADATA = frozenset({"user_metadata", "raw_user_meta_data"})
WRITE_COMMANDS = frozenset({"insert", "update", "delete", "all"})
NOT_CALLABLE_RETURNS = frozenset({"trigger", "event_trigger"})  # PostgREST cannot call these


def check_tables(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind == "CreateStmt" or (
        statement.kind == "CreateTableAsStmt" and node.get("objtype") == "OBJECT_TABLE"
    ):
        relation = node["relation"] if statement.kind == "CreateStmt" else node["into"]["rel"]
        table = table_of(relation)
        exposed = table.schema in EXPOSED_SCHEMAS and relation.get("relpersistence") != "t"
        if exposed and table not in migration.rls_enabled:
            yield Hit(
                "rls_disabled_in_public",
                statement.line,
                f"{table} is created without ENABLE ROW LEVEL SECURITY in this migration",
            )
    elif statement.kind == "AlterTableStmt":
        table = table_of(node["relation"])
        disables = any(
            c.get("subtype") == "AT_DisableRowSecurity"
            for item in node.get("cmds", ())
            for c in item.values()  # each an AlterTableCmd, wrapped
        )
        if disables and table.schema in EXPOSED_SCHEMAS:
            yield Hit("rls_disabled_in_public", statement.line, f"RLS disabled on {table}")


def check_policies(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    if statement.kind not in {"CreatePolicyStmt", "AlterPolicyStmt"}:
        return
    node, line = statement.node, statement.line
    expressions = [node[field] for field in ("qual", "with_check") if field in node]
    text = statement.text.lower()  # most policies call none of these: skip the tree walks
    if _may_call_per_row(text):
        yield from _per_row(expressions, line, node)
    if "meta" in text and _reads_user_metadata(expressions):
        yield Hit("rls_references_user_metadata", line, f"policy {_name(node)} reads user_metadata")
    command = node.get("cmd_name", "all")
    writes = node.get("permissive", True) and command in WRITE_COMMANDS
    if writes and any(is_true(expression) for expression in expressions):
        yield Hit(
            "rls_policy_always_true", line, f"policy {_name(node)} for {command} is always true"
        )


def _name(node: Node) -> str:
    return f'"{node.get("policy_name")}" on {table_of(node["table"])}'


# A per-row call as written: `auth.uid`, `"auth"."uid"`, `auth . jwt`, `current_setting`.
_PER_ROW_TEXT = re.compile(r'auth"?\s*\.|current_setting')
_SUB_SELECT = "(select "


def _may_call_per_row(text: str) -> bool:
    """Whether the policy's lowered text may call a per-row function outside a sub-select:
    some spelling of one is there, and not every one opens `(select `, which in a policy
    expression starts a sub-select (a SubLink: the walk would skip it). A spelling inside a
    string or comment only makes the walk run, which then finds no call there. A Unicode
    escape (`U&"au\\0074h"`) can spell any name, and a comment can stand between `auth`
    and `.uid`: then the walk decides."""
    if "u&" in text:
        return True
    if "/*" in text or "--" in text:
        return "auth" in text or "current_setting" in text
    for found in _PER_ROW_TEXT.finditer(text):
        if text[max(0, found.start() - len(_SUB_SELECT)) : found.start()] != _SUB_SELECT:
            return True
    return False


def _per_row(expressions: list[Node], line: int, node: Node) -> Iterator[Hit]:
    per_row = sorted(
        {called for called in _calls_outside_sublinks(expressions) if called in PER_ROW_CALLS}
    )
    if per_row:
        calls = ", ".join(f"{call}()" for call in per_row)
        yield Hit("auth_rls_initplan", line, f"policy {_name(node)} calls {calls} for every row")


def _calls_outside_sublinks(value: object) -> set[str]:
    """The functions called in `value`, not counting those inside a sub-select: what
    walk(value, into_sublinks=False) finds as FuncCall, without a generator step per node
    (every policy calls auth.uid(); this runs on each). A capitalised key is always a node's
    type in libpg_query's tree (fields start lower-case), so a SubLink key is a sub-select."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if key == "SubLink":
                    continue
                if key == "FuncCall":
                    found.add(called_name(inner))
                if isinstance(inner, (dict, list)):
                    stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def called_name(call: Node) -> str:
    """A FuncCall's name as Postgres resolves it: unquoted parts are folded already by the
    parser, so `"AUTH".uid()` (another schema) is not `auth.uid()`; `pg_catalog.` dropped."""
    return ".".join(strings(call.get("funcname", []))).removeprefix("pg_catalog.")


def _reads_user_metadata(expressions: list[Node]) -> bool:
    for kind, node in walk(expressions):
        if kind == "A_Const" and node.get("sval", {}).get("sval") in USER_METADATA:
            return True
        if kind == "ColumnRef" and set(strings(node.get("fields", []))) & USER_METADATA:
            return True
    return False


def check_views(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind == "ViewStmt":
        view, materialized = table_of(node["view"]), False
    elif statement.kind == "CreateTableAsStmt" and node.get("objtype") == "OBJECT_MATVIEW":
        view, materialized = table_of(node["into"]["rel"]), True
    else:
        return
    if view.schema not in EXPOSED_SCHEMAS:
        return
    if materialized:
        yield Hit("materialized_view_in_api", statement.line, f"materialized view {view}")
    elif not is_true(options(node).get("security_invoker", {}).get("arg")):
        yield Hit(
            "security_definer_view",
            statement.line,
            f"view {view} runs as its owner (no security_invoker = true)",
        )
    for kind, relation in walk(node["query"]):
        if kind == "RangeVar" and (relation.get("schemaname"), relation["relname"]) == (
            "auth",
            "users",
        ):
            yield Hit("auth_users_exposed", statement.line, f"view {view} reads auth.users")
            break


def check_functions(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    node = statement.node
    if statement.kind != "CreateFunctionStmt":
        return
    name = qualified_function(strings(node["funcname"]))
    definer = is_true(options(node).get("security", {}).get("arg"))
    if not _sets_search_path(node):
        rule = "security_definer_search_path_mutable" if definer else "function_search_path_mutable"
        yield Hit(rule, statement.line, f"{name}() has no SET search_path")
    if definer and _callable_by_anon(node, name, migration):
        yield Hit(
            "anon_security_definer_function_executable",
            statement.line,
            f"SECURITY DEFINER {name}() is in an API schema and EXECUTE is not revoked "
            "from public and anon in this migration",
        )


def _sets_search_path(node: Node) -> bool:
    for item in node.get("options", []):
        element = item["DefElem"]
        setting = element.get("arg", {}).get("VariableSetStmt", {})
        if element.get("defname") == "set" and setting.get("name") == "search_path":
            return bool(setting.get("kind") == "VAR_SET_VALUE")
    return False


def _callable_by_anon(node: Node, name: str, migration: Migration) -> bool:
    if node.get("is_procedure") or name.split(".", 1)[0] not in EXPOSED_SCHEMAS:
        return False
    returns = node.get("returnType")
    if returns and type_name(returns) in NOT_CALLABLE_RETURNS:
        return False
    return not migration.revoked_from(name, {"public", "anon"})


CHECKS = [check_tables, check_policies, check_views, check_functions]
