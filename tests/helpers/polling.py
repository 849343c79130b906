"""Query a test database, and wait until a query returns rows (for work in other processes)."""

from __future__ import annotations

import time
from typing import Any

from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget


def query(target: DbTarget, sql: str) -> list[tuple[Any, ...]]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else []


def wait_for(target: DbTarget, sql: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query(target, sql):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql}")
