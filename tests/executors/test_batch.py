"""The pieces that let several migrations share one message (executors/batch.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from supamigrate.executors.batch import (
    FAR_SECONDS,
    GROWTH,
    MAX_COUNT,
    NONCE,
    TARGET_SECONDS,
    Batch,
    Notices,
    Sizer,
    can_share,
    marker_sql,
)
from supamigrate.executors.envelope import Limits, wrap
from supamigrate.project.files import MigrationFile


def _migration(version: str, sql: str) -> MigrationFile:
    return MigrationFile(version, "m", Path(f"{version}_m.sql"), sql, f"{version}_m")


@pytest.mark.parametrize(
    ("sql", "shares"),
    [
        ("create table t ();\n", True),
        ("create function f() returns int language sql as $$ select 1 $$;\n", True),
        ("select 'unterminated;\n", False),
        ("select $x$ unterminated;\n", False),
        ("select 1; /* unterminated\n", False),
        ("select E'a\\'b';\n", False),  # a backslash lexes differently with scs off
    ],
)
def test_only_files_that_end_outside_any_quote_share_a_message(sql: str, shares: bool) -> None:
    """A file that could swallow the text after it is sent on its own."""
    assert can_share(sql) is shares


def test_each_file_is_found_by_its_position_in_the_message() -> None:
    """A position inside file k's text maps to envelope k."""
    envelopes = [
        wrap(_migration(f"2025000{i}", f"select {i};\n"), Limits(), rerun=False) for i in (1, 2)
    ]
    batch = Batch.render(envelopes)
    for index, start in enumerate(batch.body_at):
        assert batch.text[start:].startswith(f"select {index + 1};")
        assert batch.index_at(start + 1) == index
    assert batch.index_at(1) is None and batch.index_at(None) is None


def test_notices_are_split_at_the_markers() -> None:
    """Notices before the first marker are loose; after marker k they are migration k's."""
    notices = Notices()
    notices.expect(["1", "2"])
    for text in ["NOTICE:  early\n", _mark("1", 10.0), "NOTICE:  a\n"]:
        notices.append(text)
    notices.append(_mark("2", 10.25))
    notices.append("NOTICE:  b\n")
    notices.append(_mark("end", 11.0))
    assert notices.loose == ["NOTICE:  early\n"] and notices.started == ["1", "2"]
    assert notices.of("1") == ["NOTICE:  a\n"] and notices.of("2") == ["NOTICE:  b\n"]
    assert notices.ms("1") == 250.0 and notices.ms("2") == 750.0  # on the server's clock


def test_a_marker_without_this_runs_nonce_is_a_notice() -> None:
    """A migration's notice spelling a marker (the old format, or another run's nonce) is
    its notice: it cannot end the migration early and have it reported committed."""
    notices = Notices()
    notices.expect(["1", "2"])
    notices.append(_mark("1", 1.0))
    forged = [
        "NOTICE:  supamigrate: start 2\n",
        "NOTICE:  supamigrate: start 2 " + "0" * 32 + " at 2.0\n",
    ]
    for text in forged:
        notices.append(text)
    assert notices.started == ["1"] and notices.of("1") == forged


def _mark(version: str, at: float) -> str:
    return f"NOTICE:  supamigrate: start {version} {NONCE} at {at}\n"


def test_a_marker_only_counts_in_its_turn() -> None:
    """A file printing the next-but-one marker text cannot make the count skip ahead."""
    notices = Notices()
    notices.expect(["1", "2"])
    notices.append(_mark("2", 1.0))
    assert notices.started == [] and notices.loose == [_mark("2", 1.0)]


def test_the_marker_takes_digits_only() -> None:
    """A version goes into a SQL literal, so anything but digits is refused."""
    with pytest.raises(ValueError):
        marker_sql("1'; drop table x; --")


