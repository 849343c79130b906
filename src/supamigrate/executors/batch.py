"""Many migrations per round trip: consecutive envelopes sent as ONE simple-query message.

Each envelope is its own BEGIN ... COMMIT. Inside one simple-query message an explicit COMMIT
commits at once, the server runs the statements in order, and at the first error it skips
the rest of the message. So after an error the migrations before the failing one are
committed, the failing one's transaction is aborted (we send ROLLBACK), and the ones after
it never ran: the semantics of one message per migration, minus the round trips.

Attribution. Each envelope raises a marker notice (`supamigrate: start <version>`) as its
first act after the clean session. Notices between marker k and marker k+1 are migration
k's; an error belongs to the last migration whose marker arrived. No marker at all means
nothing ran: the server parses the whole message before executing any of it, so a syntax
error anywhere aborts all of it. Its position then names the file, and the files before it
are resent without it.

Which files may share a message: only ones that cannot swallow the next envelope. Postgres's
own lexer (pglast's scan) must read the file to its end outside any quote, comment or
dollar quote, and the file must have no backslash (so the session's
standard_conforming_strings, possibly left off on a pooled backend, cannot change how it
lexes). Other files, and very large ones, go in a message of their own, as before.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from supamigrate.connect.masking import mask
from supamigrate.executors.envelope import CLEAN_SESSION, Envelope
from supamigrate.history.table import BEGIN

MARK = "supamigrate: start "
# Drawn per run, in every marker: a migration's own notice spelling a marker (by accident or
# not) is a notice, never a boundary that would report it committed. Each marker also carries
# the server's clock, so each migration's time is measured there, not a share of the message.
NONCE = secrets.token_hex(16)
_MARKED = re.compile(rf"(?:^|\s){re.escape(MARK)}(?P<version>\S+) {NONCE} at (?P<at>[0-9.]+)\s*$")
_CLOCK = "extract(epoch from clock_timestamp())"
END_SQL = (
    f"{BEGIN}SET LOCAL client_min_messages = notice;\n"
    f"DO $supamigrate$BEGIN RAISE NOTICE '{MARK}end {NONCE} at %', {_CLOCK}; END$supamigrate$;\n"
    "COMMIT;\n"
)
# Raised by the first migration's transaction once it made the history table (envelope.py's
# making_table): the migration's own statements come after it.
TABLE_READY = f"supamigrate: history table ready {NONCE}"
# Migrations per message. Far away each message is a round trip (100 ms from a CI runner on
# another continent), so a long run's messages are large; TARGET_SECONDS still bounds them.
MAX_COUNT = 256
GROWTH = 8  # how much larger each message may be than the one before
MAX_BYTES = 256 * 1024  # the largest file that shares a message
MESSAGE_BYTES = 1024 * 1024  # characters of SQL per message (the server parses it whole)
TARGET_SECONDS = 1.0  # a long run prints progress at least about this often
FAR_SECONDS = 0.01  # a round trip this long costs more than a typical migration's own time
NOTICES_KEPT = 200  # per migration: a file raising a million notices cannot fill memory
_OPENING = BEGIN + CLEAN_SESSION


def marker_sql(version: str) -> str:
    """The marker notice. A role default may hide NOTICEs (client_min_messages): the marker
    must arrive anyway, and RESET puts back exactly what RESET ALL had left."""
    if not (version.isascii() and version.isdigit()):  # it goes into a literal: digits only
        raise ValueError(f"not a migration version: {version!r}")
    return (
        "SET LOCAL client_min_messages = notice;\n"
        f"DO $supamigrate$BEGIN RAISE NOTICE '{MARK}{version} {NONCE} at %', {_CLOCK}; "
        "END$supamigrate$;\n"
        "RESET client_min_messages;\n"
    )


def can_share(sql: str) -> bool:
    """Whether this file may share a message with others (see the module docstring)."""
    if len(sql) > MAX_BYTES or "\\" in sql:
        return False
    from pglast.parser import ParseError, split

    try:  # the scanner alone: does every quote, comment and dollar quote close?
        split(sql, with_parser=False)
    except ParseError:
        return False
    return True


@dataclass(frozen=True)
class Batch:
    """The envelopes of one message, its text, and where each file's text starts in it."""

    envelopes: tuple[Envelope, ...]
    text: str
    body_at: tuple[int, ...]

    @classmethod
    def render(cls, envelopes: list[Envelope], prefix: str = "") -> Batch:
        parts, starts, length = [prefix], [], len(prefix)
        for envelope in envelopes:
            message, body_at = envelope.message()
            assert message.startswith(_OPENING), "a transactional envelope starts this way"
            mark = marker_sql(envelope.migration.version)
            parts += [_OPENING, mark, message[len(_OPENING) :]]
            starts.append(length + body_at + len(mark))
            length += len(message) + len(mark)
        parts.append(END_SQL)  # the last migration's end, on the server's clock
        return cls(tuple(envelopes), "".join(parts), tuple(starts))

    def index_at(self, position: int | None) -> int | None:
        """The envelope holding 1-based character `position` of the message, if any."""
        if position is None:
            return None
        found = None
        for index, start in enumerate(self.body_at):
            if start <= position - 1:
                found = index
        return found


