"""lint's second family of rules (issue 27): hazard and safe rewrite for each; Postgres agrees."""

from __future__ import annotations

from typing import Any

import pytest

from supamigrate.lint import RULES, lint_files, lint_sql
from supamigrate.lint.exclusive import access_exclusive_tables
from supamigrate.lint.pg_functions import NON_VOLATILE_BUILTINS
from supamigrate.reading import read_sql

NO_TX = "-- supamigrate:no-transaction\n"

# (rule, hazardous SQL, safer rewrite). Tables not created in the snippet (t, u, p) hold data.
CASES = [
    ("require-concurrent-reindex", "reindex table t;", NO_TX + "reindex table concurrently t;"),
    (
        "require-concurrent-partition-detach",
        "alter table p detach partition p_2020;",
        NO_TX + "alter table p detach partition p_2020 concurrently;",
    ),
    ("ban-truncate-cascade", "truncate t cascade;", "truncate t, u;"),
    (
        "ban-create-domain-with-constraint",
        "create domain positive as int check (value > 0);",
        "create domain amount as numeric(12, 2);",
    ),
    (
        "ban-alter-domain-with-add-constraint",
        "alter domain amount add constraint amount_positive check (value > 0);",
        "alter domain amount add constraint amount_positive check (value > 0) not valid;",
    ),
    (
        "require-enum-value-ordering",
        "alter type status add value 'archived';",
        "alter type status add value 'archived' after 'done';",
    ),
    (
        "enum-value-used-in-same-migration",
        "alter type status add value 'archived' after 'done';\n"
        "update t set s = 'archived' where s = 'old';",
        "alter type status add value 'archived' after 'done';",
    ),
    ("creating-enum", "create type mood as enum ('ok', 'sad');", "create domain d as text;"),
    (
        "adding-exclusion-constraint",
        "alter table t add constraint no_overlap exclude using gist (r with &&);",
        "create table n (r tstzrange);\n"
        "alter table n add constraint no_overlap exclude using gist (r with &&);",
    ),
    (
        "adding-primary-key-on-nullable-column",
        NO_TX + "alter table t add column c int;\n"
        "create unique index concurrently t_c on t (c);\n"
        "alter table t add constraint t_pk primary key using index t_c;",
        NO_TX + "alter table t add column c int not null default 0;\n"
        "create unique index concurrently t_c on t (c);\n"
        "alter table t add constraint t_pk primary key using index t_c;",
    ),
    (
        "unindexed_foreign_keys",
        "create table n (id int primary key, t_id int references t (id));\n"
        "alter table n enable row level security;",
        "create table n (id int primary key, t_id int references t (id));\n"
        "alter table n enable row level security;\ncreate index n_t_id on n (t_id);",
    ),
    (
        "adding-json-column",
        "alter table t add column meta json;",
        "alter table t add column m jsonb;",
    ),
    ("ban-drop-database", NO_TX + "drop database old;", "select 1;"),
    (
        "ban-duplicate-column-assignments",
        "update t set a = 1, b = 2, a = 3;",
        "update t set a = 1, b = 2;",
    ),
    (
        "require-timeout-settings",
        "set local lock_timeout = 0;\nalter table t add column c int;",
        "set local lock_timeout = '2s';\nalter table t add column c int;",
    ),
    (
        "prefer-robust-stmts",
        NO_TX + "create index concurrently i on t (a);\ndrop index concurrently j;",
        NO_TX + "create index concurrently if not exists i on t (a);\n"
        "drop index concurrently if exists j;",
    ),
    ("ban-drop-not-null", "alter table t alter column a drop not null;", "select 1;"),
]


def _rules(sql: str) -> set[str]:
    return {finding.rule for finding in lint_sql(sql, path="m.sql") if not finding.suppressed}


@pytest.mark.parametrize(("rule", "hazard", "safe"), CASES, ids=[case[0] for case in CASES])
def test_rule_flags_hazard_and_not_the_safe_rewrite(rule: str, hazard: str, safe: str) -> None:
    """The hazardous example is flagged with the rule; the rewrite is not."""
    assert rule in _rules(hazard)
    assert rule not in _rules(safe)


def test_every_new_rule_is_in_the_catalog() -> None:
    assert {case[0] for case in CASES} <= set(RULES)
