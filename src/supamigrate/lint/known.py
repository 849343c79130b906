"""What one lint run has learnt from the statements it read so far, across its files.

Files are linted in order (a history is applied in order), so a statement may rely on what
an earlier file or an earlier statement of its own file did: a column declared NOT NULL, an
index on a foreign key's columns, a NOT NULL check that was validated, a function declared
STABLE. The engine feeds every statement to `learn` after running the rules on it, so a rule
sees exactly what came before. Only facts that make a rule quieter (or say a column is
known to be nullable) are kept: what lint has not seen, it does not claim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from supamigrate.lint.nodes import Node, Table, options, strings, table_of, unwrap
from supamigrate.sql.reading import Statement


class Index(NamedTuple):
    # a NamedTuple: built in C, and pickled compactly to the two-core parent (lint.parallel)
    table: Table
    columns: tuple[str, ...]  # leading key columns by name; an expression ends the list
    partial: bool


Op = tuple[Any, ...]  # one learnt fact, replayable in order (see apply)
Coverage = tuple[dict[tuple[str, ...], list[tuple[str, ...]]], dict[str, tuple[Any, ...]]]


class Asked:
    """A set of facts as a rule asks it: a miss sets its Known's `consulted`. A fact present
    here is present in the sequential run too (these sets only grow), so only a miss can
    differ between one process and two."""

    __slots__ = ("_facts", "_known")

    def __init__(self, facts: set[str], known: Known) -> None:
        self._facts, self._known = facts, known

    def __contains__(self, item: object) -> bool:
        if item in self._facts:
            return True
        self._known.consulted = True
        return False


@dataclass
class Known:
    nullable: dict[Table, set[str]] = field(default_factory=dict)  # declared without NOT NULL
    indexes: dict[str, Index] = field(default_factory=dict)  # by index name
    on_table: dict[Table, list[Index]] = field(default_factory=dict)  # every index, by table
    not_null_checks: dict[tuple[Table, str], str] = field(default_factory=dict)  # -> column
    validated_not_null: set[tuple[Table, str]] = field(default_factory=set)
    validated_elsewhere: set[Table] = field(default_factory=set)  # VALIDATE of an unseen ADD
    stable_functions: set[str] = field(default_factory=set)  # user functions not VOLATILE
    checked_domains: set[str] = field(default_factory=set)  # domains with constraints
    # a new foreign key column's finding message -> (table, columns), settled at the run's end
    foreign_keys: dict[str, tuple[Table, tuple[str, ...]]] = field(default_factory=dict)
    lock_timeout_off: bool = False  # the runner's configured lock_timeout is 0
    # full indexes' leading columns by table, from the two-core worker's files (lint.parallel):
    # for the foreign key check at the run's end, when no later rule needs the full facts
    borrowed: dict[tuple[str, ...], list[tuple[str, ...]]] = field(default_factory=dict)
    log: list[Op] | None = None  # when a list, every fact learnt is also appended to it
    consulted: bool = False  # a rule's answer depended on facts from earlier statements

    def stable(self) -> Asked:
        """The user functions known not VOLATILE, for rules: a name not found marks the
        answer as consulting facts (lint.parallel: they may be in a part not read here)."""
        return Asked(self.stable_functions, self)

    def validated(self, table: Table, column: str) -> bool:
        """Whether a CHECK (column IS NOT NULL) on `table` was validated earlier; a no
        consults the facts, as above."""
        if (table, column) in self.validated_not_null:
            return True
        self.consulted = True
        return False

    def covers(self, table: Table, columns: tuple[str, ...]) -> bool:
        """Some full (not partial) index on `table` starts with exactly these columns."""
        width, wanted = len(columns), set(columns)
        for index in self.on_table.get(table, []):
            if not index.partial and set(index.columns[:width]) == wanted:
                return True
        return any(set(full[:width]) == wanted for full in self.borrowed.get(table, ()))

    def coverage(self) -> Coverage:
        """What the foreign key check needs of these facts, as plain tuples (pickled in C)."""
        indexes = {
            tuple(table): [index.columns for index in listed if not index.partial]
            for table, listed in self.on_table.items()
        }
        keys = {
            message: (tuple(table), columns)
            for message, (table, columns) in self.foreign_keys.items()
        }
        return indexes, keys

    def borrow(self, coverage: Coverage) -> None:
        """Take another Known's coverage (a later part of the run) for the foreign key check."""
        indexes, keys = coverage
        for table, listed in indexes.items():
            self.borrowed.setdefault(table, []).extend(listed)
        self.foreign_keys.update(keys)  # plain tuples: a Table equals and hashes as its tuple

    def is_nullable(self, table: Table, column: str) -> bool:
        return column in self.nullable.get(table, set())

    def apply(self, op: Op) -> None:
        """Learn one fact. Facts that depend on earlier ones (a VALIDATE of a check, a
        PRIMARY KEY USING an index) are resolved here, so replaying a log in order on
        another Known gives what learning the statements there would have."""
        if self.log is not None:
            self.log.append(op)
        what, *args = op
        if what == "table":
            table, nullable, indexes = args
            self.nullable[table] = set(nullable)
            for index in indexes:
                self.on_table.setdefault(table, []).append(index)
        elif what == "index":
            name, index = args
            if name:
                self.indexes[name] = index
            self.on_table.setdefault(index.table, []).append(index)
        elif what == "not_null":
            table, column, nullable = args
            if nullable:
                self.nullable.setdefault(table, set()).add(column)
            else:
                self.nullable.get(table, set()).discard(column)
        elif what == "check":
            table, name, column, validated = args
            if validated:
                self.validated_not_null.add((table, column))
            else:
                self.not_null_checks[(table, name)] = column
        elif what == "primary_key":
            table, index_name, keys = args
            index = self.indexes.get(index_name)
            columns = index.columns if index_name and index else keys
            self.nullable.get(table, set()).difference_update(columns)
        elif what == "validate":
            table, name = args
            column = self.not_null_checks.get((table, name))
            if column:
                self.validated_not_null.add((table, column))
            else:
                self.validated_elsewhere.add(table)
        elif what == "stable":
            self.stable_functions.update(args)
        elif what == "domain":
            self.checked_domains.add(args[0])
        elif what == "foreign_key":
            message, site = args
            self.foreign_keys[message] = site


