"""The mirror: `migrations/NNN_name.sql` kept byte-identical in `supabase/migrations/`.

A source mirrored for the first time gets a version the way `supabase migration new` makes
one: the current UTC second, strictly after every version already in supabase/migrations.
From then on the mirror file is the record and the version never changes, also when the
source is renamed, renumbered or edited. `supabase/supamigrate-mirror.txt` lists the files the
mirror wrote (and from which source); only those are ever rewritten, renamed or deleted.
Nothing here touches a database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from supamigrate.brief import few
from supamigrate.disk import write_atomically
from supamigrate.errors import ConfigError, UsageError
from supamigrate.project.files import (
    CLI_NAME,
    MigrationFile,
    SourceFile,
    discover_migrations,
    try_read_plain,
)
from supamigrate.project.listing import children, list_entries, opened
from supamigrate.project.manifest import HEADER, MANIFEST_NAME, manifest_text, parse_manifest
from supamigrate.project.mirror_items import MirrorItem as MirrorItem
from supamigrate.project.mirror_items import MirrorPlan as MirrorPlan
from supamigrate.project.mirror_items import MirrorState as MirrorState
from supamigrate.project.pairing import Contents, pair_sources
from supamigrate.project.statcache import StatCache, raw_digest

_FORMAT = "%Y%m%d%H%M%S"

# A named tuple made by tuple.__new__, not its generated Python __new__: ~0.2 us less each,
# for what is made per migration on every run (10,000 at a time). The fields go in order.
_tuple = tuple.__new__


def utc_now(environ: Mapping[str, str] | None = None) -> datetime:
    """Now, or SOURCE_DATE_EPOCH (the reproducible-builds convention) when it is set."""
    epoch = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "")
    if epoch.strip():
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except ValueError:
            raise ConfigError(f"SOURCE_DATE_EPOCH {epoch!r} is not whole seconds.") from None
    return datetime.now(UTC)


def plan_mirror(
    sources: list[SourceFile],
    mirror_dir: Path,
    *,
    now: datetime,
    assign: bool,
    legacy_base: str | None = None,
    cache: StatCache | None = None,
) -> MirrorPlan:
    """What the mirror should be. `assign=False` (CI) leaves unmirrored sources without one.
    `cache`: the stat cache that read the sources, asked about their mirror copies too."""
    listing = list_entries(mirror_dir) if mirror_dir.is_dir() else {}
    manifest = mirror_dir.parent / MANIFEST_NAME
    manifest_now = manifest.read_text(encoding="utf-8") if manifest.is_file() else None
    recorded = parse_manifest(manifest, manifest_now or "")
    cli_name = CLI_NAME.match  # (a name the manifest lists has passed it: no second match)
    on_disk = {name: plain for name, plain in listing.items() if name in recorded or cli_name(name)}
    pairs, adopted = pair_sources(sources, recorded, Contents(mirror_dir, on_disk), legacy_base)
    taken: set[str] | None = None  # versions in use: made only when a source needs one
    items: list[MirrorItem] = []
    prefix = f"{mirror_dir}/"
    with opened(mirror_dir) as fd:  # the paired copies the cache vouches for, all at once
        copies = [name for name in pairs.values() if on_disk.get(name)]
        vouched = {} if cache is None else cache.vouch_all(prefix, copies, fd)
    make = children(mirror_dir)
    here = _Here(mirror_dir, prefix, make, on_disk, recorded, cache, vouched)
    ok, pair, vouch, listed = MirrorState.OK, pairs.get, vouched.get, recorded.get
    for source in sources:
        current = pair(source.file_name)
        if current is not None:
            # The common case inline (10,000 times a run): the copy has its name, the cache
            # vouches for its bytes, they are the source's, and the manifest lists the pair.
            version = current.partition("_")[0]
            digests = vouch(current)
            if (
                digests is not None
                and current == f"{version}_{source.name}.sql"
                and digests[:32] == source.body.raw
                and listed(current) == source.file_name
            ):
                item = (ok, source, make(current), None, version)
                items.append(_tuple(MirrorItem, item))
            else:
                items.append(_existing(source, current, here))
        elif assign:
            if taken is None:
                taken = {name.split("_", 1)[0] for name in [*on_disk, *recorded]}
            version = _next_version(taken, now)
            taken.add(version)
            target = mirror_dir / f"{version}_{source.name}.sql"
            items.append(MirrorItem(MirrorState.NEW, source, target, version=version))
        else:
            items.append(MirrorItem(MirrorState.NEW, source, None))
    paired = set(pairs.values())
    for name in sorted(recorded.keys() & on_disk.keys() - paired):  # (key views: no copies)
        items.append(MirrorItem(MirrorState.ORPHANED, None, None, mirror_dir / name))
    _refuse_collisions(items, mirror_dir, on_disk, recorded.keys() | adopted)
    text: str | None = manifest_text(  # a target is named `<version>_<source name>.sql`
        (f"{i.version}_{i.source.name}.sql", i.source.file_name)
        for i in items
        if i.source is not None and i.target is not None
    )
    if manifest_now is None and text == HEADER:
        text = None  # nothing mirrored and no manifest: a repo that never asked gets none
    return MirrorPlan(mirror_dir, tuple(items), text, manifest_now, listing, cache)


def apply_mirror(plan: MirrorPlan) -> list[MirrorItem]:
    """Make the mirror as planned; return what changed. Files first, then the manifest."""
    require_versions(plan)
    for item in plan.changed:
        # Two runners started together plan the same change; the second finds it made.
        if item.state is MirrorState.ORPHANED and item.current is not None:
            item.current.unlink(missing_ok=True)
            continue
        assert item.source is not None and item.target is not None
        if item.state is MirrorState.RENAMED and item.current is not None:
            try:
                item.current.replace(item.target)  # one atomic step: never two files, one version
            except FileNotFoundError:
                if not item.target.exists():
                    raise
        if item.state is not MirrorState.RELINKED:
            write_atomically(item.target, item.source.content)
    if plan.manifest_text is not None and plan.manifest_now != plan.manifest_text:
        write_atomically(plan.manifest, plan.manifest_text.encode())
    return plan.changed


def require_versions(plan: MirrorPlan) -> None:
    """CI assigns no versions: an unmirrored source must be mirrored and committed first."""
    unassigned = [i.source.file_name for i in plan.items if i.source and i.target is None]
    if unassigned:
        raise UsageError(
            f"{few(unassigned)} not mirrored into {plan.mirror_dir} yet, and with CI=true "
            "nothing assigns a new version: run `invoke mirror` on your machine and commit "
            f"supabase/migrations and supabase/{MANIFEST_NAME}."
        )


def mirrored_migrations(
    plan: MirrorPlan, *, unread: bool = False
) -> tuple[list[MigrationFile], list[str]]:
    """Everything in supabase/migrations as it is after the plan (applied or not); with
    `unread`, the files there are read when first asked for (discover_migrations)."""
    require_versions(plan)
    sourced: dict[str, MigrationFile] = {}  # sources are the truth, written or not
    labels: dict[str, str] = {}
    names: set[str] = set()  # the mirror copies' names: `<version>_<source name>.sql`
    gone: list[str] = []  # a renamed or removed file's old name is gone after apply
    for item in plan.items:  # one pass: 10,000 items on every run of a big project
        source, version = item.source, item.version
        if item.current is not None:
            gone.append(item.current.name.split("_", 1)[0])
        if source is not None and item.target is not None and version is not None:
            name, label = source.name, source.label
            sourced[version] = _tuple(
                MigrationFile, (version, name, source.path, source.body, label)
            )
            labels[version] = label
            names.add(f"{version}_{name}.sql")
    found, warnings = discover_migrations(
        plan.mirror_dir, labels, skip=names, listing=plan.listing, cache=plan.cache, unread=unread
    )
    by_version = {m.version: m for m in found}
    for version in gone:
        by_version.pop(version, None)
    by_version.update(sourced)
    return [by_version[v] for v in sorted(by_version)], warnings


class _Here(NamedTuple):
    """What `_existing` asks about supabase/migrations, the same for every source."""

    mirror_dir: Path
    prefix: str  # f"{mirror_dir}/": the stat cache's keys (str(path) formats it anew)
    make: Callable[[str], Path]  # listing.children(mirror_dir)
    on_disk: dict[str, bool]
    recorded: dict[str, str]
    cache: StatCache | None
    vouched: dict[str, str]  # file name -> the digests the cache vouched for (vouch_all)


def _existing(source: SourceFile, current: str, here: _Here) -> MirrorItem:
    """A paired source's state."""
    version = current.partition("_")[0]
    target_name = f"{version}_{source.name}.sql"
    target = here.make(target_name)
    if current != target_name:
        path = here.mirror_dir / current
        if not path.exists():
            return MirrorItem(MirrorState.MISSING, source, target, version=version)
        return MirrorItem(MirrorState.RENAMED, source, target, path, version)
    digests = here.vouched.get(current)
    if digests is None:
        plain = here.on_disk.get(current, False)
        raw = _mirror_digest(here.prefix + current, plain, here.cache)
    else:
        raw = digests[:32]  # only the bytes' digest: a mirror copy is compared by bytes
    if raw is None and not target.exists():
        state = MirrorState.MISSING
    elif (raw_digest(target.read_bytes()) if raw is None else raw) != source.body.raw:
        state = MirrorState.STALE
    elif here.recorded.get(current) != source.file_name:
        state = MirrorState.RELINKED
    else:
        state = MirrorState.OK
    return _tuple(MirrorItem, (state, source, target, None, version))


