"""Small readers over libpg_query's JSON parse tree (see supamigrate.sql.reading).

In that tree a node stored in a generic field is wrapped as {"TypeName": {fields}}, a node in
a typed field (a RangeVar in `relation`) is bare, and fields at their default (false, 0,
empty) are omitted: hence `.get` with defaults everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

Node = dict[str, Any]
DEFAULT_SCHEMA = "public"  # unqualified names land here under Supabase's search_path


class Table(NamedTuple):
    # a NamedTuple, not a frozen dataclass: a history's lint makes ~80,000 of them, and a
    # tuple is built, hashed and compared in C (a third of the time)
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


def unwrap(wrapped: Node) -> tuple[str, Node]:
    """The type name and fields of a wrapped node."""
    ((kind, fields),) = wrapped.items()
    return kind, fields


def walk(value: Any, *, into_sublinks: bool = True) -> Iterator[tuple[str, Node]]:
    """Every wrapped node under `value`, depth first; optionally not into sub-selects.
    (A stack, not recursion: a parse tree of a large file has a million nodes.)"""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
            continue
        if not isinstance(value, dict):
            continue
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key[:1].isupper() and isinstance(inner, dict):
                yield key, inner
                if key == "SubLink" and not into_sublinks:
                    continue
        stack.extend(reversed(value.values()))


def strings(items: list[Node]) -> list[str]:
    """The values of a list of String nodes (a qualified name, a column list)."""
    return [item["String"]["sval"] for item in items if "String" in item]


_new_table = tuple.__new__  # Table(...) without NamedTuple's __new__ frame: 80,000 a history


def table_of(rangevar: Node) -> Table:
    return _new_table(Table, (rangevar.get("schemaname", DEFAULT_SCHEMA), rangevar["relname"]))


def table_from_names(names: list[str]) -> Table:
    """A table from a qualified name list (DROP TABLE's objects): [schema,] name."""
    return Table(names[-2] if len(names) > 1 else DEFAULT_SCHEMA, names[-1])


def function_name(call: Node) -> str:
    """A FuncCall's name, lower-case and dotted as written: `auth.uid`, `now`."""
    return ".".join(strings(call.get("funcname", []))).lower().removeprefix("pg_catalog.")


def qualified_function(names: list[str]) -> str:
    return ".".join(names if len(names) > 1 else [DEFAULT_SCHEMA, *names]).lower()


def options(node: Node, field: str = "options") -> dict[str, Node]:
    """DefElem options by name (WITH (...), function options)."""
    found = {}
    for item in node.get(field, []):
        element = item["DefElem"]
        found[element.get("defname", "")] = element
    return found


def is_true(value: Node | None) -> bool:
    """A literal TRUE (also 'true', 'on' as option arguments)."""
    if value is None:
        return False
    if "A_Const" in value:
        return value["A_Const"].get("boolval", {}).get("boolval") is True
    if "Boolean" in value:
        return value["Boolean"].get("boolval") is True
    if "String" in value:
        return str(value["String"].get("sval", "")).lower() in {"true", "on", "yes", "1"}
    if "Integer" in value:
        return bool(value["Integer"].get("ival", 0) == 1)
    return False


def type_name(type_node: Node) -> str:
    """A type's last name, lower-case: `int4`, `varchar`, `text`, `serial`."""
    return strings(type_node.get("names", []))[-1].lower()
