"""The history read ahead on the connecting thread: near the server its answer waits in the
socket until the run asks for it (the thread then never wakes while the files are read), far
away it is read as it comes. Against the real server, and benchmarks/delay_proxy.py (a real TCP
proxy) for far away."""

from __future__ import annotations

import sys
import time
from typing import Any

from helpers.project import REPO
from supamigrate.connect.db import Background, session
from supamigrate.connect.dburl import DbTarget
from supamigrate.executors.batch import FAR_SECONDS
from supamigrate.history.read import ConnectAndRead
from supamigrate.history.table import CREATE_TABLE, record_sql

sys.path.insert(0, str(REPO / "benchmarks"))
from delay_proxy import DelayProxy

ROWS = 50


def _history(target: DbTarget) -> None:
    with session(target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(CREATE_TABLE)
        for n in range(ROWS):
            cur.execute(
                record_sql(f"{20250101000000 + n}", f"m{n}", [f"select {n}"], replace=False)
            )


def _backend_idle(target: DbTarget, seconds: float = 5.0) -> bool:
    """The read-ahead's backend has sent its whole answer and waits for the next query."""
    deadline = time.monotonic() + seconds
    with session(target, autocommit=True) as conn, conn.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute(
                "select state from pg_stat_activity where application_name = 'supamigrate' "
                "and query like '%schema_migrations%' and pid <> pg_backend_pid()"
            )
            if [row[0] for row in cur.fetchall()] == ["idle"]:
                return True
            time.sleep(0.02)
    return False


def test_near_the_answer_waits_until_the_run_asks(db: DbTarget) -> None:
    _history(db)
    ahead = ConnectAndRead(db, 10)
    reading = Background(ahead)
    try:
        assert _backend_idle(db), "the server never answered the read-ahead"
        time.sleep(0.1)  # the answer is in the socket; nothing reads it yet
        assert not reading.done() and ahead.fetched is None
        ahead.release()
        conn = reading.result()
    finally:
        ahead.release()
    fetched = ahead.take()
    assert fetched is not None and fetched.rows is not None
    assert [row.version for row in fetched.rows] == [f"{20250101000000 + n}" for n in range(ROWS)]
    assert ahead.seconds < FAR_SECONDS  # near: the wait for the run is not a round trip
    conn.close()


def test_far_away_the_answer_is_read_as_it_comes(db: DbTarget) -> None:
    _history(db)
    with DelayProxy((db.host, db.port), delay=0.015) as proxy:
        far = DbTarget(db.host, proxy.port, db.user, db.database, db.password)
        ahead = ConnectAndRead(far, 10)
        reading = Background(ahead)
        deadline = time.monotonic() + 10
        while not reading.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reading.done(), "far away, the read-ahead waited to be asked"
        conn: Any = reading.result()
        conn.close()
    fetched = ahead.take()
    assert fetched is not None and fetched.rows is not None and len(fetched.rows) == ROWS
    assert ahead.seconds >= FAR_SECONDS  # the read's own round trip, as batch.Sizer needs
