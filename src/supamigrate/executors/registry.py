"""The methods by name, and `auto`: the first in the configured order that can run here.

The only place that knows the methods' names. A method is skipped with its reason when it
cannot run here (`unavailable`) or cannot do what this run needs (`capabilities`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from supamigrate.brief import few, one_line
from supamigrate.errors import UsageError
from supamigrate.executors.base import Executor, Settings

# name -> (module, class), in the default order. A method's module is imported when the run
# asks for it: a run with nothing to do, `--method psycopg2`, never loads psql, the CLI or
# manual (~10 ms of imports on every run).
_PLACES = {
    "supabase": ("supamigrate.executors.supabase_cli", "SupabaseCliExecutor"),
    "psycopg2": ("supamigrate.executors.psycopg2", "Psycopg2Executor"),
    "psql": ("supamigrate.executors.psql", "PsqlExecutor"),
    "manual": ("supamigrate.executors.manual", "ManualExecutor"),
}


class _Methods(Mapping[str, type[Executor]]):
    """The methods by name, each imported when first looked up."""

    def __getitem__(self, name: str) -> type[Executor]:
        module, attribute = _PLACES[name]
        method: type[Executor] = getattr(importlib.import_module(module), attribute)
        return method

    def __contains__(self, name: object) -> bool:  # without importing it
        return name in _PLACES

    def __iter__(self) -> Iterator[str]:
        return iter(_PLACES)

    def __len__(self) -> int:
        return len(_PLACES)


REGISTRY: Mapping[str, type[Executor]] = _Methods()
METHOD_NAMES = tuple(_PLACES)


class Needs(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import
    """What this run asks of a method."""

    rehearse: bool = False
    rerun: bool = False
    applies: bool = False  # migrate (also --dry: it shows the method a real run would use)
    go_on: bool = False  # --continue-on-error

    def missing(self, method: type[Executor]) -> str | None:
        caps = method.capabilities
        if self.rehearse and not caps.rehearse:
            return "cannot rehearse (--rehearse)"
        if self.rerun and not caps.rerun:
            return "cannot re-run one migration (--migration)"
        if self.go_on and not caps.goes_past_failure:
            return (
                "cannot go on past a failed migration (--continue-on-error): each push applies "
                "every pending file in order, the failed one first"
            )
        return None


class Choice(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import
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


_NOTHING_ASKED = Needs()


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
    requested: str, order: Sequence[str], settings: Settings, needs: Needs = _NOTHING_ASKED
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
    return Choice(REGISTRY["manual"], "auto: nothing else can run", tuple(skipped))
