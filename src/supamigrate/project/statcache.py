"""The stat cache: files read and checked by an earlier run, vouched for by their stat.

A run with nothing to do would otherwise read every source and mirror file (20,000 at 10,000
migrations) to learn what it already knew. As git's index does, the cache keeps per file its
stat signature (device, inode, size, mtime and ctime in ns) and the digests of its bytes and
of its normalised text (history.digest). A file whose signature is unchanged is not read
until something needs its text; the drift check and the mirror compare the digests.

Why a file it vouches for has the bytes it had:
- every write changes ctime, which no user call sets back (touch -d, tar and cp -p set mtime);
- a write in the same timestamp tick as the read the cache remembers would leave the
  signature alone ("racy"): entries stamped within RACY_NS of the cache file's own mtime (the
  same filesystem's clock, so no skew between two clocks) are read again;
- text read later, when a step needs it, must have the digest the cache promised, or the run
  stops (files.FileText).
It is a hint: a missing, unreadable, malformed or foreign cache is ignored and rewritten. It
lives in supabase/.temp, where the Supabase CLI keeps its own per-machine state and which
`supabase init` git-ignores; it holds paths and digests, never SQL or secrets.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import NamedTuple

from supamigrate.disk import read_regular
from supamigrate.history.table import digest

try:  # hashlib would also load OpenSSL (3 ms of every start) for one blake2b
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without the module
    from hashlib import blake2b

CACHE_NAME = "supamigrate-files"
_HEADER = b"supamigrate-files 3\n"
# Wider than any filesystem's timestamp tick in use (FAT's is 2 s, ext4's a few ms).
RACY_NS = 2_000_000_000
_DIGESTS = re.compile(r"[0-9a-f]{32} (?:[0-9a-f]{32}|-)")
_FORMAT_BITS = 0o170000  # stat.S_IFMT's mask, without a function call per file


class Known(NamedTuple):  # not a frozen dataclass: made 20,000 times a run, 3x cheaper
    """What the cache vouches for, in hex: the digests of the bytes and of the normalised text
    (compared as they are read from the cache: a mirror copy is compared by bytes only)."""

    raw: str
    norm: str | None  # None: recorded from bytes only


# A named tuple made by tuple.__new__, not its generated Python __new__: ~0.2 us less each,
# for what is made per migration on every run (10,000 at a time). The fields go in order.
_tuple = tuple.__new__


def known(digests: str) -> Known:
    """What `StatCache.digests` gave, as a Known."""
    return _tuple(Known, (digests[:32], None if digests[33] == "-" else digests[33:]))


def raw_digest(data: bytes) -> str:
    return blake2b(data, digest_size=16).hexdigest()


def _signature(st: os.stat_result) -> str:
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} "


class StatCache:
    """Load once per run, ask `vouch_all` per folder (`digests` per file), `learn` what was
    read, `save` right after.

    The file: a header line, then per file two lines, its path and `signature raw-digest
    norm-digest` (a path holding a newline is never remembered), so one split reads it all.
    Entries are parsed only when asked for: most runs ask for each once.
    """

    def __init__(self, path: Path | None, entries: dict[str, str], racy_from: int = 0) -> None:
        self.path = path  # None: never written, learns nothing
        self._old = entries
        self._racy_from = racy_from
        self._new: dict[str, str] = {}
        self._learnt = False

    @classmethod
    def off(cls) -> StatCache:
        """Vouches for nothing and writes nothing (library callers, tests of the slow path)."""
        return cls(None, {})

    @classmethod
    def load(cls, path: Path) -> StatCache:
        found = read_regular(path)
        if found is None:
            return cls(path, {})
        data, written = found
        return cls(path, _parse(data), written - RACY_NS)

    def read_only(self) -> StatCache:
        """The same entries, for a run that promises to write nothing."""
        return StatCache(None, self._old, self._racy_from)

    def digests(self, path: str) -> str | None:
        """`raw norm` (norm `-` if none), as the cache holds them, if `path`'s stat is what the
        cache remembers."""
        return self.vouch_all("", (path,), None).get(path)

    def vouch_all(self, prefix: str, names: Iterable[str], dir_fd: int | None) -> dict[str, str]:
        """Entry name -> `raw norm` (norm `-` if none), for each of `names` (entries of one
        directory: its path is `prefix`, ending in `/`) whose stat is what the cache remembers.
        With `dir_fd` (the directory, open) each is stat'ed by its name there, without walking
        the path again. One call per directory, not per file: asked about 20,000 files by a
        run with nothing to do, where every step of the loop is counted."""
        old, new, racy = self._old, self._new, self._racy_from
        lookup = old.get
        stat_at, regular = os.stat, stat.S_IFREG
        vouched: dict[str, str] = {}
        for name in names:
            path = prefix + name
            rest = lookup(path)
            if rest is None:
                continue
            try:  # not Path.lstat: ~2 us a file
                if dir_fd is None:
                    st = os.lstat(path)
                else:
                    st = stat_at(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            mtime, ctime = st.st_mtime_ns, st.st_ctime_ns
            if st.st_mode & _FORMAT_BITS != regular or mtime >= racy or ctime >= racy:
                continue  # not a plain file now, or stamped as late as the cache (racy)
            sig = f"{st.st_dev} {st.st_ino} {st.st_size} {mtime} {ctime} "
            if rest.startswith(sig):
                new[path] = rest
                vouched[name] = rest[len(sig) :]
        if not _well_formed(vouched.values()):  # then entry by entry: only those are dropped
            for name in [n for n, d in vouched.items() if _DIGESTS.fullmatch(d) is None]:
                del vouched[name], new[prefix + name]
        return vouched

    def learn(self, path: str, st: os.stat_result, data: bytes, text: str | None) -> Known | None:
        """Remember bytes just read (st: fstat of the open file, taken before reading). A file
        stamped within RACY_NS of now may be written again in the same tick: not remembered."""
        if self.path is None:
            return None
        known = Known(raw_digest(data), None if text is None else digest(text).hex())
        stamped = max(st.st_mtime_ns, st.st_ctime_ns)
        if "\n" not in path and stamped < time.time_ns() - RACY_NS:
            self._new[path] = f"{_signature(st)}{known.raw} {known.norm or '-'}"
            self._learnt = True
        return known

    def save(self) -> None:
        """Write what this run vouched for and learnt, if it learnt anything (atomically).
        Entries of files this run did not look at are dropped, so the cache never grows."""
        if self.path is None or not (self._learnt or self._new.keys() != self._old.keys()):
            return
        text = "".join(f"{path}\n{rest}\n" for path, rest in self._new.items())
        from supamigrate.disk import write_atomically

        with contextlib.suppress(OSError):  # read-only: the next run reads the files again
            write_atomically(self.path, _HEADER + text.encode(errors="surrogateescape"))


def _well_formed(digests: Collection[str]) -> bool:
    """Each is `raw norm` as _DIGESTS says (32 hex digits, a space, 32 more or `-`), checked
    all at once: the regex per entry was a fifth of vouching for a file. True only when all
    have one length, the space (and `-`) where that length puts them and nowhere else, and hex
    digits besides."""
    lengths = set(map(len, digests))
    if not lengths:
        return True
    if len(lengths) > 1 or not lengths <= {65, 34}:
        return False
    (length,) = lengths
    joined, count = "".join(digests), len(digests)
    dashes = count if length == 34 else 0
    return (
        joined.isascii()
        and joined[32::length] == " " * count
        and (length == 65 or joined[33::length] == "-" * count)
        and joined.count(" ") == count
        and joined.count("-") == dashes
        and not joined.encode().translate(None, b"0123456789abcdef -")
    )


def _parse(data: bytes) -> dict[str, str]:
    """path -> the rest of its entry; a foreign or malformed file is no cache at all. (One
    split, no split per entry: 20,000 entries are read on every run of a big project.)"""
    if not data.startswith(_HEADER):
        return {}
    lines = data[len(_HEADER) :].decode(errors="surrogateescape").split("\n")
    if len(lines) % 2 != 1 or lines[-1]:  # path and rest lines in pairs, then the last newline
        return {}
    return dict(zip(lines[0:-1:2], lines[1::2], strict=True))
