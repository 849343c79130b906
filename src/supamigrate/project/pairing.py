"""Pairing sources with the files already in supabase/migrations: the mirror's first step
(mirror.plan_mirror), also when the manifest is lost. Nothing is written here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path

from supamigrate.errors import UsageError
from supamigrate.project.files import SourceFile, try_read_plain, version_for
from supamigrate.project.manifest import MANIFEST_NAME


def pair_sources(
    sources: list[SourceFile],
    recorded: dict[str, str],
    contents: Contents,
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
    contents: Contents,
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


class Contents:
    """File bytes, read once and only when a comparison needs them."""

    def __init__(self, mirror_dir: Path, on_disk: dict[str, bool]) -> None:
        self.mirror_dir = mirror_dir
        self.on_disk = on_disk  # CLI-named file -> plainly a regular file (listing.list_entries)
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


def _name_part(mirror_name: str) -> str:
    return mirror_name.split("_", 1)[1].removesuffix(".sql")


def _number(source_name: str) -> int | None:
    head = source_name.split("_", 1)[0]
    return int(head) if head.isdigit() else None
