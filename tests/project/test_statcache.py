"""The stat cache: a run that trusts it sees exactly what a run reading every file sees.

Files are only remembered once they are older than the racy window (2 s), so the in-process
tests move the clock on (`aged`): as if the cache had been written 10 s after the files.
The end-to-end test waits out the real window once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supamigrate.connect.db import session
from supamigrate.errors import UsageError
from supamigrate.history.digests import DIGESTS_NAME, load_digests, recorded_row, save_digests
from supamigrate.history.read import fetch_history
from supamigrate.history.table import CREATE_TABLE, digest, record_sql
from supamigrate.project import files, statcache
from supamigrate.project.mirror import apply_mirror, mirrored_migrations, plan_mirror
from supamigrate.project.mirror_items import MirrorPlan
from supamigrate.project.statcache import CACHE_NAME, StatCache

NOW = statcache.time.time_ns
_NOON = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def aged(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock 10 s on: files written now are past the racy window when learnt."""
    monkeypatch.setattr(statcache.time, "time_ns", lambda: NOW() + 10 * 10**9)


def _plan(root: Path, cache: StatCache) -> MirrorPlan:
    sources = files.discover_sources(root / "migrations", cache)
    return plan_mirror(
        sources, root / "supabase" / "migrations", now=_NOON, assign=True, cache=cache
    )


def _seen(root: Path, cache: StatCache) -> list[tuple[str, ...]]:
    """What a run decides from the files: each mirror item's state, each migration's text
    digest (what the drift check compares), and the digest its bytes would be checked by."""
    plan = _plan(root, cache)
    found, _ = mirrored_migrations(plan)
    states = [(i.describe(),) for i in plan.items]
    texts = [(m.version, m.label, m.text_digest.hex()) for m in found]
    return states + texts


def _run_with_cache(root: Path) -> list[tuple[str, ...]]:
    """One run as `invoke migrate` makes it: load, use, save; then age the saved cache."""
    path = root / "supabase" / ".temp" / CACHE_NAME
    cache = StatCache.load(path)
    seen = _seen(root, cache)
    cache.save()
    if path.exists():  # written 10 s after the files, as far as the racy check can tell
        later = NOW() + 10 * 10**9
        os.utime(path, ns=(later, later))
    return seen


def _project(tmp: Path, count: int) -> Path:
    (tmp / "migrations").mkdir()
    (tmp / "supabase" / "migrations").mkdir(parents=True)
    for n in range(1, count + 1):
        (tmp / "migrations" / f"{n:03d}_m{n}.sql").write_text(f"create table t{n} (id int);\n")
    apply_mirror(_plan(tmp, StatCache.off()))
    return tmp


def _sneaky_rewrite(path: Path, data: bytes) -> None:
    """Other bytes of the same length under the old mtime: only ctime tells."""
    before = path.stat()
    time.sleep(0.005)  # past the filesystem's timestamp tick, as the 2 s racy window ensures
    path.write_bytes(data[: before.st_size].ljust(before.st_size, b" "))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


