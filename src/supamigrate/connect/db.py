"""Connections: one place that opens them and turns driver errors into actionable messages."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from supamigrate.connect.dburl import DbTarget
from supamigrate.connect.masking import mask
from supamigrate.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from psycopg2.extensions import connection

_HINTS = (
    (
        "password authentication failed",
        "check the password in DATABASE_URL or SUPABASE_DB_PASSWORD",
    ),
    ("does not exist", "check the database and user names in the URL"),
    ("Connection refused", "is the server running? For the local database run `invoke db.start`"),
    ("could not translate host name", "check the host name in the URL"),
    (
        "timeout expired",
        "the host did not answer within connect_timeout; check host, port, network",
    ),
    ("no pg_hba.conf entry", "the server refuses this client; check sslmode and allowed networks"),
)


_WHERE = re.compile(r'^connection to server (?:at|on) "[^"]*"(?:, port \d+)? failed: ')
PATIENCE = 0.02  # seconds: longer than connecting on loopback takes (~10 ms)


class Background:
    """Run `work` on a daemon thread now; `result()` waits and returns or raises its outcome.

    psycopg2 releases the GIL while libpq connects, so the caller keeps working meanwhile.
    """

    def __init__(self, work: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, meanwhile: Callable[[], object] | None = None) -> Any:
        """Wait for the outcome. `meanwhile` runs first if the work is still going after
        PATIENCE (a far-away server: connecting takes several round trips), so the wait does
        something the run needs next; nearby, the work is done by then and it does not run."""
        if meanwhile is not None:
            self._thread.join(PATIENCE)
            if self._thread.is_alive():
                with contextlib.suppress(Exception):  # only a speed-up: its errors come later
                    meanwhile()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def discard(self) -> None:
        """Close a finished connection nobody used."""
        if self._value is not None:
            self._value.close()


def connect(
    target: DbTarget,
    *,
    connect_timeout: int = 10,
    application: str = "supamigrate",
    options: str | None = None,
) -> connection:
    """Open a psycopg2 connection, or raise DatabaseUnavailable with a masked one-line reason.
    `options`: startup options in place of the URL's and PGOPTIONS."""
    import psycopg2
    import psycopg2.extensions

    from supamigrate.process.interrupt import connecting, wait_interruptibly

    # Every query waits through our callback, so SIGINT/SIGTERM can cancel a running one.
    psycopg2.extensions.set_wait_callback(wait_interruptibly)
    kwargs: dict[str, Any] = target.connect_kwargs(connect_timeout)
    kwargs.setdefault("application_name", application)
    if options is not None:
        kwargs["options"] = options
    # The URL's own connect_timeout wins, as in libpq, and 0 waits as long as it takes; a
    # value that is not a number (libpq reads it as it can) gets the configured one.
    given = str(kwargs.get("connect_timeout", "")).strip()
    seconds = int(given) if given.isdigit() else connect_timeout
    try:
        with connecting(seconds if seconds > 0 else None):
            conn: connection = psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as exc:
        raise DatabaseUnavailable(describe_connect_error(target, str(exc))) from None
    return conn


@contextmanager
def session(
    target: DbTarget, *, autocommit: bool = False, connect_timeout: int = 10
) -> Iterator[connection]:
    """A connection that commits on success, rolls back on error, and is always closed."""
    conn = connect(target, connect_timeout=connect_timeout)
    conn.autocommit = autocommit
    try:
        yield conn
        if not autocommit:
            conn.commit()
    finally:
        conn.close()  # closing without commit rolls back


def describe_connect_error(target: DbTarget, message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    reason = lines[0] if lines else "unknown error"
    for line in lines:
        if "FATAL" in line or "failed" in line or "could not" in line:
            reason = line
            break
    reason = _WHERE.sub("", reason)  # the URL in our line already says where (psql repeats it)
    hint = next((h for needle, h in _HINTS if needle in message), "check the URL and the server")
    ipv6_only = target.connection_kind == "direct" and target.project_ref is not None
    if ipv6_only and "Network is unreachable" in message:
        hint = (
            "db.<ref>.supabase.co is IPv6-only unless you bought the IPv4 add-on; use the "
            "session pooler URL (dashboard > Connect > Session pooler) from an IPv4-only network"
        )
    return mask(f"Cannot connect to {target.masked_url}: {reason} ({hint}).")
