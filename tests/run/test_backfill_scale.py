"""The backfill on a million-row table never blocks the app's writers for long."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import psycopg2
import pytest

from helpers.platform_fixtures import add_rows, create_platform_tables, create_users
from helpers.tenancy import apply
from supamigrate.connect.db import session

ROWS_PER_USER = 1000
USERS = 1000


@pytest.mark.slow
def test_million_row_backfill_with_a_concurrent_writer(db: Any) -> None:
    """1,000,000 files rows get their tenant (003, and 005 for rows the app moved behind it)
    while a writer with lock_timeout=2s never times out."""
    with session(db) as conn, conn.cursor() as cur:
        create_platform_tables(cur)
        users = create_users(cur, USERS)
        add_rows(cur, "files", users, ROWS_PER_USER)
        cur.execute("select id::text from public.files tablesample system (1) limit 500")
        sample = [row[0] for row in cur.fetchall()]
    apply(db, [1, 2])

    stop = threading.Event()
    waits: list[float] = []
    timeouts: list[str] = []

    def writer() -> None:
        with session(db, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("set lock_timeout = '2s'")
            while not stop.is_set():
                started = time.monotonic()
                try:
                    cur.execute(
                        "update public.files set size_bytes = size_bytes + 1 where id = %s",
                        (random.choice(sample),),
                    )
                    cur.execute(
                        "insert into public.files (user_id, name) values (%s, 'during-backfill.pdf')",
                        (random.choice(users),),
                    )
                except psycopg2.errors.LockNotAvailable as exc:
                    timeouts.append(str(exc))
                waits.append(time.monotonic() - started)

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.monotonic()
    try:
        [result] = apply(db, [3])
    finally:
        stop.set()
        thread.join(timeout=30)
    elapsed = time.monotonic() - started

    assert timeouts == []
    assert len(waits) > 10  # the writer really ran alongside
    # The app's updates can move a row 003 has not reached into a page it has done: 005 gives
    # those their tenant (and then no row of a valid user is left without one).
    apply(db, [4, 5])
    with session(db) as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(tenant_id) from public.files")
        total, with_tenant = cur.fetchone()
    assert total >= USERS * ROWS_PER_USER
    assert with_tenant == total  # every row has a valid user, so every row has a tenant
    notice = next(n for n in result.notices if "public.files" in n)
    print(
        f"\nbackfill of {total} rows: {elapsed:.1f} s; writer ops {len(waits)}, "
        f"slowest {max(waits) * 1000:.0f} ms; {notice}"
    )
