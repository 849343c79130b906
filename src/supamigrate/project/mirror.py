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
from collections.abc import Callable, Hashable, Iterable, Mapping
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
    children,
    discover_migrations,
    list_entries,
    opened,
    try_read_plain,
    version_for,
)
from supamigrate.project.manifest import HEADER, MANIFEST_NAME, manifest_text, parse_manifest
from supamigrate.project.mirror_items import MirrorItem as MirrorItem
from supamigrate.project.mirror_items import MirrorPlan as MirrorPlan
from supamigrate.project.mirror_items import MirrorState as MirrorState
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
    pairs, adopted = _pair(sources, recorded, _Contents(mirror_dir, on_disk), legacy_base)
    taken: set[str] | None = None  # versions in use: made only when a source needs one
    items: list[MirrorItem] = []
    with opened(mirror_dir) as fd:
        here = _Here(mirror_dir, f"{mirror_dir}/", children(mirror_dir), on_disk, recorded, cache)
        for source in sources:
            mirror_name = pairs.get(source.file_name)
            if mirror_name is not None:
                items.append(_existing(source, mirror_name, here, fd))
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


def mirrored_migrations(plan: MirrorPlan) -> tuple[list[MigrationFile], list[str]]:
    """Everything in supabase/migrations as it is after the plan (applied or not)."""
    require_versions(plan)
    sourced: dict[str, SourceFile] = {}
    labels: dict[str, str] = {}
    names: set[str] = set()  # the mirror copies' names: `<version>_<source name>.sql`
    gone: list[str] = []  # a renamed or removed file's old name is gone after apply
    for item in plan.items:  # one pass: 10,000 items on every run of a big project
        source, version = item.source, item.version
        if item.current is not None:
            gone.append(item.current.name.split("_", 1)[0])
        if source is not None and item.target is not None and version is not None:
            sourced[version] = source
            labels[version] = source.label
            names.add(f"{version}_{source.name}.sql")
    found, warnings = discover_migrations(
        plan.mirror_dir, labels, skip=names, listing=plan.listing, cache=plan.cache
    )
    by_version = {m.version: m for m in found}
    for version in gone:
        by_version.pop(version, None)
    for version, source in sourced.items():  # sources are the truth, written or not
        by_version[version] = _tuple(
            MigrationFile, (version, source.name, source.path, source.body, source.label)
        )
    return [by_version[v] for v in sorted(by_version)], warnings


# --- pairing sources with the files already there ---------------------------------------------


def _pair(
    sources: list[SourceFile],
    recorded: dict[str, str],
    contents: _Contents,
    legacy_base: str | None,
) -> tuple[dict[str, str], set[str]]:
    """Source file name -> mirror file name, plus the unlisted files adopted as ours.

    Most certain first: the manifest's source name; then, among our files, the same bytes
    (renamed or renumbered), the same name part (renumbered and edited), the same number
    (renamed and edited). Each step pairs only unambiguous one-to-one matches.
    """
    pairs: dict[str, str] = {}
    free = set(recorded)
    by_source = {source: mirror for mirror, source in recorded.items()}
    for source in sources:
        mirror = by_source.get(source.file_name)
        if mirror in free:
            pairs[source.file_name] = mirror
            free.discard(mirror)
    keys: list[tuple[Callable[[SourceFile], Hashable], Callable[[str], Hashable]]] = [
        (lambda s: s.content, contents.get),
        (lambda s: s.name, _name_part),
        (lambda s: s.number, lambda m: _number(recorded[m])),
    ]
    for source_key, mirror_key in keys:
        if len(pairs) == len(sources) or not free:  # nothing left to pair (the common case)
            break
        _match_unique(sources, pairs, free, source_key, mirror_key)
    unlisted = contents.on_disk.keys() - recorded.keys()
    if not unlisted:  # nothing to adopt, and no old-rule lookalike to refuse
        return pairs, set()
    adopted = _adopt(sources, pairs, unlisted, contents, legacy_base)
    return pairs, adopted


def _adopt(
    sources: list[SourceFile],
    pairs: dict[str, str],
    unlisted: set[str],
    contents: _Contents,
    legacy_base: str | None,
) -> set[str]:
    """Unlisted files that are a source's mirror: the same name part and the same bytes.

    That is exactly what the mirror would write, so adopting one overwrites nothing (it covers
    a lost manifest, and mirrors written before the manifest existed).
    """

    def fits(source: SourceFile, mirror: str) -> bool:
        return contents.get(mirror) == source.content

    before = set(pairs.values())
    _match_unique(sources, pairs, unlisted, lambda s: s.name, _name_part, fits)
    if legacy_base:
        _refuse_legacy_lookalikes(sources, pairs, unlisted, legacy_base)
    return set(pairs.values()) - before


