"""The mirror's manifest, supabase/supamigrate-mirror.txt: which supabase/migrations files
the mirror wrote, each from which source. Committed; the mirror touches only what it lists.
Plain `mirror <- source` lines, so a merge conflict is fixed by keeping both sides.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from supamigrate.errors import UsageError
from supamigrate.files import CLI_NAME

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
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        mirror, arrow, source = line.partition(_ARROW)
        if not arrow or not CLI_NAME.match(mirror.strip()):
            raise UsageError(
                f"{path}, line {number}: expected `<version>_name.sql <- NNN_name.sql`. "
                "Fix the line (keep both sides of a merge), or delete the file and run "
                "`invoke mirror` to rebuild it from the files."
            )
        recorded[mirror.strip()] = source.strip()
    return recorded


def manifest_text(pairs: Iterable[tuple[str, str]]) -> str:
    """The manifest for (mirror file name, source file name) pairs, sorted."""
    return HEADER + "".join(sorted(f"{mirror}{_ARROW}{source}\n" for mirror, source in pairs))


def write_atomically(path: Path, content: bytes) -> None:
    """A crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A new, exclusively created temp file: a symlink planted at a predictable temp name can
    # never redirect the write; os.replace swaps the directory entry, not a link's target.
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
