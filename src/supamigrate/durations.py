"""Postgres durations (`5s`, `500ms`, `1.5s`, `2 min`) as the server reads a timeout setting.

One reading for the config's check, the CLI method's read-back and the rehearsal's bound: a
number (a fraction too, since Postgres 12), blanks, a unit (none: milliseconds), rounded to a
whole millisecond half to even as the server's rint() does (`1500us` is 2 ms).
"""

from __future__ import annotations

import re

# ASCII digits and blanks only: Python's \d and \s take Unicode ones Postgres would refuse.
_NUMBER = r"(?P<n>[0-9]{1,15}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})"
_DURATION = re.compile(rf"^[ \t]*{_NUMBER}[ \t]*(?P<unit>us|ms|s|min|h|d)?[ \t]*\Z")
UNIT_MS = {"us": 0.001, "ms": 1, "": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_MS = 2_147_483_647  # Postgres keeps timeouts in an int of milliseconds


def parse(value: str) -> tuple[float, str] | None:
    """(the number, its unit: '' when none) or None when it is not a duration."""
    match = _DURATION.match(value)
    if match is None:
        return None
    return float(match.group("n")), match.group("unit") or ""


def exact_ms(value: str) -> float | None:
    """The duration in milliseconds before rounding (None: not a duration)."""
    parsed = parse(value)
    return None if parsed is None else parsed[0] * UNIT_MS[parsed[1]]


# Each unit's next smaller one: a fraction is first rounded to a whole number of it, as the
# server does ("0.11min" is 7 s, not 6.6 s; found by a property on the real server).
_SMALLER = {"d": "h", "h": "min", "min": "s", "s": "ms", "ms": "us", "": "us"}


def to_ms(value: str) -> int | None:
    """Whole milliseconds as the server stores the setting (None: not a duration). The same
    floating-point steps as its convert_to_base_unit, then rint (half to even, as round)."""
    parsed = parse(value)
    if parsed is None:
        return None
    number, unit = parsed
    ms = number * UNIT_MS[unit]
    smaller = _SMALLER.get(unit)
    if smaller is not None:
        step = UNIT_MS[smaller]
        ms = round(ms / step) * step
    return round(ms)
