"""Watch every process's argv while something runs: a secret must never show up there."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType


class ArgvWatch:
    """Poll /proc/*/cmdline on a thread; `hits` lists argv that contained `needle`."""

    def __init__(self, needle: str, interval: float = 0.002) -> None:
        self.needle = needle.encode()
        self.interval = interval
        self.hits: list[str] = []
        self.programs: set[str] = set()  # argv[0] names seen: proof the watch saw the children
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        own = os.getpid()
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit() or int(entry.name) == own:
                    continue
                try:
                    argv = (entry / "cmdline").read_bytes()
                except OSError:
                    continue  # gone already
                self.programs.add(Path(argv.split(b"\0", 1)[0].decode(errors="replace")).name)
                if self.needle in argv:
                    self.hits.append(argv.replace(b"\0", b" ").decode(errors="replace"))
            self._stop.wait(self.interval)
