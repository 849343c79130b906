"""Decoding libpg_query's JSON parse trees into plain dicts, lists, strings and ints.

msgspec's decoder builds exactly what `json.loads` builds, in about 60% of its time: a long
history's trees are tens of MB of JSON, and decoding them was lint's largest cost after the
parse itself (docs/decisions.md, round 15). Imported on first use: a run that parses nothing
never pays it.

Which trees are "nested too deeply to check" stays `json.loads`'s answer, as before: both give
up with RecursionError at Python's recursion limit, but not at quite the same depth (msgspec
goes a few levels deeper), and an adversarial review saw msgspec's edge move by a level or two
with what the process had done before. So msgspec decodes with 100 levels less than the limit
allows; a tree it cannot decode so is decoded by `json.loads` itself, which then decides
(tests/sql/test_pg_json.py holds them to the same answers near the edge).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

_decoder: list[Callable[[str | bytes], Any]] = []
_MARGIN = 100  # levels kept from msgspec: far more than its edge moves
_SMALL = 64 * 1024  # JSON shorter than this, before msgspec is loaded: json.loads reads it


class Malformed(ValueError):
    """Not JSON (a cut in sql.lean that went wrong: the caller decodes the whole tree)."""


def decode(text: str | bytes) -> Any:
    """The value of a JSON text (libpg_query's tree, or a part of it); RecursionError where
    `json.loads` raises it."""
    if not _decoder:
        if len(text) < _SMALL:  # a pre-commit run's few files: not worth msgspec's import
            return _json(text)
        prepare()
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(limit - _MARGIN)
    except RecursionError:  # called from deeper than that: json.loads alone decides
        return _json(text)
    try:
        return _decoder[0](text)
    except RecursionError:
        pass  # near the edge (rare): json.loads decides, with the whole limit
    except ValueError as exc:  # msgspec's DecodeError is one
        raise Malformed(str(exc)) from exc
    finally:
        sys.setrecursionlimit(limit)
    return _json(text)


def _json(text: str | bytes) -> Any:
    # two levels more: the callers used to call json.loads themselves, two frames higher
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 2)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise Malformed(str(exc)) from exc
    finally:
        sys.setrecursionlimit(limit)


def prepare() -> None:
    """Load the decoder now (lint.parallel: once, before forking, not in each process)."""
    if not _decoder:
        from msgspec.json import Decoder

        _decoder.append(Decoder().decode)
