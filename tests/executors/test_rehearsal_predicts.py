"""--rehearse predicts the real run: each file in its own subtransaction with a clean session,
deferred constraints checked at each file's end, "not rehearsed from here" where only a commit
could tell, and "nothing was changed" checked by a fingerprint, not assumed. The differential
property over generated files is tests/executors/test_rehearsal_differential.py; these are the cases a
team meets, each checked against what the real run does on the same database."""

from __future__ import annotations

import json
from typing import Any

from helpers.catalog import snapshot
from supamigrate.connect.db import session

PARENTS = (
    "create table public.parent (id int primary key);\n"
    "create table public.child (id int primary key,\n"
    "  pid int references public.parent deferrable initially deferred);\n"
)


def _setup(project: Any, sql: str) -> None:
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(sql)


def _rehearse(project: Any, *flags: str) -> tuple[int, dict[str, Any]]:
    result = project.invoke("migrate", "--rehearse", "--json", *flags)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def _real(project: Any) -> Any:
    return project.invoke("migrate", "--skip-confirm")


def test_a_deferred_violation_fails_the_rehearsal_as_it_fails_the_commit(project: Any) -> None:
    """A file leaving a deferred foreign key violated fails at its COMMIT: the rehearsal says
    so (23503, at COMMIT), exits 1, and the real run fails the same way."""
    _setup(project, PARENTS)
    project.write("001_orphan.sql", "insert into public.child values (1, 42);\n")
    project.write("002_more.sql", "insert into public.parent values (7);\n")
    code, doc = _rehearse(project)
    assert code == 1
    first = doc["rehearsal"][0]
    assert first["result"] == "failed" and first["error"]["sqlstate"] == "23503", first
    assert first["error"]["located_by"] == "COMMIT"
    # The run stops there, as the real one does; the file after it is accounted for.
    second = doc["rehearsal"][1]
    assert second["result"] == "not_rehearsed", second
    assert "001_orphan failed" in second["not_rehearsed_because"], second
    assert doc["summary"]["not_rehearsed"] == 1, doc["summary"]
    human = project.invoke("migrate", "--rehearse").stdout
    assert "at this file's COMMIT" in human
    real = _real(project)
    assert real.returncode == 1 and "23503" in real.stdout


def test_a_later_file_may_repair_what_is_deferred_only_within_its_own_file(project: Any) -> None:
    """Deferred checks run at each file's end, not the rehearsal's: an orphan fixed in the same
    file passes; the same fix in the next file is too late (the real run fails file 1)."""
    _setup(project, PARENTS)
    project.write(
        "001_fixed.sql",
        "insert into public.child values (1, 5);\ninsert into public.parent values (5);\n",
    )
    code, doc = _rehearse(project)
    assert code == 0, doc
    assert [r["result"] for r in doc["rehearsal"]] == ["ok"]
    project.write("001_fixed.sql", "insert into public.child values (1, 5);\n")
    project.write("002_late.sql", "insert into public.parent values (5);\n")
    code, doc = _rehearse(project)
    assert code == 1 and doc["rehearsal"][0]["error"]["sqlstate"] == "23503"


def test_set_constraints_in_a_file_is_the_files_business(project: Any) -> None:
    """`set constraints all immediate` in a file does not trip the rehearsal's own guard; it
    checks that file's pending rows at once (its line), and the next file starts with the
    declared modes again (its orphan is checked at its end, not at the statement)."""
    _setup(project, PARENTS)
    project.write(
        "001_now.sql", "set constraints all immediate;\ninsert into public.parent values (1);\n"
    )
    project.write(
        "002_later.sql",
        "insert into public.child values (1, 2);\ninsert into public.parent values (2);\n",
    )
    code, doc = _rehearse(project)
    assert code == 0, doc
    assert [r["result"] for r in doc["rehearsal"]] == ["ok", "ok"]
    project.write(
        "001_now.sql",
        "set constraints all immediate;\n\ninsert into public.child values (9, 9);\n",
    )
    code, doc = _rehearse(project)
    assert code == 1
    error = doc["rehearsal"][0]["error"]
    assert (error["sqlstate"], error["line"]) == ("23503", 3), error
    real = _real(project)
    assert real.returncode == 1 and "23503" in real.stdout and "at line 3" in real.stdout


