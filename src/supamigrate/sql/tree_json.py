"""Decoding libpg_query's JSON parse trees into plain dicts, lists, strings and ints.

msgspec's decoder builds exactly what `json.loads` builds, in about 60% of its time: a long
history's trees are tens of MB of JSON, and decoding them was lint's largest cost after the
parse itself (docs/decisions.md, round 15). Like `json.loads` it gives up with RecursionError
at Python's recursion limit, so which files are "nested too deeply to check" is unchanged
(tests/sql/test_reading.py). Imported on first use: a run that parses nothing never pays it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_decoder: list[Callable[[str | bytes], Any]] = []


def decode(text: str | bytes) -> Any:
    """The value of a JSON text (libpg_query's tree, or a part of it)."""
    if not _decoder:
        prepare()
    return _decoder[0](text)


def prepare() -> None:
    """Load the decoder now (lint.parallel: once, before forking, not in each process)."""
    if not _decoder:
        from msgspec.json import Decoder

        _decoder.append(Decoder().decode)
