"""Migration files on disk: the sources people write and the files in supabase/migrations.

How sources get their versions in supabase/migrations is mirror.py's business. Files made
directly in supabase/migrations are first-class. Nothing here touches a database.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from supamigrate.brief import printable
from supamigrate.errors import ConfigError, UsageError
from supamigrate.history.table import digest
from supamigrate.project.listing import child, children, list_entries, opened
from supamigrate.project.statcache import Known, StatCache, known, raw_digest
from supamigrate.sql.sqlsplit import strip_bom

# ASCII digits only: Arabic-Indic or other Unicode digits are not a migration number.
SOURCE_NAME = re.compile(r"^(?P<number>[0-9]+)_(?P<name>[a-z0-9_]+)\.sql$")
# The Supabase CLI's own pattern (pkg/migration/file.go); other files are skipped with a warning.
CLI_NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.*)\.sql$")
_VERSION_FORMAT = "%Y%m%d%H%M%S"
_CHUNK = 1 << 16
# The longest name part a source can have: its mirror `<14 digits>_<name>.sql` and the temp
# file the mirror writes first (`.<mirror name>.` + 8 characters) must fit in 255 bytes.
MAX_NAME = 255 - len("20251201000000_.sql") - len("..") - 8


class FileText:
    """A migration file's bytes and text: read already, or vouched for by the stat cache
    (statcache.py) and read only when a step needs them, then checked against its digest."""

    __slots__ = ("_data", "_norm", "_size", "_text", "digests", "path")

    def __init__(self, path: Path, data: bytes | None, digests: str | None = None) -> None:
        self.path = path
        # `raw norm` as the stat cache holds them (statcache.known), kept as they are: most
        # files of a big project's run are only compared by them, never read.
        self.digests = digests
        self._data = data
        self._text: str | None = None
        self._norm: bytes | None = None
        self._size: int | None = None

    @property
    def known(self) -> Known | None:
        """What the stat cache vouched for (or learnt when the file was read)."""
        return None if self.digests is None else known(self.digests)

    @property
    def data(self) -> bytes:
        if self._data is None:
            data = _read_bytes(self.path)
            if self.digests is not None and raw_digest(data) != self.digests[:32]:
                raise UsageError(f"{self.path} changed while supamigrate ran: run it again.")
            self._data = data
        return self._data

    @property
    def size(self) -> int:
        """Bytes, without reading them (0 if the file cannot be asked: reading says why)."""
        if self._data is not None:
            return len(self._data)
        if self._size is None:
            try:
                self._size = self.path.stat().st_size
            except OSError:
                self._size = 0
        return self._size

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = read_utf8(self.path, self.data)
        return self._text

    @property
    def raw(self) -> str:
        """The digest of the bytes (statcache.raw_digest), without reading them if vouched for."""
        return self.digests[:32] if self.digests is not None else raw_digest(self.data)

    @property
    def norm(self) -> bytes:
        """history.digest of the text: what the drift check compares with a history row."""
        if self._norm is None:
            vouched = self.digests
            if vouched is not None and vouched[33] != "-":
                self._norm = bytes.fromhex(vouched[33:])
            else:
                self._norm = digest(self.text)
        return self._norm


class SourceFile(NamedTuple):
    """A source in migrations/. A named tuple, not a frozen dataclass: made 10,000 times by a
    run with nothing to do, where a frozen dataclass's __init__ (object.__setattr__ per field,
    and __post_init__) costs ~1.2 us more each."""

    number: int
    name: str
    path: Path
    body: FileText
    # Kept, not computed: the mirror asks for them ten times per source, and Path.name and
    # Path.stem are computed on every call (10,000 sources: ~50 ms). The listing has the name.
    file_name: str
    label: str  # file_name without .sql

    @property
    def content(self) -> bytes:
        return self.body.data


class MigrationFile(NamedTuple):
    """A file in supabase/migrations: what gets applied, in version order. (A named tuple:
    made per migration on every run, see SourceFile.)"""

    version: str
    name: str
    path: Path
    body: str | FileText  # the text, or a FileText that reads it when first asked
    label: str  # what people call it: NNN_name for mirrored sources, else the file stem

    @property
    def sql(self) -> str:
        return self.body if isinstance(self.body, str) else self.body.text

    @property
    def text_digest(self) -> bytes:
        """history.digest(self.sql), from the stat cache when it vouches for the file."""
        return digest(self.body) if isinstance(self.body, str) else self.body.norm


# A named tuple made by tuple.__new__, not its generated Python __new__: ~0.2 us less each,
# for what is made per migration on every run (10,000 at a time). The fields go in order.
_tuple = tuple.__new__


@functools.lru_cache(maxsize=8)
def _base_time(base: str) -> datetime:
    return datetime.strptime(base, _VERSION_FORMAT)


def version_for(number: int, base: str) -> str | None:
    """The legacy version rule (base + NNN seconds): only to recognise mirrors written by it.
    None where the rule gives no 14-digit timestamp (a number that large never had one)."""
    try:
        version = (_base_time(base) + timedelta(seconds=number)).strftime(_VERSION_FORMAT)
    except (OverflowError, ValueError):
        return None
    return version if len(version) == 14 else None


def read_plain(path: str) -> tuple[bytes, os.stat_result]:
    """A file d_type called regular, and its fstat taken before reading: open (never blocking,
    should it have become a FIFO since), check it still is one, read it. One open and a read
    per 64 KiB, where Path.read_bytes pays for buffered-IO objects and the careful path a
    stat too: it is done 20,000 times in a run that finds no help in the stat cache."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(descriptor)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is not a regular file: replace it with one, or remove it.")
        parts = [os.read(descriptor, _CHUNK)]
        while len(parts[-1]) == _CHUNK:
            parts.append(os.read(descriptor, _CHUNK))
        return (parts[0] if len(parts) == 1 else b"".join(parts)), st
    finally:
        os.close(descriptor)


