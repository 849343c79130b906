"""The result type of every verify check, its level, the exit code and the human lines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """How bad a failed check is; the names and meanings follow Supabase's splinter."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


# What a failed check shows in place of PASS, by level.
_STATUS = {Level.ERROR: "FAIL", Level.WARNING: "WARN", Level.INFO: "INFO"}


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    ok: bool
    detail: str
    fix: str = ""

    @property
    def status(self) -> str:
        return "PASS" if self.ok else _STATUS[self.level]

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "name": self.name,
            "level": self.level.value,
            "ok": self.ok,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
        }


def failing(checks: Iterable[Check], *, strict: bool) -> list[Check]:
    """The checks that fail the run: errors, and with --strict warnings too (never info)."""
    levels = {Level.ERROR, Level.WARNING} if strict else {Level.ERROR}
    return [c for c in checks if not c.ok and c.level in levels]


def verdict(checks: Sequence[Check], *, strict: bool) -> int:
    """The exit code: 1 if any check fails at the chosen strictness, else 0."""
    return 1 if failing(checks, strict=strict) else 0


def report_lines(checks: Sequence[Check]) -> list[str]:
    """One line per check (status, level, name, detail) and a `fix:` line under each finding."""
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for check in checks:
        lines.append(
            f"  {check.status}  {check.level.value:<7}  {check.name:<{width}}  {check.detail}"
        )
        if not check.ok and check.fix:
            lines.append(f"        fix: {check.fix}")
    return lines


def summary(checks: Sequence[Check], *, strict: bool) -> str:
    """Counts by outcome and whether the run fails (`30 passed, 0 errors, ...: verify passed`)."""
    found = {level: sum(1 for c in checks if not c.ok and c.level is level) for level in Level}
    passed = sum(1 for c in checks if c.ok)
    result = "FAILED" if verdict(checks, strict=strict) else "passed"
    mode = " (--strict: warnings fail)" if strict else ""
    return (
        f"{passed} passed, {found[Level.ERROR]} errors, {found[Level.WARNING]} warnings, "
        f"{found[Level.INFO]} info: verify {result}{mode}"
    )
