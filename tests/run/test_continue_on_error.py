"""`--continue-on-error` goes past a failed migration only with a method that can leave it
out. `supabase db push` applies every pending file in order: "continuing" with it pushed the
failed file again (its non-transactional effects twice) and reported the next one as failed
"without applying it" though it never ran.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers.project import REPO, Project
from supamigrate.connect.db import session

CLI = REPO / "node_modules" / ".bin" / "supabase"
FILES = {
    "001_a.sql": "create table public.a (id int);\ncreate sequence public.tries;\n",
    # nextval is not rolled back: it counts how many times this file really ran
    "002_b.sql": "select nextval('public.tries');\nselect 1/0;\n",
    "003_c.sql": "create table public.c (id int);\n",
}


def _linked(project: Project) -> Project:
    if not CLI.exists():
        pytest.skip("run `npm ci` for the Supabase CLI")
    temp = project.root / "supabase" / ".temp"
    temp.mkdir(parents=True, exist_ok=True)
    (temp / "project-ref").write_text("abcdefghijklmnopqrst\n")
    project.env["SUPABASE_CLI"] = str(CLI)
    for name, sql in FILES.items():
        project.write(name, sql)
    return project


def _state(project: Project) -> tuple[Any, ...]:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('supabase_migrations.schema_migrations') is not null")
        if not cur.fetchone()[0]:
            return (), None
        cur.execute("select name from supabase_migrations.schema_migrations order by 1")
        names = tuple(n for (n,) in cur.fetchall())
        cur.execute("select last_value, is_called from public.tries")
        return names, cur.fetchone()


def test_the_cli_method_is_refused_for_continue_on_error(project: Project) -> None:
    project = _linked(project)
    run = project.invoke("migrate", "--skip-confirm", "--continue-on-error", "--method", "supabase")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "--continue-on-error" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert _state(project) == ((), None)  # nothing ran


@pytest.mark.parametrize("as_json", [False, True])
def test_auto_goes_past_a_failure_running_it_once(project: Project, as_json: bool) -> None:
    """Linked, auto would take the CLI: with --continue-on-error it takes a method that can
    leave the failed file out, says why, runs 002 once and applies 003."""
    project = _linked(project)
    args = ["migrate", "--skip-confirm", "--continue-on-error"] + ["--json"] * as_json
    run = project.invoke(*args)
    assert run.returncode == 1, run.stdout + run.stderr
    assert _state(project) == (("a", "c"), (1, True))  # 002 ran exactly once
    if as_json:
        document = json.loads(run.stdout)
        assert [r["result"] for r in document["results"]] == ["ok", "failed", "ok"]
    else:
        assert "skipped: supabase: cannot go on past a failed migration" in run.stdout


def test_the_cli_method_stops_at_a_failure_and_says_the_rest_did_not_run(
    project: Project,
) -> None:
    project = _linked(project)
    run = project.invoke("migrate", "--skip-confirm", "--method", "supabase", "--json")
    assert run.returncode == 1, run.stdout + run.stderr
    results = json.loads(run.stdout)["results"]
    assert [(r["name"], r["result"]) for r in results] == [("001_a", "ok"), ("002_b", "failed")]
    assert _state(project) == (("a",), (1, True))