def read_utf8(path: Path, content: bytes | None = None) -> str:
    """The file's text without a leading BOM: the CLI strips it, and the server would not."""
    data = path.read_bytes() if content is None else content
    try:
        return strip_bom(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not valid UTF-8 (byte {exc.start}): re-save it as UTF-8 and retry."
        ) from None


def discover_sources(directory: Path, cache: StatCache | None = None) -> list[SourceFile]:
    """Every NNN_name.sql in `directory`, sorted; bad names, duplicates, non-UTF-8 are errors.
    Files the stat cache vouches for are not read (nor checked again) until needed."""
    if not directory.is_dir():
        raise ConfigError(
            f"Migrations directory {directory} does not exist: create it, or set "
            "migrations_dir in [tool.supamigrate]."
        )
    with opened(directory) as fd:
        sources = _sources(directory, cache, fd)
    return [sources[n] for n in sorted(sources)]


def _sources(directory: Path, cache: StatCache | None, fd: int | None) -> dict[int, SourceFile]:
    sources: dict[int, SourceFile] = {}
    prefix = f"{directory}/"
    make = children(directory)
    listing = list_entries(directory)  # a dangling link or a FIFO is read, and fails loudly
    # The plain files the cache vouches for, all at once (statcache.vouch_all: one call).
    vouched = {} if cache is None else cache.vouch_all(prefix, _plain(listing), fd)
    match, find = SOURCE_NAME.match, vouched.get
    for name, plain in listing.items():
        if name[0] == ".":
            continue
        matched = match(name)
        if not matched:
            raise UsageError(
                f"{make(name)}: migration file names must look like 001_create_tables.sql "
                "(digits, underscore, lowercase letters/digits/underscores, .sql): rename it."
            )
        digits, part = matched.groups()
        if len(part) > MAX_NAME:  # its mirror (and temp) name must fit on disk
            raise UsageError(
                f"{name[:40]}...: the name part is {len(part)} characters; its "
                f"mirror file needs it at most {MAX_NAME} (file names stop at 255 bytes): "
                "shorten it."
            )
        number = int(digits)
        path = make(name)
        if number in sources:
            raise UsageError(
                f"{path} and {sources[number].path} share the number {number}: "
                "renumber one of them (numbers must be unique)."
            )
        digests = find(name)
        if digests is None:
            body = read_text(path, plain, cache, prefix + name)
        else:
            body = FileText(path, None, digests)
        sources[number] = _tuple(SourceFile, (number, part, path, body, name, name[:-4]))
    return sources


def _plain(listing: Mapping[str, bool]) -> list[str]:
    """The names of a listing that d_type called plainly regular files (not hidden)."""
    return [name for name, plain in listing.items() if plain and name[0] != "."]


def file_text(path: Path, plain: bool, cache: StatCache | None, key: str) -> FileText:
    """A listed file, vouched for by the cache, or read (checked as UTF-8) and learnt by it.
    `key`: the path as a string (str(path) formats it anew: ~1.5 us, 20,000 times)."""
    digests = cache.digests(key) if plain and cache is not None else None
    if digests is not None:
        return FileText(path, None, digests)
    return read_text(path, plain, cache, key)


