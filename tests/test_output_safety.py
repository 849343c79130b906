"""Properties of two pure pieces of the report: the terminal choke point and what stays."""

from __future__ import annotations

import os
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supamigrate.executors.stayed import what_stayed
from supamigrate.output import CONTINUED, shown

LONG = bool(os.environ.get("SUPAMIGRATE_LONG"))
RAW = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


@settings(max_examples=2000 if LONG else 300, derandomize=not LONG)
@given(indent=st.sampled_from(["", "  ", "    "]), text=st.text())
def test_nothing_printed_moves_the_cursor_or_starts_a_line_of_its_own(
    indent: str, text: str
) -> None:
    """Any text, shown: no raw control character, and every line after the first is marked
    as a continuation of the first (so a notice can never print a line like `[2/4] ... ok`)."""
    first, *rest = shown(indent + text).split("\n")
    assert RAW.search(first) is None
    for line in rest:
        assert line.startswith(indent + CONTINUED) and RAW.search(line) is None


STEP = st.sampled_from(
    [
        *("create", "begin", "commit", "rollback", "savepoint a", "rollback to a"),
        *("savepoint b", "rollback to b", "release a", "create", "create"),
    ]
)


@settings(
    max_examples=300 if LONG else 40,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, max_size=12))
def test_what_stayed_is_what_the_server_kept(conn: Any, steps: list[str]) -> None:
    """Statements run one by one (autocommit), with the file's own blocks, then any block left
    open rolled back as the runner does: the tables that exist are exactly those what_stayed
    lists."""
    texts, created = [], []
    with conn.cursor() as cur:
        for step in steps:
            text = step
            if step == "create":
                text = f"create table s_{len(created)} (id int)"
                created.append(f"s_{len(created)}")
            try:
                cur.execute(text)
            except Exception:  # e.g. ROLLBACK TO an unknown savepoint: the file failed there
                break
            texts.append(text)
        cur.execute("rollback")  # the runner ends a block the file left open
        cur.execute("select tablename from pg_tables where tablename like 's\\_%'")
        kept = {t for (t,) in cur.fetchall()}
        for table in created:
            cur.execute(f"drop table if exists {table}")
    predicted = {t.split()[2] for t in what_stayed(texts) if t.startswith("create")}
    assert predicted == kept, (texts, kept)