# Ops sent between processes (lint.parallel) go as plain tuples: pickle makes and reads a
# NamedTuple through Python code (~1 us each way: 25 ms for half a long history), a tuple in C.
_WITH_TABLE = frozenset({"not_null", "check", "primary_key", "validate"})
_new = tuple.__new__


def plain_ops(ops: list[Op]) -> list[Op]:
    """`ops` with every Table and Index a plain tuple; `typed_ops` turns them back."""
    return _each_table(ops, tuple, _plain_index)


def typed_ops(ops: list[Op]) -> list[Op]:
    return _each_table(ops, _typed_table, _typed_index)


def _each_table(
    ops: list[Op], table_as: Callable[[Any], Any], index_as: Callable[[Any], Any]
) -> list[Op]:
    """`ops` with each Table made `table_as(...)` and each Index `index_as(...)`."""
    result: list[Op] = []
    for op in ops:
        what = op[0]
        if what == "table":
            _, table, nullable, indexes = op
            op = (what, table_as(table), nullable, tuple(index_as(i) for i in indexes))
        elif what == "index":
            op = (what, op[1], index_as(op[2]))
        elif what == "foreign_key":
            table, columns = op[2]
            op = (what, op[1], (table_as(table), columns))
        elif what in _WITH_TABLE:
            op = (what, table_as(op[1]), *op[2:])
        result.append(op)
    return result


def _typed_table(table: tuple[str, ...]) -> Table:
    return _new(Table, table)


def _plain_index(index: Index) -> tuple[Any, ...]:
    return (tuple(index.table), index.columns, index.partial)


def _typed_index(index: tuple[Any, ...]) -> Index:
    return _new(Index, (_typed_table(index[0]), index[1], index[2]))


# The statement kinds `learn` takes a fact from (the engine skips the call for the others).
LEARNT_KINDS = frozenset(
    {
        "CreateStmt", "IndexStmt", "AlterTableStmt", "CreateDomainStmt", "AlterDomainStmt",
        "CreateFunctionStmt",
    }
)  # fmt: skip


