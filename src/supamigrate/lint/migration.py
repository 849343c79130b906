"""Facts about one migration file that rules need beyond the statement at hand.

A table created earlier in the same file is new and empty, so locks and rewrites on it are
harmless; any other table is assumed to hold data. Some answers need the whole file (is RLS
enabled later on? is EXECUTE revoked from anon later on?), so we collect them once up front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supamigrate.lint.known import Known
from supamigrate.lint.nodes import Node, Table, qualified_function, strings, table_of, unwrap
from supamigrate.sql.reading import Reading, Statement

EXPOSED_SCHEMAS = frozenset({"public", "graphql_public"})  # what PostgREST serves by default


@dataclass(frozen=True)
class Migration:
    statements: tuple[Statement, ...]
    no_transaction: bool
    created: dict[Table, int]  # table -> index of the statement creating it
    created_indexes: frozenset[str]
    rls_enabled: frozenset[Table]
    revoked: dict[str, frozenset[str]]  # function -> roles EXECUTE was revoked from
    revoked_all_in: dict[str, frozenset[str]]  # schema -> roles (ON ALL FUNCTIONS IN SCHEMA)
    not_valid_constraints: dict[Table, dict[str, int]]  # constraint name -> index added NOT VALID
    created_types: frozenset[str] = frozenset()  # enum/domain/type names created in this file
    known: Known = field(default_factory=Known)  # what earlier statements and files established
    memo: dict[str, Any] = field(default_factory=dict, compare=False)  # per-file answers, once

    def is_new(self, table: Table, index: int) -> bool:
        """Created earlier in this file, so it is empty and nobody else holds it yet."""
        created_at = self.created.get(table)
        return created_at is not None and created_at < index

    def revoked_from(self, function: str, roles: set[str]) -> bool:
        schema = function.split(".", 1)[0]
        done = self.revoked.get(function, frozenset()) | self.revoked_all_in.get(
            schema, frozenset()
        )
        return roles <= done


def read_migration(reading: Reading, known: Known | None = None) -> Migration:
    created: dict[Table, int] = {}
    indexes: set[str] = set()
    rls: set[Table] = set()
    revoked: dict[str, set[str]] = {}
    revoked_all: dict[str, set[str]] = {}
    not_valid: dict[Table, dict[str, int]] = {}
    types: set[str] = set()
    for index, statement in enumerate(reading.statements):
        kind, node = statement.kind, statement.node
        if kind in {"CreateStmt", "CreateTableAsStmt"}:
            relation = node["relation"] if kind == "CreateStmt" else node["into"]["rel"]
            table = table_of(relation)
            if not (node.get("if_not_exists") and _made_before(table, known)):
                created.setdefault(table, index)
        elif kind == "IndexStmt" and node.get("idxname"):
            indexes.add(node["idxname"])
        elif kind == "AlterTableStmt":
            table = table_of(node["relation"])
            for cmd in commands(node):
                if cmd.get("subtype") == "AT_EnableRowSecurity":
                    rls.add(table)
                name = _not_valid_check(cmd)
                if name:
                    not_valid.setdefault(table, {})[name] = index
        elif kind in {"CreateEnumStmt", "CreateDomainStmt", "CompositeTypeStmt"}:
            if kind == "CompositeTypeStmt":
                types.add(node["typevar"]["relname"])
            else:
                field_name = "typeName" if kind == "CreateEnumStmt" else "domainname"
                types.update(strings(node.get(field_name, []))[-1:])
        elif kind == "GrantStmt" and not node.get("is_grant"):
            _collect_revoke(node, revoked, revoked_all)
    return Migration(
        reading.statements,
        reading.no_transaction,
        created,
        frozenset(indexes),
        frozenset(rls),
        {name: frozenset(roles) for name, roles in revoked.items()},
        {name: frozenset(roles) for name, roles in revoked_all.items()},
        not_valid,
        frozenset(types),
        known if known is not None else Known(),
    )


def commands(alter: Node) -> list[Node]:
    """The AlterTableCmd fields of an ALTER TABLE."""
    return [unwrap(item)[1] for item in alter.get("cmds", [])]


def _made_before(table: Table, known: Known | None) -> bool:
    """An earlier file made `table`: CREATE TABLE IF NOT EXISTS leaves it as it is, rows and
    readers included, so it is not new. Not known may only mean not seen (a parallel worker
    knows no earlier half): that answer consulted the facts."""
    if known is None:
        return False
    if table in known.nullable:
        return True
    known.consulted = True
    return False


def _not_valid_check(cmd: Node) -> str | None:
    """The name of a CHECK or FOREIGN KEY added NOT VALID by this command."""
    if cmd.get("subtype") != "AT_AddConstraint":
        return None
    constraint = cmd["def"].get("Constraint", {})
    if constraint.get("skip_validation"):
        return str(constraint.get("conname", ""))
    return None


def _collect_revoke(
    node: Node, revoked: dict[str, set[str]], revoked_all: dict[str, set[str]]
) -> None:
    if node.get("objtype") not in {"OBJECT_FUNCTION", "OBJECT_ROUTINE", "OBJECT_PROCEDURE"}:
        return
    roles = {grantee_name(item) for item in node.get("grantees", [])}
    if node.get("targtype") == "ACL_TARGET_ALL_IN_SCHEMA":
        for schema in strings(node.get("objects", [])):
            revoked_all.setdefault(schema, set()).update(roles)
        return
    for item in node.get("objects", []):
        name = qualified_function(strings(item["ObjectWithArgs"].get("objname", [])))
        revoked.setdefault(name, set()).update(roles)


def grantee_name(item: Node) -> str:
    role = item["RoleSpec"]
    if role.get("roletype") == "ROLESPEC_PUBLIC":
        return "public"
    return str(role.get("rolename", role.get("roletype", ""))).lower()
