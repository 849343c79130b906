"""pglast's parser without building its node classes and enums at start-up.

`from pglast import parser` runs pglast's package, which imports pglast.enums (about eighty
Enum classes), and the parser imports pglast.ast (hundreds of node classes): 30 ms of every
command that reads SQL, for classes we never touch (we read libpg_query's JSON tree). Those
two modules are loaded lazily (importlib.util.LazyLoader: run on first attribute access), so
they cost nothing unless used and behave as always when they are (pglast.parse_sql's nodes).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

LAZY = frozenset({"pglast.enums", "pglast.ast"})


class _LazyFinder:  # a meta path finder (not importlib.abc's: that imports tempfile & co.)
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in LAZY:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def install() -> None:
    """Load pglast's enums and node classes lazily from now on (once per process)."""
    if not any(isinstance(finder, _LazyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LazyFinder())
