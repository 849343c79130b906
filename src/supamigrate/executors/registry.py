"""The methods by name, and `auto`: the first in the configured order that can run here.

The only place that knows the methods' names. A method is skipped with its reason when it
cannot run here (`unavailable`) or cannot do what this run needs (`capabilities`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from supamigrate.brief import few, one_line
from supamigrate.errors import UsageError
from supamigrate.executors.base import Executor, Settings
from supamigrate.executors.manual import ManualExecutor
from supamigrate.executors.psql import PsqlExecutor
from supamigrate.executors.psycopg2 import Psycopg2Executor
from supamigrate.executors.supabase_cli import SupabaseCliExecutor

REGISTRY: dict[str, type[Executor]] = {
    cls.name: cls for cls in (SupabaseCliExecutor, Psycopg2Executor, PsqlExecutor, ManualExecutor)
}
METHOD_NAMES = tuple(REGISTRY)


@dataclass(frozen=True)
class Needs:
    """What this run asks of a method."""

    rehearse: bool = False
    rerun: bool = False
    applies: bool = False  # migrate (also --dry: it shows the method a real run would use)

    def missing(self, method: type[Executor]) -> str | None:
        caps = method.capabilities
        if self.rehearse and not caps.rehearse:
            return "cannot rehearse (--rehearse)"
        if self.rerun and not caps.rerun:
            return "cannot re-run one migration (--migration)"
        return None


@dataclass(frozen=True)
class Choice:
    method: type[Executor]
    reason: str
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.method.name

    def describe(self) -> str:
        text = f"{self.name} ({self.reason})"
        if self.skipped:
            text += "; skipped: " + "; ".join(f"{n}: {why}" for n, why in self.skipped)
        return text

    def open(self, settings: Settings) -> Executor:
        return self.method(settings)


def check_order(names: Sequence[str]) -> tuple[str, ...]:
    """Validate a configured method order; raise UsageError naming the valid ones."""
    order = tuple(names)
    bad = [name for name in order if name not in REGISTRY]
    if bad or not order:
        raise UsageError(
            f"methods {few(repr(n) for n in bad) or '(none)'} not valid: choose from "
            f"{', '.join(METHOD_NAMES)}."
        )
    return order


def _why_not(
    method: type[Executor], settings: Settings, needs: Needs, *, probe: bool = True
) -> str | None:
    why = method.unavailable(settings) or needs.missing(method)
    if why is None and needs.applies and probe:  # last: it may cost a connection
        why = method.limits_refused(settings)
    return why


def choose(
    requested: str, order: Sequence[str], settings: Settings, needs: Needs = Needs()
) -> Choice:
    """`--method NAME` (refused with the reason if it cannot), or auto through `order`."""
    if requested != "auto":
        method = REGISTRY.get(requested)
        if method is None:
            shown = one_line(repr(requested), limit=60)
            raise UsageError(f"--method {shown}: choose auto, {', '.join(METHOD_NAMES)}.")
        # A forced method's limits are asked by the method itself, only when it applies
        # something: a run with nothing pending must not be refused for what it never does
        why = _why_not(method, settings, needs, probe=False)
        if why is not None:
            raise UsageError(f"--method {requested} cannot run: {why}.")
        return Choice(method, "forced by --method")
    skipped: list[tuple[str, str]] = []
    for name in check_order(order):
        method = REGISTRY[name]
        why = _why_not(method, settings, needs)
        if why is None:
            return Choice(method, "auto", tuple(skipped))
        skipped.append((name, why))
    return Choice(ManualExecutor, "auto: nothing else can run", tuple(skipped))
