"""What lint reports: levels, findings, and what a rule returns before suppression."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class RuleInfo:
    id: str
    level: Level
    summary: str  # one line: the hazard
    fix: str  # one line: the safer rewrite


@dataclass(frozen=True)
class Hit:
    """A rule's raw report on one statement: which rule, where, and the specific message."""

    rule: str
    line: int
    message: str
    fix: str | None = None  # a specific rewrite; the rule's general fix otherwise


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    level: Level
    message: str
    fix: str
    suppressed: str | None = None  # the reason given in `-- supamigrate:allow RULE REASON`


def has_errors(findings: list[Finding]) -> bool:
    """Whether lint should fail: an unsuppressed error-level finding."""
    return any(f.level is Level.ERROR and f.suppressed is None for f in findings)
