"""`lint --all` on two cores: the later half of the history in a forked worker.

Files are linted in history order because a rule may rely on what earlier files established
(lint.known). The worker lints the later half knowing nothing of the earlier one, and reports
per file its findings, the facts it learnt (an op log) and whether any rule consulted earlier
facts. The parent lints the earlier half, then walks the later half in order: a file whose
rules consulted nothing keeps the worker's findings and its facts are replayed; a file whose
rules did is linted again here, with exactly the facts sequential linting would have had.
So the result is the sequential result (tests/lint/test_lint_rules.py checks it).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable

from supamigrate.lint.findings import Finding
from supamigrate.lint.known import Known, Op

PARALLEL_BYTES = 1_000_000  # below this, forking costs more than it saves
LintOne = Callable[[str, str, Known], list[Finding]]
FileResult = tuple[list[Finding], list[Op], bool]


def worth_it(files: list[tuple[str, str]]) -> bool:
    if "fork" not in multiprocessing.get_all_start_methods() or len(files) < 2:
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) >= 2 and sum(len(text) for _, text in files) >= PARALLEL_BYTES


def lint_in_two(files: list[tuple[str, str]], known: Known, lint_one: LintOne) -> list[Finding]:
    cut = _half(files)
    first, second = files[:cut], files[cut:]
    import pglast.parser  # noqa: F401  # once, before the fork: else both processes import it

    with multiprocessing.get_context("fork").Pool(1) as pool:
        pending = pool.apply_async(_lint_alone, (second, known.lock_timeout_off, lint_one))
        findings = [f for path, text in first for f in lint_one(text, path, known)]
        results: list[FileResult] = pending.get()
    for (path, text), (file_findings, ops, consulted) in zip(second, results, strict=True):
        if consulted:
            findings += lint_one(text, path, known)
        else:
            findings += file_findings
            for op in ops:
                known.apply(op)
    return findings


def _lint_alone(
    files: list[tuple[str, str]], lock_timeout_off: bool, lint_one: LintOne
) -> list[FileResult]:
    known = Known(lock_timeout_off=lock_timeout_off)
    results: list[FileResult] = []
    for path, text in files:
        log: list[Op] = []
        known.log, known.consulted = log, False
        results.append((lint_one(text, path, known), log, known.consulted))
    return results


def _half(files: list[tuple[str, str]]) -> int:
    """The index splitting the files into two runs of about the same size (at least one
    file each)."""
    total = sum(len(text) for _, text in files)
    running = 0
    for index, (_, text) in enumerate(files):
        if (running + len(text)) * 2 >= total:
            # cut before or after this file, whichever leaves the halves closer
            after = abs(total - 2 * (running + len(text))) < abs(total - 2 * running)
            return max(1, min(index + 1 if after else index, len(files) - 1))
        running += len(text)
    return len(files) - 1