def test_messages_grow_from_one_and_shrink_when_slow() -> None:
    """1, 8, 64, ... up to MAX_COUNT; a one-off cap after a message of which nothing ran."""
    sizer = Sizer()
    sizes = []
    for _ in range(10):
        sizes.append(sizer.take())
        sizer.done(sizes[-1])
    assert sizes[:3] == [1, GROWTH, GROWTH**2] and max(sizes) == MAX_COUNT
    sizer.cap = 3
    assert sizer.take() == 3 and sizer.take() == MAX_COUNT


@pytest.mark.parametrize("rtt", [0.0, 0.0002, 0.005, 0.02, 0.1, 0.3])
@pytest.mark.parametrize("seconds_each", [0.0005, 0.01, 0.2, 3.0])
def test_far_away_the_second_message_carries_all_it_may(rtt: float, seconds_each: float) -> None:
    """Far away a message boundary costs a round trip: after the first message, the next
    carries MAX_COUNT. Near, it grows GROWTH-fold at most, about TARGET_SECONDS' worth as
    timed on the server's clock."""
    sizer = Sizer(rtt=rtt)
    sizer.take()
    sizer.done(1, (1, seconds_each))
    count = sizer.take()
    if rtt >= FAR_SECONDS:
        assert count == MAX_COUNT
    else:
        assert 1 <= count <= GROWTH
        assert count == 1 or count * seconds_each <= TARGET_SECONDS


@pytest.mark.parametrize("method", ["psycopg2", "psql"])
def test_the_running_migration_is_named_in_pg_stat_activity(project: Any, method: str) -> None:
    """A message carries several migrations; application_name names the one running now
    (the message's text shows only its first 1 KB: here not the sleep), on every method
    that runs the envelope itself."""
    from supamigrate.connect.db import session

    project.write("001_first.sql", "create table public.a1 (id int);\n")
    project.write("002_second.sql", "create table public.a2 (id int);\n")
    project.write("003_sleeps.sql", "create table public.a3 (id int);\nselect pg_sleep(3);\n")
    runner = project.popen("migrate", "--skip-confirm", "--method", method)
    names: set[str] = set()
    deadline = time.monotonic() + 20
    with session(project.target, autocommit=True) as conn, conn.cursor() as cur:
        while runner.poll() is None and time.monotonic() < deadline:
            cur.execute(
                "select application_name from pg_stat_activity where wait_event = 'PgSleep' "
                "and datname = current_database()"
            )
            names |= {row[0] for row in cur.fetchall()}
            time.sleep(0.05)
    runner.wait(timeout=20)
    assert runner.returncode == 0
    (mirrored,) = (project.root / "supabase" / "migrations").glob("*_sleeps.sql")
    assert names == {f"supamigrate {mirrored.name.split('_')[0]}"}
    with session(project.target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from supabase_migrations.schema_migrations")
        assert cur.fetchone() == (3,)


def test_a_digest_row_sees_drift_but_not_whitespace() -> None:
    """History read as digests: reformatting is no drift, an edited statement is."""
    from supamigrate.history.table import HistoryRow, matches_file

    row = HistoryRow.joined("1", "m", "create table t (id int)\ninsert into t values (1)")
    assert matches_file(row, "create table t (id int);\n\n  insert into t values (1);\n")
    assert not matches_file(row, "create table t (id int);\ninsert into t values (2);\n")
    assert matches_file(HistoryRow.joined("1", "m", None), "anything;")


def test_work_for_the_next_message_runs_while_the_server_works(db: Any) -> None:
    """A task queued with while_waiting runs during the next wait for the server (an error
    in it is dropped: the same work is done again where it is needed)."""
    from supamigrate.connect.db import connect
    from supamigrate.process import interrupt

    conn = connect(db, connect_timeout=10)
    conn.autocommit = True
    ran: list[float] = []

    def task() -> None:
        ran.append(time.monotonic())
        raise RuntimeError("dropped")

    interrupt.while_waiting(task)
    with conn.cursor() as cur:
        cur.execute("select pg_sleep(0.3)")
    answered = time.monotonic()
    conn.close()
    assert len(ran) == 1 and ran[0] < answered - 0.2  # while the server slept, not after