OPS = st.sampled_from(
    ["sneaky_source", "sneaky_mirror", "edit", "delete_mirror", "touch", "swap", "link"]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(st.tuples(OPS, st.integers(1, 4), st.binary(min_size=1, max_size=40)), max_size=6)
)
def test_a_trusted_cache_sees_what_reading_sees(aged: None, ops: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = _project(Path(tmp), 4)
        _run_with_cache(root)  # learns every file
        for op, n, data in ops:
            source = root / "migrations" / f"{n:03d}_m{n}.sql"
            mirror = next((root / "supabase" / "migrations").glob(f"*_m{n}.sql"), None)
            text = b"select " + data.hex().encode() + b";\n"
            if op == "sneaky_source":
                _sneaky_rewrite(source, text)
            elif op == "sneaky_mirror" and mirror is not None:
                _sneaky_rewrite(mirror, text)
            elif op == "edit":
                source.write_bytes(source.read_bytes() + text)
            elif op == "delete_mirror" and mirror is not None:
                mirror.unlink()
            elif op == "touch":
                os.utime(source)
            elif op == "swap":  # another inode, same size and times
                before = source.stat()
                spare = source.with_suffix(".tmp")
                spare.write_bytes(text[: before.st_size].ljust(before.st_size, b" "))
                os.utime(spare, ns=(before.st_atime_ns, before.st_mtime_ns))
                spare.replace(source)
            elif op == "link" and mirror is not None:  # the same bytes, now behind a symlink
                target = root / f"elsewhere_{n}.sql"  # (stat'ed by name in the open folder:
                target.write_bytes(mirror.read_bytes())  # the link, never followed, is no
                mirror.unlink()  # plain file the cache may vouch for)
                mirror.symlink_to(target)
            assert _run_with_cache(root) == _seen(root, StatCache.off()), op
            apply_mirror(_plan(root, StatCache.off()))


def test_a_vouched_file_is_not_read_until_its_text_is_needed(
    aged: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, 3)
    _run_with_cache(root)
    expected = _seen(root, StatCache.off())

    def refuse(*_: Any) -> Any:
        raise AssertionError("a vouched-for file was read")

    monkeypatch.setattr(files, "read_plain", refuse)
    monkeypatch.setattr(files, "_read_bytes", refuse)
    assert _run_with_cache(root) == expected  # 3 sources and 3 mirror copies, none read
    assert [state for (state,) in expected[:3]] == [
        f"00{n}_m{n}.sql -> 2026010112000{n - 1}_m{n}.sql: ok" for n in (1, 2, 3)
    ]


def test_text_changed_after_the_check_stops_the_run(aged: None, tmp_path: Path) -> None:
    """Vouched for at the start, rewritten before its text is read: the run stops, rather
    than apply bytes other than those it checked."""
    root = _project(tmp_path, 1)
    _run_with_cache(root)
    cache = StatCache.load(root / "supabase" / ".temp" / CACHE_NAME)
    (source,) = files.discover_sources(root / "migrations", cache)
    assert source.body.known is not None  # vouched for: not read
    (root / "migrations" / "001_m1.sql").write_text("drop table t1;\n")
    with pytest.raises(UsageError, match="changed while supamigrate ran"):
        source.body.text  # noqa: B018


@given(st.binary(max_size=400))
def test_a_hostile_cache_file_changes_nothing(garbage: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = _project(Path(tmp), 2)
        path = root / "supabase" / ".temp" / CACHE_NAME
        path.parent.mkdir()
        prefix = b"supamigrate-files 3\n" if garbage[:1] == b"s" else b""
        path.write_bytes(prefix + garbage)
        assert _seen(root, StatCache.load(path)) == _seen(root, StatCache.off())


def test_fresh_files_are_not_remembered(tmp_path: Path) -> None:
    """Written less than 2 s ago (the racy window): read again next time, not trusted."""
    root = _project(tmp_path, 2)
    path = root / "supabase" / ".temp" / CACHE_NAME
    cache = StatCache.load(path)
    _seen(root, cache)
    cache.save()
    assert not path.exists() or path.read_bytes().count(b"\n") == 1


# --- end to end: the real command, the real clock, a real database ----------------------------


def _without_caches(project: Any) -> tuple[int, str]:
    """The same command with no cache to trust (and none written: supabase/.temp read-only
    would not stop root, so the caches are moved away and back)."""
    temp = project.root / "supabase" / ".temp"
    kept = temp.with_name(".temp-kept")
    temp.rename(kept)
    try:
        result = project.invoke("status")
        return result.returncode, result.stdout
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        kept.rename(temp)


def test_edits_a_cache_cannot_see_by_mtime_are_still_found(project: Any) -> None:
    """A team's repo after a day: applied, then left alone (past the racy window), then a
    source rewritten under its old mtime and a history row edited on the server. Status with
    the caches says what status says without them, and both name the drift."""
    (project.root / "supabase" / ".temp").mkdir()  # as any `supabase` command makes it
    project.write("001_a.sql", "create table a (id int);\n")
    project.write("002_b.sql", "create table b (id int);\n")
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    digests = project.root / "supabase" / ".temp" / DIGESTS_NAME
    assert len(digests.read_text().splitlines()) == 1 + 2  # the rows it wrote
    time.sleep(2.1)
    quiet = project.invoke("migrate", "--skip-confirm")
    assert "Nothing to apply: 2 applied." in quiet.stdout
    temp = project.root / "supabase" / ".temp"
    remembered = (temp / CACHE_NAME).read_text().splitlines()
    assert len(remembered) == 1 + 2 * 4  # header, 2 sources and their 2 mirror copies: 2 lines each
    assert len((temp / DIGESTS_NAME).read_text().splitlines()) == 1 + 2

    _sneaky_rewrite(project.root / "migrations" / "002_b.sql", b"create table c (id int);\n")
    with session(project.target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "update supabase_migrations.schema_migrations set statements = "
            "array['create table z (id int)'] where version = '20251201000001'"
        )
    with_caches = project.invoke("status")
    assert (with_caches.returncode, with_caches.stdout) == _without_caches(project)
    assert with_caches.stdout.count("drifted") >= 2, with_caches.stdout


def test_dry_and_rehearse_write_no_cache(project: Any) -> None:
    temp = project.root / "supabase" / ".temp"
    temp.mkdir()
    project.write("001_a.sql", "create table a (id int);\n")
    assert project.invoke("migrate", "--dry").returncode == 0
    assert project.invoke("migrate", "--rehearse").returncode == 0
    assert list(temp.iterdir()) == []
    # Stamped ahead of the clock, the file stays too fresh to trust however slow the runs
    # above were (under load they can outlast RACY_NS and the real run would then remember it).
    source = project.root / "migrations" / "001_a.sql"
    ahead = time.time_ns() + 3600 * 10**9
    os.utime(source, ns=(ahead, ahead))
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    assert [p.name for p in temp.iterdir()] == [DIGESTS_NAME]  # (the file, too fresh to trust)


def test_no_cache_without_the_cli_s_folder(project: Any) -> None:
    """A repository that never ran the Supabase CLI has no supabase/.temp: none is made."""
    project.write("001_a.sql", "create table a (id int);\n")
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    assert not (project.root / "supabase" / ".temp").exists()


# --- history digests: the server's md5 of a row's text stands for the text ---------------------


STATEMENTS = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    max_size=4,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(STATEMENTS, min_size=1, max_size=6), changed=STATEMENTS)
def test_remembered_digests_equal_digests_of_the_texts(
    conn: Any, tmp_path: Path, rows: list[list[str]], changed: list[str]
) -> None:
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS supabase_migrations CASCADE; {CREATE_TABLE}")
        for n, statements in enumerate(rows):
            cur.execute(record_sql(f"{n:014d}", "m", statements, replace=False))
    path = tmp_path / "digests"
    first = fetch_history(conn).rows
    assert first is not None
    # What a run remembers of the rows it writes is what the server then says of them.
    written = [recorded_row(f"{n:014d}", "m", statements) for n, statements in enumerate(rows)]
    assert [(w.text_md5, w.digest) if w else (None, None) for w in written] == [
        (r.text_md5, r.digest) for r in first
    ]
    save_digests(path, first)
    again = fetch_history(conn, load_digests(path)).rows
    assert again is not None
    assert [(r.version, r.digest) for r in again] == [(r.version, r.digest) for r in first]
    assert all(r.remembered for r in again) or not load_digests(path)  # (no text to remember)
    with conn.cursor() as cur:  # a row edited since: its new text, not its old digest
        cur.execute(
            "UPDATE supabase_migrations.schema_migrations SET statements = %s WHERE version = %s",
            (changed, f"{0:014d}"),
        )
    edited = fetch_history(conn, load_digests(path)).rows
    assert edited is not None
    expected = digest("\n".join(changed)) if "".join(changed) or len(changed) > 1 else None
    assert edited[0].digest == expected
    assert [r.digest for r in edited[1:]] == [r.digest for r in first[1:]]


@given(st.binary(max_size=300))
def test_a_hostile_digest_file_is_no_cache(garbage: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "digests"
        path.write_bytes(b"supamigrate-history 1\n" + garbage)
        for md5, value in load_digests(path).items():
            assert len(md5) == 32 and len(value) == 16


# --- a fresh database: the history table comes with the first migration --------------------


def test_continue_on_error_on_a_fresh_database(project: Any) -> None:
    """The first migration fails and takes the new table with it; the next still applies."""
    project.write("001_bad.sql", "select 1/0;\n")
    project.write("002_ok.sql", "create table public.ok (id int);\n")
    result = project.invoke("migrate", "--skip-confirm", "--continue-on-error")
    assert result.returncode == 1
    assert "[2/2] 002_ok ... ok" in result.stdout, result.stdout
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select version from supabase_migrations.schema_migrations")
        assert cur.fetchall() == [("20251201000002",)]


def test_a_failed_first_migration_on_a_fresh_database_leaves_no_schema(project: Any) -> None:
    """The schema the run made goes with the table, also where the database hides notices
    (the run learns that it made the schema from one, in the same transaction)."""
    with session(project.target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"alter database {project.target.database} set client_min_messages = error")
    project.write("001_bad.sql", "select 1/0;\n")
    failed = project.invoke("migrate", "--skip-confirm")
    assert failed.returncode == 1, failed.stdout
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regnamespace('supabase_migrations')")
        assert cur.fetchall() == [(None,)]


def test_a_first_run_where_plpgsql_is_not_the_runners_to_use(project: Any, pg_server: Any) -> None:
    """The table's making announces the schema with a DO block; where plpgsql is revoked it
    is made without one: the migrations run (the cleanup after a failed first run is
    tests/run/test_first_run_attacks.py's)."""
    admin = pg_server.admin.with_database(project.target.database)
    with session(admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("revoke usage on language plpgsql from public")
    project.write("001_bad.sql", "select 1/0;\n")
    failed = project.invoke("migrate", "--skip-confirm")
    assert failed.returncode == 1 and "division by zero" in failed.stdout, failed.stdout
    project.write("001_bad.sql", "create table public.fine (id int);\n")
    ok = project.invoke("migrate", "--skip-confirm")
    assert ok.returncode == 0, ok.stdout


def test_psql_keeps_a_history_table_it_cannot_read(project: Any) -> None:
    """A table of an older layout (no name column) is an error to report, not 'no table':
    the run stops before anything, and the table stays."""
    with session(project.target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("create schema supabase_migrations")
        cur.execute("create table supabase_migrations.schema_migrations (version text primary key)")
    project.write("001_bad.sql", "select 1/0;\n")
    result = project.invoke("migrate", "--skip-confirm", "--method", "psql")
    assert result.returncode != 0
    assert "could not read the history" in result.stdout + result.stderr, result.stdout
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('supabase_migrations.schema_migrations') is not null")
        assert cur.fetchall() == [(True,)]


def test_a_failed_first_migration_leaves_an_existing_schema_as_it_was(project: Any) -> None:
    """An empty supabase_migrations schema made beforehand (a dashboard, a script) stays;
    no notice about it is shown as the migration's."""
    with session(project.target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("create schema supabase_migrations")
    project.write("001_bad.sql", "select 1/0;\n")
    failed = project.invoke("migrate", "--skip-confirm")
    assert failed.returncode == 1
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regnamespace('supabase_migrations') is not null")
        assert cur.fetchall() == [(True,)]
        cur.execute("select to_regclass('supabase_migrations.schema_migrations')")
        assert cur.fetchall() == [(None,)]
    project.write("001_bad.sql", "create table public.fine (id int);\n")
    ok = project.invoke("migrate", "--skip-confirm")
    assert ok.returncode == 0 and "skipping" not in ok.stdout, ok.stdout


def test_a_fifo_in_place_of_a_cache_is_no_cache(project: Any) -> None:
    temp = project.root / "supabase" / ".temp"
    temp.mkdir()
    os.mkfifo(temp / CACHE_NAME)
    os.mkfifo(temp / DIGESTS_NAME)
    project.write("001_a.sql", "create table a (id int);\n")
    result = project.invoke("migrate", "--skip-confirm", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_psql_run_keeps_what_the_history_cache_knows(project: Any) -> None:
    (project.root / "supabase" / ".temp").mkdir()
    project.write("001_a.sql", "create table a (id int);\n")
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    digests = project.root / "supabase" / ".temp" / DIGESTS_NAME
    project.write("002_b.sql", "create table b (id int);\n")
    assert project.invoke("migrate", "--skip-confirm", "--method", "psql").returncode == 0
    assert len(digests.read_text().splitlines()) == 1 + 2  # 001's kept, 002's added


def test_mirror_check_writes_no_cache(project: Any) -> None:
    temp = project.root / "supabase" / ".temp"
    temp.mkdir()
    project.write("001_a.sql", "create table a (id int);\n")
    assert project.invoke("mirror").returncode == 0
    time.sleep(2.1)  # old enough to be remembered, by a run allowed to write
    assert project.invoke("mirror", "--check").returncode == 0
    assert list(temp.iterdir()) == []


_HEX = st.text("0123456789abcdef", min_size=32, max_size=32)
_DIGESTS = st.one_of(
    st.builds(lambda raw, norm: f"{raw} {norm}", _HEX, _HEX),
    st.builds(lambda raw: f"{raw} -", _HEX),
)
# Well-formed ones with one character changed (a space, a dash, an upper-case or non-ASCII
# letter, a newline anywhere), and noise of about the right length.
_NEARLY = st.one_of(
    _DIGESTS,
    st.builds(
        lambda d, at, c: d[:at] + c + d[at + 1 :],
        _DIGESTS,
        st.integers(0, 64),
        st.sampled_from([" ", "-", "A", "g", "\u00e9", "\n", "0"]),
    ),
    st.text("0123456789abcdefA -\n\u00e9", min_size=30, max_size=70),
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(_NEARLY, max_size=6))
def test_entries_checked_at_once_are_the_entries_the_pattern_accepts(digests: list[str]) -> None:
    """vouch_all checks the digests it vouches for all at once (statcache._well_formed): it
    passes them only if every one is what the per-entry pattern accepts, and it passes every
    set of such entries of one length (mixed lengths go entry by entry)."""
    each = all(statcache._DIGESTS.fullmatch(d) for d in digests)
    if statcache._well_formed(digests):
        assert each
    elif each:
        assert len({len(d) for d in digests}) > 1


def test_a_malformed_entry_is_read_and_the_others_still_vouched_for(
    aged: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One entry's digests garbled in place (its signature intact): that file alone is read
    again, the others stay vouched for, and the run sees what reading every file sees."""
    root = _project(tmp_path, 3)
    _run_with_cache(root)
    expected = _seen(root, StatCache.off())
    path = root / "supabase" / ".temp" / CACHE_NAME
    lines = path.read_bytes().split(b"\n")
    garbled = next(i for i, line in enumerate(lines) if line.endswith(b" -"))
    lines[garbled] = lines[garbled][:-34] + b"Z" * 32 + b" -"
    path.write_bytes(b"\n".join(lines))
    later = NOW() + 10 * 10**9  # as _run_with_cache: the files are not racy for it
    os.utime(path, ns=(later, later))
    read: list[str] = []
    real = files.read_plain

    def counted(name: str) -> Any:
        read.append(name)
        return real(name)

    monkeypatch.setattr(files, "read_plain", counted)
    assert _seen(root, StatCache.load(path)) == expected
    assert len(read) == 1 and read[0].endswith(lines[garbled - 1].decode()), read
