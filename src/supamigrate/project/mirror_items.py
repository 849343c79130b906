"""What the mirror decides, as values: each source's state and the plan `mirror`,
`mirror --check` and every other task print and reuse (mirror.py makes them).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import NamedTuple

from supamigrate.project.files import SourceFile
from supamigrate.project.manifest import MANIFEST_NAME
from supamigrate.project.statcache import StatCache


class MirrorState(Enum):
    OK = "ok"
    NEW = "new"  # first mirror: gets a fresh version
    STALE = "stale"  # the source was edited: rewritten in place, same version
    RENAMED = "renamed"  # the source's name changed: the file is renamed, same version
    MISSING = "missing"  # our file was deleted: written again with its version
    RELINKED = "relinked"  # the file is right; only the manifest's entry changes
    ORPHANED = "orphaned"  # our file whose source is gone: removed


class MirrorItem(NamedTuple):
    """One source's (or orphan's) state. A named tuple, not a frozen dataclass: made per source
    on every run (files.SourceFile says why)."""

    state: MirrorState
    source: SourceFile | None  # None when ORPHANED
    target: Path | None  # None: a NEW source where versions may not be assigned (CI)
    current: Path | None = None  # our file on disk now, when it differs from target
    # Kept, not computed: asked for per item in several passes (Path.name is no field).
    # The target's version; None only when there is no target.
    version: str | None = None

    def describe(self) -> str:
        if self.source is None:
            name = self.current.name if self.current else "?"
            return f"{name}: its source is gone, removed"
        if self.target is None:
            return f"{self.source.file_name}: not mirrored yet (CI assigns no versions)"
        text = f"{self.source.file_name} -> {self.target.name}: {self.state.value}"
        if self.state is MirrorState.RENAMED and self.current is not None:
            text += f" from {self.current.name} (same version)"
        return text


class MirrorPlan(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import
    mirror_dir: Path
    items: tuple[MirrorItem, ...]
    manifest_text: str | None  # what the manifest should hold after apply (None: no file)
    manifest_now: str | None  # what it holds now (None: no file)
    # supabase/migrations as listed for the plan (listing.list_entries), listed once a run.
    listing: dict[str, bool] | None = None
    cache: StatCache | None = None  # what vouched for the files, to vouch for the rest

    @property
    def manifest(self) -> Path:
        return self.mirror_dir.parent / MANIFEST_NAME

    @property
    def changed(self) -> list[MirrorItem]:
        ok = MirrorState.OK  # once: an enum member's lookup is ~0.1 us, 10,000 items a run
        return [item for item in self.items if item.state is not ok]

    def changes(self) -> list[str]:
        """One line per change `invoke mirror` would make (empty: up to date)."""
        lines = [item.describe() for item in self.changed]
        if self.manifest_now != self.manifest_text:
            lines.append(f"{self.manifest.name}: out of date")
        return lines
