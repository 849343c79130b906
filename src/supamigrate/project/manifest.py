"""The mirror's manifest, supabase/supamigrate-mirror.txt: which supabase/migrations files
the mirror wrote, each from which source. Committed; the mirror touches only what it lists.
Plain `mirror <- source` lines, so a merge conflict is fixed by keeping both sides.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from supamigrate.errors import UsageError
from supamigrate.project.files import CLI_NAME

# Outside supabase/migrations: the CLI warns about every non-migration file in there.
MANIFEST_NAME = "supamigrate-mirror.txt"
HEADER = (
    "# Written by `invoke mirror`: the supabase/migrations files it wrote, each from its\n"
    "# source in migrations/. Commit it; supamigrate rewrites or removes only these files.\n"
)
_ARROW = " <- "


def parse_manifest(path: Path, text: str) -> dict[str, str]:
    """Mirror file name -> source file name, from the manifest's `mirror <- source` lines."""
    recorded: dict[str, str] = {}
    match = CLI_NAME.match
    for number, line in enumerate(text.splitlines(), 1):
        mirror, arrow, source = line.partition(_ARROW)
        if arrow:  # the common case first: 10,000 lines are read on every run of a big project
            mirror = mirror.strip()
            if match(mirror):  # (a digit first: never a comment)
                recorded[mirror] = source.strip()
                continue
        if line.isspace() or not line or line.startswith("#"):
            continue
        raise UsageError(
            f"{path}, line {number}: expected `<version>_name.sql <- NNN_name.sql`. "
            "Fix the line (keep both sides of a merge), or delete the file and run "
            "`invoke mirror` to rebuild it from the files."
        )
    return recorded


def manifest_text(pairs: Iterable[tuple[str, str]]) -> str:
    """The manifest for (mirror file name, source file name) pairs, sorted."""
    return HEADER + "".join(sorted(f"{mirror}{_ARROW}{source}\n" for mirror, source in pairs))
