"""The one apply loop every executing method goes through, and the reports after it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from supamigrate import github
from supamigrate.errors import MigrationFailed, UsageError
from supamigrate.executors import afterwards
from supamigrate.executors.base import Executor
from supamigrate.executors.failures import ConnectionLost
from supamigrate.executors.results import Outcome, Reported, Result
from supamigrate.output import (
    ROLLBACK_GUIDANCE,
    Reporter,
    failure_lines,
    progress_line,
    result_json,
)
from supamigrate.process import interrupt
from supamigrate.project.files import MigrationFile


def apply_all(
    executor: Executor,
    todo: Sequence[MigrationFile],
    *,
    rerun: bool,
    continue_on_error: bool,
    out: Reporter,
    on_result: Callable[[Result], None] | None = None,
) -> int:
    """Apply `todo` in order, printing each result as it ends (and passing it to `on_result`);
    0, or raise MigrationFailed."""
    results = Reported()
    live: list[str] = []  # notices of the running migration already shown as they came
    shown_at = [time.perf_counter()]  # when the last result was shown (or the loop began)

    def notice(text: str) -> None:
        if not live and len(results) < len(todo):
            out.say(f"[{len(results) + 1}/{len(todo)}] {todo[len(results)].label} ... running")
        live.append(text)
        out.say(f"  {text}")

    def show(result: Result) -> None:
        replaced = results.add(result)
        if replaced:  # said ok above, but the history has no row: it was rolled back
            labels = ", ".join(r.migration.label for r in replaced)
            out.say(
                f"Correction: {labels} reported ok above did not commit (a notice spelled the "
                "runner's marker); what follows is so."
            )
        if on_result is not None:
            on_result(result)
        out.say(progress_line(len(results), len(todo), result))
        for text in result.notices:
            if text in live:
                live.remove(text)
            else:
                out.say(f"  {text}")
        live.clear()
        for line in failure_lines(result):
            out.say(line)
        github.migration_failed(result)
        shown_at[0] = time.perf_counter()

    remaining = list(todo)
    out.notice_hook = notice
    try:
        with interrupt.deferred():
            while remaining and interrupt.requested() is None:
                try:
                    batch = executor.apply(remaining, rerun=rerun, on_result=show)
                except ConnectionLost as exc:  # what committed is asked of the server
                    # measured to the loss: the results in flight never arrived to time them
                    lost_ms = (time.perf_counter() - shown_at[0]) * 1000
                    afterwards.settle(
                        executor, todo, results, str(exc), rerun=rerun, show=show, ms=lost_ms
                    )
                    break
                remaining = remaining[len(batch) :]
                failed = bool(batch) and batch[-1].stops_run
                signalled = interrupt.requested() is not None
                stopped = not batch or not failed or not remaining or signalled
                earlier = any(r.outcome is Outcome.OK for r in results)
                can = executor.capabilities.goes_past_failure  # a push runs the failed one again
                if stopped or not _go_on(continue_on_error and can, out, earlier=earlier, can=can):
                    break
    finally:  # whatever stopped the run, --json carries every result reported so far
        out.notice_hook = None
        out.fact("results", [result_json(r) for r in results])
    signum = interrupt.requested()
    if signum is not None:
        _interrupted(signum, results, len(todo), out)
    return summarise(results, len(todo), out)


def _interrupted(signum: int, results: list[Result], total: int, out: Reporter) -> None:
    """Say what the signal left: the migration in flight committed or rolled back, the rest."""
    last = results[-1] if results else None
    if last is None:
        fate = "no migration had started"
    elif last.outcome is Outcome.OK:
        fate = f"{last.migration.label} had committed before it took effect"
    elif last.outcome is Outcome.UNKNOWN:
        fate = f"whether {last.migration.label} committed is not known (see above)"
    elif last.outcome is Outcome.PARTIAL:
        fate = f"{last.migration.label} stopped partway (statements listed above stay applied)"
    else:
        fate = f"{last.migration.label} was rolled back"
    not_run = total - len(results)
    message = f"Interrupted by {interrupt.name(signum)}: {fate}; {not_run} migration(s) not run."
    out.say(message)
    out.fact("interrupted", {"signal": interrupt.name(signum), "not_run": not_run})
    raise interrupt.Interrupted(message + " Run `invoke migrate` again to go on.", signum)


def _go_on(continue_on_error: bool, out: Reporter, *, earlier: bool, can: bool = True) -> bool:
    if continue_on_error:
        out.say("Continuing with the next migration (--continue-on-error).")
        return True
    # "Earlier migrations are committed" only where some are: advice says what is so.
    out.say(ROLLBACK_GUIDANCE if earlier else ROLLBACK_GUIDANCE.split(". ", 1)[1])
    if not can:  # this method cannot leave the failed file out: not asked, the rest not run
        return False
    try:
        return out.ask("Continue with the next migration?", refuse_hint="stopping here.")
    except UsageError:
        return False


def summarise(results: Sequence[Result], total: int, out: Reporter) -> int:
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    not_run = total - len(results)
    total_ms = sum(r.ms for r in results if r.ms is not None)
    parts = [f"{n} {o.value}" for o, n in counts.items() if n]
    parts += [f"{not_run} not run"] if not_run else []
    out.say(f"Done in {total_ms:.0f} ms: {', '.join(parts)}.")
    out.fact(
        "summary",
        {o.value: n for o, n in counts.items()} | {"not_run": not_run, "ms": round(total_ms, 1)},
    )
    bad = counts[Outcome.FAILED] + counts[Outcome.PARTIAL] + counts[Outcome.UNKNOWN]
    if any(r.failure is not None and r.failure.lost for r in results):
        raise MigrationFailed(
            "The connection was lost mid-migration; what committed is listed above (asked "
            "of the server afterwards). Run `invoke migrate` again to go on."
        )
    if bad:
        raise MigrationFailed(f"{bad} migration(s) failed; see above.")
    return 0


def rehearse(executor: Executor, todo: Sequence[MigrationFile], out: Reporter) -> int:
    """Rehearse every pending file (rehearsal.py); report each verdict and trace, then whether
    anything changed outside the rolled-back transaction; the exit code (rehearsal_report)."""
    from supamigrate.run import rehearsal_report as report  # the trace and lint: rehearsals only

    results = executor.rehearse(todo)
    for index, result in enumerate(results, 1):
        out.say(report.verdict_line(index, len(todo), result))
        failed = failure_lines(result, rehearsal=True) + report.commit_lines(result)
        for line in report.trace_lines(result) + failed:
            out.say(line)
        github.migration_failed(result, rehearsal=True)
    out.fact("rehearsal", [result_json(r) | report.trace_json(r) for r in results])
    changed = getattr(results, "changed_outside", None)
    lines, summary, code = report.summary(list(results), changed)
    for line in lines:
        out.say(line)
    out.fact("summary", summary)
    return code
