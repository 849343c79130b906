"""Property: whatever users do to sources and CLI files, versions hold, and theirs stay theirs."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from supamigrate.project.files import discover_sources
from supamigrate.project.mirror import apply_mirror, plan_mirror

OPS = ("add", "cli_new", "rename", "renumber", "edit", "mirror")
# Renamed, renumbered and edited between two mirror runs leaves nothing to recognise it by:
# it gets a new version (the runner then refuses its twin, see test_drift_advice).
_ALL_THREE = {"rename", "renumber", "edit"}


@dataclass
class Source:
    number: int
    name: str
    content: str
    changes: set[str] = field(default_factory=set)  # since the last mirror run

    @property
    def filename(self) -> str:
        return f"{self.number:03d}_{self.name}.sql"


@dataclass
class World:
    root: Path
    clock: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    sources: dict[int, Source] = field(default_factory=dict)
    theirs: dict[str, str] = field(default_factory=dict)  # CLI-made file -> content
    versions: dict[int, str] = field(default_factory=dict)  # source id -> its version
    written: list[str] = field(default_factory=list)  # versions in the order they were made
    serial: int = 0

    @property
    def mirror_dir(self) -> Path:
        return self.root / "supabase" / "migrations"

    def tick(self) -> None:
        """Time passes; the clock is never behind a version already made (a real clock)."""
        newest = max(self.written, default="")
        self.clock += timedelta(seconds=1)
        if newest and newest >= self.clock.strftime("%Y%m%d%H%M%S"):
            self.clock = datetime.strptime(newest, "%Y%m%d%H%M%S").replace(tzinfo=UTC) + timedelta(
                seconds=1
            )

    def unique(self) -> int:
        self.serial += 1
        return self.serial

    def free_number(self) -> int:
        return max((s.number for s in self.sources.values()), default=0) + 1 + self.serial % 3

    def write(self, source: Source, old: str | None = None) -> None:
        if old is not None:
            (self.root / "migrations" / old).unlink()
        (self.root / "migrations" / source.filename).write_text(source.content)


def _act(world: World, op: str, pick: int) -> None:
    world.tick()
    ids = sorted(world.sources)
    chosen = world.sources[ids[pick % len(ids)]] if ids else None
    if op == "add" or (chosen is None and op in _ALL_THREE):
        n = world.unique()
        source = Source(world.free_number(), f"s{n}", f"select {n};\n")
        world.sources[n] = source
        world.write(source)
    elif op == "cli_new":  # as `supabase migration new`: the current second, nothing else
        version = world.clock.strftime("%Y%m%d%H%M%S")
        name = f"{version}_u{world.unique()}.sql"
        world.theirs[name] = f"select 'theirs {name}';\n"
        (world.mirror_dir / name).write_text(world.theirs[name])
        world.written.append(version)
    elif op == "mirror":
        _mirror_and_check(world)
    elif chosen is not None and not (chosen.changes | {op}) >= _ALL_THREE:
        _change(world, chosen, op)


def _change(world: World, source: Source, op: str) -> None:
    old = source.filename
    if op == "rename":
        source.name = f"s{world.unique()}"
    elif op == "renumber":
        source.number = world.free_number()
    else:
        source.content = f"select {world.unique()}; -- edited\n"
    source.changes.add(op)
    world.write(source, old)


def _mirror_and_check(world: World) -> None:
    sources = discover_sources(world.root / "migrations")
    plan = plan_mirror(sources, world.mirror_dir, now=world.clock, assign=True)
    apply_mirror(plan)
    on_disk = {p.name: p.read_text() for p in world.mirror_dir.iterdir()}
    for name, content in world.theirs.items():
        assert on_disk.pop(name) == content, name  # never overwritten or deleted
    for key in sorted(world.sources, key=lambda k: world.sources[k].number):
        source = world.sources[key]
        version = world.versions.get(key)
        if version is None:
            version = next(n for n in on_disk if n.endswith(f"_{source.name}.sql"))[:14]
            world.versions[key] = version
            world.written.append(version)
        assert on_disk.pop(f"{version}_{source.name}.sql") == source.content
        source.changes.clear()
    assert on_disk == {}  # nothing else: no stale copies under old names
    made = [v for v in world.written]
    assert len(set(made)) == len(made) and made == sorted(made)  # unique, in the order written


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 40)), max_size=30))
def test_versions_hold_and_theirs_stay_theirs(steps: list[tuple[str, int]]) -> None:
    """Random adds, CLI files, renames, renumbers, edits and mirrors keep every invariant."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "migrations").mkdir()
        (root / "supabase" / "migrations").mkdir(parents=True)
        world = World(root)
        for op, pick in [*steps, ("mirror", 0)]:
            _act(world, op, pick)
