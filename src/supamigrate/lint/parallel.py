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

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from supamigrate.lint.findings import Finding
from supamigrate.lint.known import Coverage, Known, Op, plain_ops, typed_ops
from supamigrate.process.forked import Forked, two_cores
from supamigrate.sql.pg_json import prepare as prepare_parser
from supamigrate.sql.tree_json import prepare as prepare_decoder

PARALLEL_BYTES = 1_000_000  # below this, forking costs more than it saves
LintOne = Callable[[Any, str, Known], list[Finding]]  # a file's text, or what reads it
FileResult = tuple[list[Finding], list[Op], bool]
Outcome = tuple[list[FileResult], Coverage]


class Deferred(Protocol):
    """A file's text read when first asked for (project.files.FileText): each process reads
    the files it lints, after the fork, so reading them is divided too."""

    @property
    def text(self) -> str: ...

    @property
    def size(self) -> int: ...


Source = str | Deferred


def size_of(source: Source) -> int:
    return len(source) if isinstance(source, str) else source.size


def text_of(source: Source) -> str:
    return source if isinstance(source, str) else source.text


def worth_it(files: Sequence[tuple[str, Source]]) -> bool:
    if len(files) < 2 or not two_cores():
        return False
    return sum(size_of(text) for _, text in files) >= PARALLEL_BYTES


def lint_in_two(
    files: Sequence[tuple[str, Source]], known: Known, lint_one: LintOne
) -> list[Finding]:
    cut = _half(files)
    first, second = files[:cut], files[cut:]
    import pglast.parser  # noqa: F401  # once, before the fork: else both processes import it

    prepare_decoder()
    prepare_parser()

    # The worker already holds its files (process.forked: why not a Pool); each process reads
    # the files it lints.
    worker: Forked[Outcome] = Forked(lambda: _lint_alone(second, known.lock_timeout_off, lint_one))
    try:
        findings = [f for path, text in first for f in lint_one(text, path, known)]
        outcome = worker.result()
    finally:
        worker.stop()
    if outcome is None:  # the worker failed: lint its half here, as sequential linting would
        return findings + [f for path, text in second for f in lint_one(text, path, known)]
    results, coverage = outcome
    for (path, text), (file_findings, ops, consulted) in zip(second, results, strict=True):
        if consulted:
            findings += lint_one(text, path, known)
        else:
            findings += file_findings
            for op in typed_ops(ops):
                known.apply(op)
    known.borrow(coverage)  # after the last file linted here: no rule may see later facts
    return findings


def _lint_alone(
    files: Sequence[tuple[str, Source]], lock_timeout_off: bool, lint_one: LintOne
) -> Outcome:
    """The worker's half, each file's findings, facts and whether it consulted facts. The
    parent needs a file's facts only if it lints a later file again (one that consulted
    facts); after the last such file, only what the foreign key check needs (the coverage)."""
    known = Known(lock_timeout_off=lock_timeout_off)
    results: list[FileResult] = []
    for path, text in files:
        log: list[Op] = []
        known.log, known.consulted = log, False
        results.append((lint_one(text, path, known), log, known.consulted))
    last = max((n for n, (_, _, consulted) in enumerate(results) if consulted), default=-1)
    sent = [
        (found, plain_ops(ops) if n < last else [], c) for n, (found, ops, c) in enumerate(results)
    ]
    return sent, known.coverage()


def _half(files: Sequence[tuple[str, Source]]) -> int:
    """The index splitting the files into two runs of about the same size (at least one
    file each)."""
    sizes = [size_of(text) for _, text in files]
    total = sum(sizes)
    running = 0
    for index, size in enumerate(sizes):
        if (running + size) * 2 >= total:
            # cut before or after this file, whichever leaves the halves closer
            after = abs(total - 2 * (running + size)) < abs(total - 2 * running)
            return max(1, min(index + 1 if after else index, len(files) - 1))
        running += size
    return len(files) - 1
