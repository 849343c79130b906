"""Every text the runner writes into SQL comes back from the real server as it was, also
after the SQL was printed line by line and pasted (--method manual)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supamigrate.history.table import quote_literal

TEXTS = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
) | st.lists(
    st.sampled_from(
        ["\r\n", "\r", "\n", "\\", "'", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "x", "é"]
    ),
    max_size=12,
).map("".join)


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=TEXTS)
def test_a_literal_survives_the_server_and_a_paste(cur: Any, value: str) -> None:
    sql = quote_literal(value)
    pasted = "\n".join(sql.splitlines())
    cur.execute(f"select {sql}, {pasted}")
    assert cur.fetchone() == (value, value)
