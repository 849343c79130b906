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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from supamigrate.errors import ConfigError, UsageError
from supamigrate.sqlsplit import strip_bom

# ASCII digits only: Arabic-Indic or other Unicode digits are not a migration number.
SOURCE_NAME = re.compile(r"^(?P<number>[0-9]+)_(?P<name>[a-z0-9_]+)\.sql$")
# The Supabase CLI's own pattern (pkg/migration/file.go); other files are skipped with a warning.
CLI_NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.*)\.sql$")
_VERSION_FORMAT = "%Y%m%d%H%M%S"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class SourceFile:
    number: int
    name: str
    path: Path
    content: bytes
    # Kept, not computed: the mirror asks for them ten times per source, and Path.name and
    # Path.stem are computed on every call (10,000 sources: ~50 ms).
    file_name: str = field(init=False, repr=False, compare=False)
    label: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "file_name", self.path.name)
        object.__setattr__(self, "label", self.path.stem)


@dataclass(frozen=True)
class MigrationFile:
    """A file in supabase/migrations: what gets applied, in version order."""

    version: str
    name: str
    path: Path
    sql: str
    label: str  # what people call it: NNN_name for mirrored sources, else the file stem


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


def sql_files(directory: Path) -> list[Path]:
    """The directory's entries, sorted, without a stat per entry (os.scandir's d_type)."""
    return [child(directory, name) for name in list_entries(directory)]


def child(directory: Path, name: str) -> Path:
    """`directory / name` for one entry name from a listing, without parsing it again.

    `/` parses its operand as a path (~4 us): 40 ms of a run that lists 10,000 migrations.
    pathlib's own iterdir() builds children with `_make_child_relpath`; where a Python
    lacks it, the plain operator does the same.
    """
    make = getattr(directory, "_make_child_relpath", None)
    return directory / name if make is None else make(name)


def list_entries(directory: Path) -> dict[str, bool]:
    """Entry name -> whether d_type says plainly a regular file (no symlink), sorted by name.

    Directories are left out. A plain file can be opened and read without a stat first
    (`read_plain`); anything else (a link, a FIFO, a socket) goes the careful way.
    """
    try:
        with os.scandir(directory) as entries:
            found = {e.name: _is_plain(e) for e in entries if not _is_dir(e)}
    except OSError as exc:
        raise UsageError(f"{directory} cannot be listed ({exc.strerror}): fix it.") from None
    return {name: found[name] for name in sorted(found)}


def _is_plain(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop: a file to refuse by name, not a crash
        return False


def read_plain(path: str) -> bytes:
    """A file d_type called regular: open (never blocking, should it have become a FIFO since),
    check it still is one, read it. One open and a read per 8 KiB, where Path.read_bytes pays
    for buffered-IO objects and the careful path a stat too: it is done 20,000 times a run."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise UsageError(f"{path} is not a regular file: replace it with one, or remove it.")
        parts = [os.read(descriptor, _CHUNK)]
        while len(parts[-1]) == _CHUNK:
            parts.append(os.read(descriptor, _CHUNK))
        return parts[0] if len(parts) == 1 else b"".join(parts)
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


def discover_sources(directory: Path) -> list[SourceFile]:
    """Every NNN_name.sql in `directory`, sorted; bad names, duplicates, non-UTF-8 are errors."""
    if not directory.is_dir():
        raise ConfigError(
            f"Migrations directory {directory} does not exist: create it, or set "
            "migrations_dir in [tool.supamigrate]."
        )
    sources: dict[int, SourceFile] = {}
    for name, plain in list_entries(directory).items():  # a dangling link or a FIFO is read,
        if name.startswith("."):  # and fails loudly
            continue
        path = child(directory, name)
        match = SOURCE_NAME.match(name)
        if not match:
            raise UsageError(
                f"{path}: migration file names must look like 001_create_tables.sql "
                "(digits, underscore, lowercase letters/digits/underscores, .sql): rename it."
            )
        number = int(match.group("number"))
        if number in sources:
            raise UsageError(
                f"{path} and {sources[number].path} share the number {number}: "
                "renumber one of them (numbers must be unique)."
            )
        content = read_file(path, plain)
        read_utf8(path, content)
        sources[number] = SourceFile(number, match.group("name"), path, content)
    return [sources[n] for n in sorted(sources)]


def try_read_plain(path: str, plain: bool) -> bytes | None:
    """`read_plain` for a file the listing saw as plainly regular; None for anything else, or
    when that fails: the caller then goes its careful way, which says what is wrong."""
    if not plain:
        return None
    try:
        return read_plain(path)
    except (OSError, UsageError):
        return None


def read_file(path: Path, plain: bool) -> bytes:
    """The bytes of a listed file: the quick way when d_type said regular, else `_read_bytes`."""
    if plain:
        try:
            return read_plain(str(path))
        except OSError:
            pass  # gone or changed since the listing: the careful way says what is wrong
    return _read_bytes(path)


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
) -> tuple[list[MigrationFile], list[str]]:
    """Everything applicable in supabase/migrations, in version order, plus skip warnings.

    `labels` names versions after their sources (NNN_name). Files named in `skip` (the mirrors
    of sources, whose text the caller has) are checked for a shared version but not read, and
    left out of the result. `listing`: the directory's list_entries, when the caller has it.
    """
    migrations: dict[str, MigrationFile] = {}
    names: dict[str, str] = {}  # version -> file name, skipped ones too
    warnings: list[str] = []
    if not mirror_dir.is_dir():
        return [], warnings
    for name, plain in (list_entries(mirror_dir) if listing is None else listing).items():
        if not name.endswith(".sql") or name == ".sql":  # Path.suffix: ".sql" itself has none
            continue
        match = CLI_NAME.match(name)
        if not match:
            warnings.append(f"Skipping {name}: the Supabase CLI needs <timestamp>_name.sql.")
            continue
        version = match.group("version")
        if version in names:
            raise UsageError(
                f"{name} and {names[version]} share version {version}: "
                "remove or renumber one of them."
            )
        names[version] = name
        if name in skip:
            continue
        path = child(mirror_dir, name)
        sql = read_utf8(path, read_file(path, plain))
        label = labels.get(version, name[:-4])
        migrations[version] = MigrationFile(version, match.group("name"), path, sql, label)
    ordered = sorted(migrations.values(), key=lambda m: m.version)  # lexical, as the CLI
    return ordered, warnings