def test_a_setting_does_not_leak_into_the_next_file(project: Any) -> None:
    """search_path, role and a temp table made by one file are gone in the next, as in the real
    run (each file starts with a clean session)."""
    _setup(project, "create schema other;\n")
    project.write(
        "001_settings.sql",
        "set search_path = other;\nset role authenticated;\ncreate temp table scratch (id int);\n",
    )
    project.write(
        "002_plain.sql",
        "create table made_here (id int);\ncreate temp table scratch (id int);\n",
    )
    code, doc = _rehearse(project)
    assert code == 0, doc
    assert [r["result"] for r in doc["rehearsal"]] == ["ok", "ok"]
    assert _real(project).returncode == 0
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.made_here') is not null")
        assert cur.fetchone() == (True,)


def test_an_enum_value_used_by_a_later_file_is_not_rehearsed_from_there(project: Any) -> None:
    """A value added in one file and used in the next works for real (each file commits); the
    rehearsal cannot commit, so it says "not rehearsed from here" for that file and the rest,
    exit 0; the same use inside the adding file fails both (55P04)."""
    _setup(
        project,
        "create type public.mood as enum ('calm');\ncreate table public.m (v public.mood);\n",
    )
    project.write("001_add.sql", "alter type public.mood add value 'happy';\n")
    project.write("002_use.sql", "select 1;\ninsert into public.m values ('happy');\n")
    project.write("003_after.sql", "select 2;\n")
    code, doc = _rehearse(project)
    assert code == 0, doc
    results = [r["result"] for r in doc["rehearsal"]]
    assert results == ["ok", "not_rehearsed", "not_rehearsed"], doc
    assert "enum value" in doc["rehearsal"][1]["not_rehearsed_because"]
    assert doc["rehearsal"][1]["not_rehearsed_because"].startswith("line 2:")
    assert "002_use was not rehearsed" in doc["rehearsal"][2]["not_rehearsed_because"]
    assert doc["summary"]["not_rehearsed"] == 2 and doc["summary"]["exit"] == 0
    human = project.invoke("migrate", "--rehearse").stdout
    assert "[2/3] 002_use ... not rehearsed from here, because line 2:" in human
    assert _real(project).returncode == 0


def test_an_enum_value_used_in_its_own_file_fails_both(project: Any) -> None:
    """Used in the file that adds it: the real run fails with 55P04, and so does the rehearsal."""
    _setup(
        project,
        "create type public.mood as enum ('calm');\ncreate table public.m (v public.mood);\n",
    )
    project.write(
        "001_add.sql",
        "alter type public.mood add value 'happy';\ninsert into public.m values ('happy');\n",
    )
    code, doc = _rehearse(project)
    assert code == 1 and doc["rehearsal"][0]["error"]["sqlstate"] == "55P04"
    real = _real(project)
    assert real.returncode == 1 and "55P04" in real.stdout


def test_a_second_connection_is_caught_by_the_fingerprint(project: Any, pg_server: Any) -> None:
    """A file calling dblink_exec is not run by a rehearsal (not rehearsed from here, nothing
    made); one that reaches it through dynamic SQL no reading can see does run, and then the
    rehearsal does not say "nothing was changed": it names the table made outside its
    transaction, says it was not rolled back, exits 1."""
    with session(pg_server.admin.with_database(project.target.database), autocommit=True) as c:
        c.cursor().execute("create extension dblink")
    user = project.target
    dsn = f"host={user.host} port={user.port} dbname={user.database} user={user.user} password={user.password}"
    project.write(
        "001_escape.sql",
        f"select dblink_exec('{dsn}', 'create table public.escaped (id int)');\n",
    )
    code, doc = _rehearse(project)
    assert code == 0 and doc["summary"]["changed_outside"] == [], doc["summary"]
    (verdict,) = doc["rehearsal"]
    assert verdict["result"] == "not_rehearsed", verdict
    assert "line 1: dblink_exec()" in verdict["not_rehearsed_because"], verdict
    hidden = "'select dblink' || '_exec(%L, %L)'"
    project.write(
        "001_escape.sql",
        f"do $$ begin execute format({hidden}, '{dsn}', "
        "'create table public.escaped (id int)'); end $$;\n",
    )
    code, doc = _rehearse(project)
    assert code == 1
    changed = doc["summary"]["changed_outside"]
    assert any("escaped" in c and c.startswith("relation in schema public") for c in changed), doc
    _setup(project, "drop table public.escaped;\n")  # it is there: made outside the rehearsal
    human = project.invoke("migrate", "--rehearse").stdout
    assert "NOT these changes" in human and "nothing was changed" not in human


