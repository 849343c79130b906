"""Remembered digests of history rows, by the server's md5 of each row's text.

The drift check compares each history row's normalised text with its file (history.digest).
At 10,000 migrations that text is ~14 MB to transfer and normalise on every run. The server
hashes it instead (md5, ~20 ms of server time at that size) and sends 32 characters a row;
a text seen by an earlier run has its digest here, so only new or changed rows are fetched
(history_read). Keyed by content, so nothing here can go stale: a changed row has another
md5. It lives beside the stat cache in supabase/.temp; a malformed file is no cache.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from pathlib import Path

from supamigrate.disk import read_regular
from supamigrate.history.table import HistoryRow, digest

DIGESTS_NAME = "supamigrate-history"
_HEADER = b"supamigrate-history 1\n"
_MD5 = re.compile(r"[0-9a-f]{32}")
_LINE = 32 + 1 + 32 + 1  # `md5 digest\n`


def recorded_row(version: str, name: str, statements: list[str]) -> HistoryRow | None:
    """The row a run records (envelope.record_sql), with the md5 the server will give its
    text (UTF-8, as Supabase stores it; under another server encoding the key never matches,
    and the text is fetched as before): the next run need not fetch the text it just wrote."""
    joined = "\n".join(statements)
    if not joined:
        return None
    import hashlib  # here: OpenSSL's load (3 ms) is for runs that record, not every start

    md5 = hashlib.md5(joined.encode(), usedforsecurity=False).hexdigest()
    return HistoryRow(version, name, None, digest(joined), md5)


def load_digests(path: Path) -> dict[str, bytes]:
    """md5 (hex) -> digest; empty for a missing, foreign or malformed file. Read on every run
    of a big project (10,000 lines), so checked by whole-file operations, not line by line."""
    found = read_regular(path)
    data = found[0] if found is not None else b""
    if not data.startswith(_HEADER) or not _well_formed(data[len(_HEADER) :]):
        return {}
    words = data[len(_HEADER) :].decode("ascii").split()
    return dict(zip(words[0::2], map(bytes.fromhex, words[1::2]), strict=True))


def _well_formed(body: bytes) -> bool:
    """Every line is `<32 hex> <32 hex>`: a space and a newline exactly where each line has
    them and nowhere else, and nothing but lowercase hex besides (66 bytes a line)."""
    lines, rest = divmod(len(body), _LINE)
    return (
        not rest
        and body[32::_LINE] == b" " * lines
        and body[_LINE - 1 :: _LINE] == b"\n" * lines
        and body.count(b" ") == lines
        and body.count(b"\n") == lines
        and not body.translate(None, b"0123456789abcdef \n")
    )


def save_digests(path: Path, rows: Iterable[HistoryRow]) -> None:
    """Remember this run's rows (and only them: the file never grows past the history), if
    that changes the file; atomically, and silently not where nothing can be written. When
    every digest came from the file, it is kept as it is (it may still name rows deleted since:
    they go with the next new row)."""
    rows = list(rows)
    if all(row.remembered for row in rows):
        return
    pairs = {
        row.text_md5: row.digest
        for row in rows
        if row.text_md5 and row.digest and _MD5.fullmatch(row.text_md5)
    }
    if any(not row.text_md5 and (row.digest or row.statements) for row in rows):
        pairs = load_digests(path) | pairs  # read without sums (psql): the file still holds
    if not pairs:
        return
    text = "".join(f"{md5} {digest.hex()}\n" for md5, digest in sorted(pairs.items()))
    content = _HEADER + text.encode("ascii")
    found = read_regular(path)
    if found is not None and found[0] == content:
        return
    from supamigrate.disk import write_atomically

    with contextlib.suppress(OSError):
        write_atomically(path, content)