def read_text(path: Path, plain: bool, cache: StatCache | None, key: str) -> FileText:
    """A listed file the cache did not vouch for: read, checked as UTF-8, learnt."""
    data, st = read_listed(path, plain)
    body = FileText(path, data)
    text = body.text  # not UTF-8: refused now, not when the text is first asked for
    learnt = None if st is None or cache is None else cache.learn(key, st, data, text)
    if learnt is not None:
        body.digests = f"{learnt.raw} {learnt.norm or '-'}"
    return body


def try_read_plain(path: str, plain: bool) -> tuple[bytes, os.stat_result] | None:
    """`read_plain` for a file the listing saw as plainly regular; None for anything else, or
    when that fails: the caller then goes its careful way, which says what is wrong."""
    if not plain:
        return None
    try:
        return read_plain(path)
    except (OSError, UsageError):
        return None


def read_listed(path: Path, plain: bool) -> tuple[bytes, os.stat_result | None]:
    """The bytes of a listed file, the quick way when d_type said regular, else `_read_bytes`;
    with the quick way also its fstat (the stat cache learns only from that)."""
    if plain:
        try:
            return read_plain(str(path))
        except OSError:
            pass  # gone or changed since the listing: the careful way says what is wrong
    return _read_bytes(path), None


def _read_bytes(path: Path) -> bytes:
    """A regular file's bytes; a FIFO, device or socket is refused, never waited on."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UsageError(f"{path} is not a regular file: replace it with one, or remove it.")
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"{path} cannot be read ({exc.strerror}): fix the file or its permissions."
        ) from None


def discover_migrations(
    mirror_dir: Path,
    labels: Mapping[str, str],
    skip: Collection[str] = (),
    listing: Mapping[str, bool] | None = None,
    cache: StatCache | None = None,
    unread: bool = False,
) -> tuple[list[MigrationFile], list[str]]:
    """Everything applicable in supabase/migrations, in version order, plus skip warnings.

    `labels` names versions after their sources (NNN_name). Files named in `skip` (the mirrors
    of sources, whose text the caller has; names the mirror gives, `<digits>_<source name>.sql`)
    are checked for a shared version but not read, and left out of the result. `listing`:
    the directory's list_entries, when the caller has it. `unread`: each file is read (and
    checked) when its text is first asked for, not now (lint reads each in the process that
    lints it).
    """
    migrations: dict[str, MigrationFile] = {}
    names: dict[str, str] = {}  # version -> file name, skipped ones too
    warnings: list[str] = []
    if not mirror_dir.is_dir():
        return [], warnings
    entries = list_entries(mirror_dir) if listing is None else listing
    if entries.keys() == skip and len({n.partition("_")[0] for n in entries}) == len(entries):
        return [], warnings  # only mirror copies, no two sharing a version (the usual folder)
    for name, plain in entries.items():
        skipped = name in skip
        if skipped:  # a mirror's own name, `<digits>_<[a-z0-9_]+>.sql`: no check can fail
            version = name.partition("_")[0]
        else:
            # Path.suffix: ".sql" has none; `.SQL` is warned of below, as the CLI does
            if not name.lower().endswith(".sql") or name == ".sql":
                continue
            match = CLI_NAME.match(name)
            if not match:
                shown = printable(name)
                warnings.append(f"Skipping {shown}: the Supabase CLI needs <timestamp>_name.sql.")
                continue
            if printable(name) != name:  # its name goes into history and onto the terminal
                raise UsageError(
                    f"{mirror_dir}/{printable(name)}: the file name holds control characters or "
                    "bytes that are not UTF-8: rename it. Nothing was applied."
                )
            version = match.group("version")
        if version in names:
            raise UsageError(
                f"{name} and {names[version]} share version {version}: "
                "remove or renumber one of them."
            )
        names[version] = name
        if skipped:
            continue
        path = child(mirror_dir, name)
        if unread:
            body = FileText(path, None)
        else:
            body = file_text(path, plain, cache, f"{mirror_dir}/{name}")
        label = labels.get(version, name[:-4])
        part = name[len(version) + 1 : -4]  # CLI_NAME's name: between `<version>_` and .sql
        migrations[version] = MigrationFile(version, part, path, body, label)
    ordered = sorted(migrations.values(), key=lambda m: m.version)  # lexical, as the CLI
    return ordered, warnings