def test_a_sequence_moved_by_the_rehearsal_is_reported(project: Any) -> None:
    """nextval() is never rolled back: the rehearsal says which sequence moved (exit 0: the app
    moves sequences too), and a rehearsal that moved nothing says nothing was changed."""
    _setup(project, "create table public.t (id bigserial primary key, v int);\n")
    project.write("001_row.sql", "insert into public.t (v) values (1);\n")
    code, doc = _rehearse(project)
    assert code == 0
    (change,) = doc["summary"]["changed_outside"]
    assert change.startswith("sequence public.t_id_seq moved from - to 1"), change
    project.write("001_row.sql", "select 1;\n")
    human = project.invoke("migrate", "--rehearse").stdout
    assert "nothing was changed (catalog and sequences compared before and after)" in human


def test_notices_belong_to_the_statement_that_raised_them(project: Any) -> None:
    """The runner's own setup says nothing in the migration's name; a notice is listed at the
    line of the statement that raised it."""
    project.write(
        "001_say.sql",
        "select 1;\ndo $$ begin raise notice 'hello from line 2'; end $$;\n",
    )
    code, doc = _rehearse(project)
    assert code == 0
    (migration,) = doc["rehearsal"]
    assert migration["notices"] == ["NOTICE:  hello from line 2"], migration
    by_line = {s["line"]: s.get("notices", []) for s in migration["statements"]}
    assert by_line == {1: [], 2: ["NOTICE:  hello from line 2"]}


def test_a_table_made_in_the_file_blocks_nobody(project: Any) -> None:
    """Locks on a table the file made are marked as such, and no "to commit" line for it."""
    project.write(
        "001_new.sql",
        "select 1;\ncreate table public.fresh (id int);\nalter table public.fresh add column v int;\n",
    )
    code, doc = _rehearse(project)
    assert code == 0
    statements = doc["rehearsal"][0]["statements"]
    third = statements[2]["locks"]
    assert third and all(lock.get("table_made_at") == 2 for lock in third), third
    human = project.invoke("migrate", "--rehearse").stdout
    assert "blocks nobody until commit" in human and "to commit" not in human.replace(
        "until commit", ""
    )


def test_nothing_is_kept(project: Any) -> None:
    """Whatever the verdicts, the database is as before."""
    _setup(project, PARENTS)
    with session(project.target) as conn, conn.cursor() as cur:
        before = snapshot(cur)
    project.write(
        "001_a.sql", "create table public.a (id int);\ninsert into public.parent values (3);\n"
    )
    project.write("002_b.sql", "set constraints all immediate;\ncreate index on public.a (id);\n")
    code, _ = _rehearse(project)
    assert code == 0
    with session(project.target) as conn, conn.cursor() as cur:
        assert snapshot(cur) == before


def test_the_fingerprint_names_what_changed(conn: Any) -> None:
    """Taken before and after changes committed elsewhere: the objects made are named per
    catalog, removals counted, a sequence that moved reported; no change, nothing reported."""
    from supamigrate.executors import fingerprint as fp

    def query(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            return list(cur.fetchall())

    with conn.cursor() as cur:
        cur.execute("create table public.gone (id int); create sequence public.s")
    before = fp.take(query)
    assert fp.changes(before, fp.take(query), query) == []
    with conn.cursor() as cur:
        cur.execute(
            "create schema s2; create function public.f() returns int language sql as 'select 1';"
            "drop table public.gone; select nextval('public.s')"
        )
    found = fp.changes(before, fp.take(query), query)
    assert "schema made or altered: s2" in found, found
    assert "function in schema public made or altered: f()" in found, found
    assert "relation in schema public: 1 removed" in found, found
    assert any(c.startswith("sequence public.s moved from - to 1") for c in found), found


def test_a_value_added_to_a_type_an_earlier_file_made(project: Any) -> None:
    """File 1 makes an enum type, file 2 adds a value and uses it: the real run fails (55P04:
    the type is committed), while in one transaction Postgres would allow it. The rehearsal
    does not pass it: from the use on, not rehearsed."""
    project.write("001_type.sql", "create type public.kind as enum ('a');\n")
    project.write(
        "002_use.sql", "alter type public.kind add value 'b';\nselect 'b'::public.kind;\n"
    )
    code, doc = _rehearse(project)
    assert code == 0, doc
    second = doc["rehearsal"][1]
    assert second["result"] == "not_rehearsed", second
    assert second["not_rehearsed_because"].startswith("line 2: line 1 added a value to enum type")
    real = _real(project)
    assert real.returncode == 1 and "55P04" in real.stdout, real.stdout
