"""Reading the history table over a psycopg2 connection, also ahead of time.

The psycopg2 executor connects on a background thread as soon as it is made, and reads the
history right after, on that thread: the server's work and the transfer (the statements of
10,000 rows are ~14 MB) overlap with reading and mirroring the files. The first
read_history() takes that result; later ones read again (the CLI method reads before and
after its push).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from supamigrate.connect.db import connect
from supamigrate.connect.dburl import DbTarget
from supamigrate.history.digests import load_digests
from supamigrate.history.table import SELECT_SUMS, SELECT_TEXTS, HistoryRow
from supamigrate.process.interrupt import read_when

if TYPE_CHECKING:
    from psycopg2.extensions import connection, cursor

# Connecting faster than this is near the server (a connection is 4+ round trips: TCP, the
# startup, SCRAM's two): the answer may wait in the socket until asked for (see
# ConnectAndRead). Loopback takes ~6-10 ms alone, but 30-50 ms while this process reads
# 10,000 files on one core and the server works on the other: 25 ms called that far, and
# the read then took the GIL from the file work as its chunks came. 60 ms is a round trip of
# 15 ms or less, where a history that outgrows the socket's buffer costs a round trip or two.
NEAR_CONNECT_SECONDS = 0.06
# Connecting faster than this is surely near: a third of it is the round trip batch.Sizer
# sizes messages by. Between the two, connecting may be slow only for the CPU it waited for.
SURE_NEAR_SECONDS = 0.025
# A named tuple made by tuple.__new__, not its generated Python __new__: ~0.2 us less each,
# for what is made per migration on every run (10,000 at a time). The fields go in order.
_tuple = tuple.__new__


class Fetched(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import
    """The rows, or that there is no table yet (rows None, error None), or the driver error."""

    rows: list[HistoryRow] | None
    error: Any = None


def fetch_history(conn: connection, known: Mapping[str, bytes] | None = None) -> Fetched:
    """The history with each row's digest. `known` (history_digests: the server's md5 of a
    row's text -> its digest, from earlier runs) spares the transfer of the texts it covers:
    ~14 MB at 10,000 rows, then the normalising of each on this side."""
    import psycopg2.errors

    try:
        with conn.cursor() as cur:
            rows = _fetch(cur, known or {})
    except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
        # No table (nor maybe its schema): the executor's CREATE tells which it made, in the
        # same transaction, so a fresh database costs no second round trip here.
        return Fetched(None)
    except psycopg2.Error as exc:
        return Fetched(None, exc)
    return Fetched(rows)


def _fetch(cur: cursor, known: Mapping[str, bytes]) -> list[HistoryRow]:
    if not known:  # nothing to spare: one query, texts and sums
        cur.execute(SELECT_TEXTS.format(where=""))
        return [HistoryRow.joined(v, n, text, md5) for v, n, md5, text in cur.fetchall()]
    cur.execute(SELECT_SUMS)
    sums = cur.fetchall()
    missing = [version for version, _, md5 in sums if md5 is not None and md5 not in known]
    if not missing:  # every text seen before (the usual run): one pass, no branches
        remembered = known.get
        return [
            _tuple(HistoryRow, (version, name, None, remembered(md5 or ""), md5, True))
            for version, name, md5 in sums
        ]
    # Re-read with their sums: a row changed since is keyed by its new text.
    cur.execute(SELECT_TEXTS.format(where="WHERE version = ANY(%s)"), (missing,))
    texts = {v: (md5, text) for v, _, md5, text in cur.fetchall()}
    rows = []
    for version, name, md5 in sums:
        if md5 is None or md5 in known:
            rows.append(_tuple(HistoryRow, (version, name, None, known.get(md5 or ""), md5, True)))
        elif version in texts:  # (gone since the first query: not in the history any more)
            md5, text = texts[version]
            rows.append(HistoryRow.joined(version, name, text, md5))
    return rows


@dataclass
class ConnectAndRead:
    """Background work: connect (autocommit: we write BEGIN/COMMIT ourselves), then read.

    Near the server the answer is read only when the run asks for it (`release`): the server
    computes it while the main thread reads the files, and the rows wait in the socket, so
    this thread does not wake per arriving chunk and take the GIL from the file work. Far
    away it is read as it comes (a full socket would stall the sender for round trips)."""

    target: DbTarget
    connect_timeout: int
    digests: Path | None = None  # the history_digests cache, read here (written by commands)
    fetched: Fetched | None = None
    seconds: float = 0.0  # the read's time: a round trip and a little server time (batch.Sizer)
    asked: threading.Event = field(default_factory=threading.Event)
    released: float = 0.0  # when the run asked (perf_counter)

    def __call__(self) -> connection:
        started = time.perf_counter()
        conn = connect(self.target, connect_timeout=self.connect_timeout)
        connecting = time.perf_counter() - started
        near = connecting < NEAR_CONNECT_SECONDS
        conn.autocommit = True
        known = load_digests(self.digests) if self.digests is not None else None
        started = time.perf_counter()
        if near:
            read_when(self.asked)
        self.fetched = fetch_history(conn, known)
        done = time.perf_counter()
        # The round trip for batch.Sizer. Near, the read's own time would count the wait for
        # `asked`: surely near, a third of connecting; else what the read took once asked
        # (the answer waited in the socket: a loaded machine's local server is not called far
        # by a connect that waited for the CPU).
        if not near:
            self.seconds = done - started
        elif connecting < SURE_NEAR_SECONDS:
            self.seconds = connecting / 3
        else:
            self.seconds = max(0.0, done - max(self.released, started))
        return conn

    def release(self) -> None:
        """The run wants the history now."""
        self.released = time.perf_counter()
        self.asked.set()

    def take(self) -> Fetched | None:
        """The rows read ahead, once; None afterwards."""
        fetched, self.fetched = self.fetched, None
        return fetched
