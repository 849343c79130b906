"""What an advisor is and what it finds: splinter's names, levels and categories."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """splinter's levels (ERROR, WARN, INFO), spelled as the rest of supamigrate spells them."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Category(StrEnum):
    SECURITY = "security"
    PERFORMANCE = "performance"


@dataclass(frozen=True)
class Lint:
    """One advisor. `sql` returns one text per finding (the object it names) and may use
    `%(app)s` (the app's exposed schemas), `%(api)s` (every exposed schema) and `%(mine)s`
    (schemas Supabase does not manage: the app's own, exposed or not). `fix` names the remedy;
    `{obj}` in it is the finding. `needs` names a fact (see advise.run) without which the lint
    does not apply here."""

    name: str
    level: Level
    category: Category
    title: str
    sql: str
    fix: str
    needs: str = ""


@dataclass(frozen=True)
class Finding:
    lint: Lint
    obj: str

    @property
    def fix(self) -> str:
        return self.lint.fix.format(obj=self.obj)

    def as_dict(self) -> dict[str, str]:
        return {
            "lint": self.lint.name,
            "level": self.lint.level.value,
            "category": self.lint.category.value,
            "object": self.obj,
            "fix": self.fix,
        }