def _mirror_digest(path: str, plain: bool, cache: StatCache | None) -> str | None:
    """The digest of a mirror copy's bytes the cache did not vouch for, read (and learnt) the
    quick way. None: not a plainly regular file, or gone; the caller goes the careful way."""
    read = try_read_plain(path, plain)
    if read is None:
        return None
    data, st = read
    learnt = cache.learn(path, st, data, None) if cache is not None else None
    return learnt.raw if learnt is not None else raw_digest(data)


def _refuse_collisions(
    items: list[MirrorItem], mirror_dir: Path, on_disk: dict[str, bool], ours: set[str]
) -> None:
    """A file we did not write, holding a version we write to: name both, change nothing."""
    theirs = {name.split("_", 1)[0]: mirror_dir / name for name in on_disk if name not in ours}
    if not theirs:  # the common case: every file there is the mirror's
        return
    for item in items:
        if item.source is None or item.version is None or item.version not in theirs:
            continue
        raise UsageError(
            f"{theirs[item.version]} is in the way of {item.source.path}: it has version "
            f"{item.version}, which the mirror of {item.source.file_name} holds, and "
            "supamigrate did not write it, so it will not overwrite or delete it. Give your "
            "file another version (`supabase migration new` makes one), then run `invoke mirror`."
        )


# --- small helpers -------------------------------------------------------------------------------


def _next_version(taken: Iterable[str], now: datetime) -> str:
    """The current UTC second, or one second after the newest version, whichever is later."""
    candidate = now.astimezone(UTC).strftime(_FORMAT)
    newest = max(taken, default="")
    if newest >= candidate:  # the CLI orders versions as strings, so compare them as strings
        try:
            later = datetime.strptime(newest[:14], _FORMAT) + timedelta(seconds=1)
        except ValueError:
            raise UsageError(
                f"Version {newest} in supabase/migrations is not a YYYYMMDDHHMMSS timestamp, "
                "so no timestamp can be placed after it: rename that file."
            ) from None
        candidate = later.strftime(_FORMAT)
    return candidate
