"""Flag values checked before anything connects: a blank value (an empty CI input) is refused,
never read as "not given" (which can mean "everything": every migration, every table)."""

from __future__ import annotations

from collections.abc import Iterable

from supamigrate.errors import UsageError


def refuse_blank(**flags: str | Iterable[str] | None) -> None:
    """UsageError for the first flag given as an empty or whitespace-only value."""
    for key, value in flags.items():
        values = [value] if isinstance(value, str) else list(value or [])
        if any(not item.strip() for item in values):
            raise UsageError(
                f"--{key.replace('_', '-')} is empty: give it a value, or leave the flag out."
            )


def in_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise UsageError(f"--{name} must be from {low:,} to {high:,}, got {value:,}.")
    return value