def _refuse_legacy_lookalikes(
    sources: list[SourceFile], pairs: dict[str, str], unlisted: set[str], legacy_base: str
) -> None:
    """A file named as the old rule named a source's mirror, with other bytes: ours, edited
    since, or the user's? Guessing wrong either overwrites theirs or runs a migration twice."""
    for source in sources:
        if source.file_name in pairs or not unlisted:  # paired: no lookalike to tell apart
            continue
        old_version = version_for(source.number, legacy_base)
        legacy = f"{old_version}_{source.name}.sql"
        if old_version is not None and legacy in unlisted:
            raise UsageError(
                f"supabase/migrations/{legacy} has the name an older supamigrate gave the mirror "
                f"of {source.path}, but other content, and {MANIFEST_NAME} does not list it. If "
                f"it is that mirror, copy the source over it (`cp {source.path} "
                f"supabase/migrations/{legacy}`); if it is your own file, give it another "
                "version. Then run `invoke mirror`."
            )


def _match_unique(
    sources: list[SourceFile],
    pairs: dict[str, str],
    free: set[str],
    source_key: Callable[[SourceFile], Hashable],
    mirror_key: Callable[[str], Hashable],
    fits: Callable[[SourceFile, str], bool] | None = None,
) -> None:
    """Pair each unpaired source with the one free file of the same key (that also `fits`),
    if that file fits no other source. Indexed by key: adopting 10,000 mirrors without a
    manifest compares each source with its candidates, not with every file."""
    wanted = [s for s in sources if s.file_name not in pairs]
    if not wanted:
        return
    index: dict[Hashable, list[str]] = {}
    for mirror in sorted(free):
        key = mirror_key(mirror)
        if key is not None:
            index.setdefault(key, []).append(mirror)
    options = {}
    for source in wanted:
        candidates = index.get(source_key(source), [])
        options[source.file_name] = [m for m in candidates if fits is None or fits(source, m)]
    claims: dict[str, int] = {}
    for candidates in options.values():
        for mirror in candidates:
            claims[mirror] = claims.get(mirror, 0) + 1
    for source_name, candidates in options.items():
        if len(candidates) == 1 and claims[candidates[0]] == 1:
            pairs[source_name] = candidates[0]
            free.discard(candidates[0])


class _Contents:
    """File bytes, read once and only when a comparison needs them."""

    def __init__(self, mirror_dir: Path, on_disk: dict[str, bool]) -> None:
        self.mirror_dir = mirror_dir
        self.on_disk = on_disk  # CLI-named file -> plainly a regular file (files.list_entries)
        self.cache: dict[str, bytes | None] = {}

    def get(self, name: str) -> bytes | None:
        if name not in self.cache:
            plain = self.on_disk.get(name)
            path = self.mirror_dir / name
            read = None if plain is None else try_read_plain(str(path), plain)
            content = None if read is None else read[0]
            if plain is not None and content is None:
                content = path.read_bytes()
            self.cache[name] = content
        return self.cache[name]


class _Here(NamedTuple):
    """What `_existing` asks about supabase/migrations, the same for every source."""

    mirror_dir: Path
    prefix: str  # f"{mirror_dir}/": the stat cache's keys (str(path) formats it anew)
    make: Callable[[str], Path]  # files.children(mirror_dir)
    on_disk: dict[str, bool]
    recorded: dict[str, str]
    cache: StatCache | None


def _existing(source: SourceFile, current: str, here: _Here, fd: int | None) -> MirrorItem:
    """A paired source's state. `fd`: mirror_dir, open (files.opened)."""
    version = current.partition("_")[0]
    target_name = f"{version}_{source.name}.sql"
    target = here.make(target_name)
    if current != target_name:
        path = here.mirror_dir / current
        if not path.exists():
            return MirrorItem(MirrorState.MISSING, source, target, version=version)
        return MirrorItem(MirrorState.RENAMED, source, target, path, version)
    plain = here.on_disk.get(current, False)
    raw = _mirror_digest(here.prefix + current, plain, here.cache, current, fd)
    if raw is None and not target.exists():
        state = MirrorState.MISSING
    elif (raw_digest(target.read_bytes()) if raw is None else raw) != source.body.raw:
        state = MirrorState.STALE
    elif here.recorded.get(current) != source.file_name:
        state = MirrorState.RELINKED
    else:
        state = MirrorState.OK
    return _tuple(MirrorItem, (state, source, target, None, version))


def _mirror_digest(
    path: str, plain: bool, cache: StatCache | None, name: str, fd: int | None
) -> str | None:
    """The digest of a mirror copy's bytes: vouched for, or read (and learnt) the quick way.
    None: not a plainly regular file, or gone; the caller goes the careful way."""
    digests = cache.digests(path, name, fd) if plain and cache is not None else None
    if digests is not None:
        return digests[:32]  # only the bytes' digest: a mirror copy is compared by bytes
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


def _name_part(mirror_name: str) -> str:
    return mirror_name.split("_", 1)[1].removesuffix(".sql")


def _number(source_name: str) -> int | None:
    head = source_name.split("_", 1)[0]
    return int(head) if head.isdigit() else None
