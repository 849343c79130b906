"""Assemble benchmarks/RESULTS.md from each benchmark's section, with the machine and date."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTIONS = ("migrate_speed.md", "rls_cost.md")


def _version(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError:
        return "not found"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else "?"
    )


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cli = HERE.parent / "node_modules" / ".bin" / "supabase"
    return (
        f"Machine: {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; "
        f"{_version(['psql', '--version'])}; Supabase CLI {_version([str(cli), '--version'])}. "
        "The server is a throwaway local PostgreSQL 15 started by each benchmark with "
        "`fsync=off` (same code as `invoke db.start`)."
    )


def lint_section(path: Path) -> list[str]:
    """benchmarks/lint_speed.py's section (`lint --all` beside squawk), when it ran."""
    if not path.is_file():
        return []
    text = path.read_text().rstrip().replace("# lint speed", "## Lint speed", 1)
    return [text + "\n"]


def main() -> None:
    parts = [
        "# Benchmark results",
        "",
        machine(),
        f"Date: {date.today().isoformat()}. Reproduce with `nox -s bench` (this file and "
        "`migrate_speed.png` are written by it).",
        "",
    ]
    for name in SECTIONS:
        path = HERE / "results" / name
        if not path.is_file():
            sys.exit(f"{path} is missing: run the benchmarks first (`nox -s bench`).")
        parts.append(path.read_text().rstrip() + "\n")
    parts += lint_section(HERE / "results" / "lint_speed.md")
    seed = HERE / "results" / "seed_speed.md"
    if seed.is_file():  # benchmarks/seed_speed.py
        parts.append(seed.read_text().rstrip() + "\n")
    parts.append((HERE / "notes.md").read_text())
    (HERE / "RESULTS.md").write_text("\n".join(parts))
    print(f"Wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
