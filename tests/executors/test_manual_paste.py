"""`--method manual` prints blocks a person pastes: what the terminal shows must be what runs.
The terminal output escapes ESC, BEL, C1 and bidi controls visibly (`\\e`, `\\x07`), so a
file holding one used to be pasted as other text, with no word about it, and its history row
recorded the escape's spelling instead of the file's text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.project import Project, paste_into_psql
from supamigrate.connect.db import session

_PIECES = st.sampled_from(
    ["x", "é", "\t", " ", "\x1b[31m", "\x07", "\x9b", "\u202e", "\u2066", "\x7f", "\x01", "\r"]
)
NOTE = "apply it with psql or psycopg2"
HISTORY = "select version, name, statements from supabase_migrations.schema_migrations"


def _blocks(stdout: str) -> str:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-- ====="))
    end = next(i for i, line in enumerate(lines) if line.startswith("3. Check"))
    return "\n".join(lines[start:end])


def _state(target: Any) -> tuple[Any, ...]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(HISTORY)
        rows = cur.fetchall()
        cur.execute("select obj_description('public.t'::regclass, 'pg_class')")
        return rows, cur.fetchone()[0]


@settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=st.lists(_PIECES, min_size=1, max_size=5).map("".join))
def test_a_pasted_block_runs_the_file_or_says_it_cannot(
    tmp_path_factory: Any, make_db: Any, payload: str
) -> None:
    """Property: pasted into psql, the manual block records the history row the psycopg2 path
    records (always), and where the output carries no note against pasting, it also does
    what the file does."""
    root: Path = tmp_path_factory.mktemp("manual")
    pasted_db, run_db = make_db(), make_db()
    project = Project.create(root / "app", pasted_db)
    literal = "'" + payload.replace("'", "''") + "'"
    project.write(
        "001_t.sql", f"create table public.t (v text);\ncomment on table public.t is {literal};\n"
    )
    printed = project.invoke("migrate", "--method", "manual")
    assert printed.returncode == 0, printed.stdout + printed.stderr
    psql = paste_into_psql(pasted_db, _blocks(printed.stdout))
    assert psql.returncode == 0, psql.stderr
    ran = project.invoke("migrate", "--skip-confirm", "--method", "psycopg2", url=run_db.url())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (pasted_rows, pasted_comment), (run_rows, run_comment) = _state(pasted_db), _state(run_db)
    assert pasted_rows == run_rows
    assert run_comment == payload
    if NOTE not in printed.stdout:
        assert pasted_comment == payload
