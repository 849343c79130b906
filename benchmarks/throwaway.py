"""The benchmarks' throwaway server is the tests' one (tests/helpers/server.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.server import free_port, throwaway_server

__all__ = ["free_port", "throwaway_server"]