class Notices:
    """psycopg2's `conn.notices`: the server's notices, split per migration at the markers.

    Outside a batch every notice goes to `loose`. psycopg2 only needs `append`.
    """

    def __init__(self) -> None:
        # While set (a long no-transaction file runs), loose notices are also passed on as
        # they arrive, masked, so the terminal shows progress.
        self.live: Callable[[str], None] | None = None
        self.loose: list[str] = []
        self._expected: list[str] = []
        self.started: list[str] = []  # versions whose marker arrived, in order
        self._by_version: dict[str, list[str]] = {}
        self._clock: list[float] = []  # the server's clock at each marker (and at the end)
        # Told the index of each migration whose end arrived (the next marker, or the end).
        self.on_end: Callable[[int], None] | None = None
        self.table_ready = False  # TABLE_READY arrived since the last clear()
        self._ended = -1

    def expect(self, versions: list[str]) -> None:
        self.clear()
        self._expected = list(versions)

    def append(self, text: str) -> None:
        if not self.table_ready and text.rstrip().endswith(TABLE_READY):
            # What came before it is the runner's making of the table (an event trigger's
            # warning on its CREATEs), never the migration's. Only the first one is the
            # runner's: a file spelling it again (it can read the message) shows its own.
            self.table_ready = True
            self.loose.clear()
            return
        at = len(self.started)
        marked = _MARKED.search(text) if self._expected else None
        if marked is not None and marked.group("version") in (*self._expected[at : at + 1], "end"):
            self._clock.append(float(marked.group("at")))
            ended = len(self.started) - 1  # the migration before this marker: committed
            if marked.group("version") != "end":
                self.started.append(marked.group("version"))
                self._by_version[marked.group("version")] = []
            if self._ended < ended and self.on_end is not None:  # once (a forged end too)
                self._ended = ended
                self.on_end(ended)
            return
        bucket = self._by_version[self.started[-1]] if self.started else self.loose
        if len(bucket) < NOTICES_KEPT:
            bucket.append(text)
        if self.live is not None and not self.started:
            self.live(mask(text.strip()))

    def of(self, version: str) -> list[str]:
        return self._by_version.get(version, [])

    def ms(self, version: str) -> float | None:
        """From its marker to the next one (or the end), on the server's clock."""
        if version not in self.started:
            return None
        at = self.started.index(version)
        return (self._clock[at + 1] - self._clock[at]) * 1000 if at + 1 < len(self._clock) else None

    def measured(self) -> tuple[int, float]:
        """How many migrations ran from marker to marker, and their seconds on the server."""
        if len(self._clock) < 2:
            return 0, 0.0
        return len(self._clock) - 1, self._clock[-1] - self._clock[0]

    def clear(self) -> None:
        self.table_ready = False
        self.loose.clear()
        self._expected, self.started, self._by_version, self._clock = [], [], {}, []
        self._ended = -1  # the last index told to on_end


@dataclass
class Sizer:
    """How many migrations the next message carries: one first (the terminal shows progress
    at once, and pg_stat_activity shows its SQL: a message shows only its first 1 KB), then up
    to GROWTH times as many each time, up to MAX_COUNT, and fewer when the last message took
    long: near the server, the next message's files are split while the server runs this one,
    and pg_stat_activity's text of a message is at most about TARGET_SECONDS stale. 200 quick
    migrations go in 4 messages (1, 8, 64, 127).

    Far away (a round trip of FAR_SECONDS or more) each message costs a round trip the server
    spends idle, and the splitting of the next files hides in it: after the first message,
    each carries all it may (MAX_COUNT, MESSAGE_BYTES). Nothing waits for a message's end:
    each migration is reported as its COMMIT's marker arrives, and application_name names the
    running one (envelope.py). 200 at 100 ms: 1, then 199."""

    count: int = 1
    cap: int | None = None  # a one-off limit after a message nothing of which ran
    # The round trip, as the history read took it: a message's time less it is the
    # migrations' own (100 ms far away would otherwise count as 12 ms a migration of 8).
    rtt: float = 0.0
    _started: float = field(default=0.0, repr=False)

    def take(self) -> int:
        self._started = time.perf_counter()
        wanted = self.count if self.cap is None else min(self.count, self.cap)
        self.cap = None
        return max(1, wanted)

    def done(self, ran: int, measured: tuple[int, float] | None = None) -> None:
        """`measured`: how many migrations the server's clock timed, and their seconds (the
        markers'); else the message's time less a round trip stands in for theirs."""
        if self.rtt >= FAR_SECONDS:
            self.count = MAX_COUNT
            return
        if measured and measured[0]:
            per_migration = measured[1] / measured[0]
        else:
            elapsed = time.perf_counter() - self._started
            per_migration = max(elapsed - self.rtt, elapsed / 2) / max(ran, 1)
        by_time = int(TARGET_SECONDS / per_migration) if per_migration > 0 else MAX_COUNT
        self.count = max(1, min(self.count * GROWTH, MAX_COUNT, by_time))


def warm_up() -> None:
    """While a far-away server answers: what a run with anything pending needs first (the
    parser's import, ~17 ms, and the splitter's patterns). A run with nothing pending pays
    for it only where it outlasts the wait."""
    import pglast.parser  # noqa: F401

    import supamigrate.sql.clisplit  # noqa: F401


def prepare(envelope: Callable[[int], Envelope], indexes: range) -> None:
    for index in indexes:
        envelope(index)