def learn(known: Known, statement: Statement) -> None:
    kind, node = statement.kind, statement.node
    if kind == "CreateStmt":
        _learn_table(known, table_of(node["relation"]), node)
    elif kind == "IndexStmt":
        columns = tuple(index_columns(node.get("indexParams", [])))
        index = Index(table_of(node["relation"]), columns, "whereClause" in node)
        known.apply(("index", node.get("idxname", ""), index))
    elif kind == "AlterTableStmt":
        table = table_of(node["relation"])
        for item in node.get("cmds", []):
            _learn_alter(known, table, unwrap(item)[1])
    elif kind == "CreateDomainStmt" and node.get("constraints"):
        known.apply(("domain", strings(node.get("domainname", []))[-1].lower()))
    elif kind == "AlterDomainStmt" and node.get("subtype") == "C":
        known.apply(("domain", strings(node.get("typeName", []))[-1].lower()))
    elif kind == "CreateFunctionStmt":
        volatility = options(node).get("volatility", {}).get("arg", {})
        if volatility.get("String", {}).get("sval") in {"immutable", "stable"}:
            names = strings(node.get("funcname", []))
            known.apply(("stable", ".".join(names).lower(), names[-1].lower()))


_NOT_NULLABLE = frozenset({"CONSTR_NOTNULL", "CONSTR_PRIMARY", "CONSTR_IDENTITY"})
_INDEXED = frozenset({"CONSTR_PRIMARY", "CONSTR_UNIQUE"})


def _learn_table(known: Known, table: Table, node: Node) -> None:
    nullable: set[str] = set()
    indexes: list[Index] = []
    for item in node.get("tableElts", []):
        element = item.get("ColumnDef")
        if element is not None:
            name = element.get("colname", "")
            not_null = indexed = False
            for wrapped in element.get("constraints", ()):
                for constraint in wrapped.values():  # each a wrapped node: its one value
                    contype = constraint.get("contype")
                    not_null = not_null or contype in _NOT_NULLABLE
                    indexed = indexed or contype in _INDEXED
            if not not_null:
                nullable.add(name)
            if indexed:
                indexes.append(Index(table, (name,), False))
            continue
        element = item.get("Constraint")
        if element is not None and element.get("contype") in _INDEXED:
            columns = tuple(strings(element.get("keys", [])))
            indexes.append(Index(table, columns, False))
            if element.get("contype") == "CONSTR_PRIMARY":
                nullable.difference_update(columns)
    known.apply(("table", table, tuple(sorted(nullable)), tuple(indexes)))


def _learn_alter(known: Known, table: Table, cmd: Node) -> None:
    subtype = cmd.get("subtype")
    if subtype in {"AT_SetNotNull", "AT_DropNotNull"}:
        known.apply(("not_null", table, cmd.get("name", ""), subtype == "AT_DropNotNull"))
    elif subtype == "AT_AddColumn":
        column = unwrap(cmd["def"])[1]
        kinds = {unwrap(c)[1].get("contype") for c in column.get("constraints", [])}
        if not kinds & {"CONSTR_NOTNULL", "CONSTR_PRIMARY", "CONSTR_IDENTITY"}:
            known.apply(("not_null", table, column.get("colname", ""), True))
    elif subtype == "AT_AddConstraint":
        constraint = cmd["def"].get("Constraint", {})
        checked = not_null_check_column(constraint)
        if checked:
            validated = not constraint.get("skip_validation")
            known.apply(("check", table, constraint.get("conname", ""), checked, validated))
        if constraint.get("contype") == "CONSTR_PRIMARY":
            keys = tuple(strings(constraint.get("keys", [])))
            known.apply(("primary_key", table, constraint.get("indexname", ""), keys))
    elif subtype == "AT_ValidateConstraint":
        known.apply(("validate", table, cmd.get("name", "")))


def not_null_check_column(constraint: Node) -> str | None:
    """The column of a `CHECK (col IS NOT NULL)` constraint, else None."""
    if constraint.get("contype") != "CONSTR_CHECK":
        return None
    test = constraint.get("raw_expr", {}).get("NullTest", {})
    names = strings(test.get("arg", {}).get("ColumnRef", {}).get("fields", []))
    if test.get("nulltesttype") == "IS_NOT_NULL" and len(names) == 1:
        return names[0]
    return None


def index_columns(params: list[Node]) -> list[str]:
    columns = []
    for item in params:
        name = unwrap(item)[1].get("name")
        if not name:
            break  # an expression: later columns cannot serve a plain key lookup alone
        columns.append(str(name))
    return columns
