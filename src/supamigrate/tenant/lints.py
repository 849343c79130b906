"""verify's lints: the engine's advisors (supamigrate.advise, splinter's names and levels) over
the app's exposed schemas, as verify checks. Each finding is its own check; a lint with none
passes once."""

from __future__ import annotations

from psycopg2.extensions import cursor as Cursor

from supamigrate.advise import advise
from supamigrate.tenant.checks import Check, Level


def lints(cur: Cursor, schemas: list[str]) -> list[Check]:
    """Every advisor over `schemas`: one passing check per clean lint, one check per finding."""
    result = advise(cur, app_schemas=schemas)
    checks = []
    for lint in result.ran:
        name, level = f"lint {lint.name}", Level(lint.level.value)
        found = [f for f in result.findings if f.lint is lint]
        if not found:
            checks.append(Check(name, level, True, "none"))
        checks += [Check(name, level, False, f.obj, f.fix) for f in found]
    return checks
