"""Command-line mistakes and conveniences on top of Invoke's parser.

Invoke answers a mistyped flag with "No idea what '--skip-confrim' is!" and exit 1; the README
promises exit 2 for usage errors and a line that says what to do. `guard(program)` wraps an
Invoke Program (ours, and `invoke`'s own when this repo's tasks.py loads) so that every parse
error exits 2 with the nearest flag or task name, and so that `lint a.sql b.sql` reads the
paths given (what pre-commit passes) as `--file` values.
"""

from __future__ import annotations

import copy
import difflib
import logging
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit, ParseError
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext
from invoke.program import Program
from invoke.tasks import Task

from supamigrate.connect.masking import mask
from supamigrate.process import leave

_UNKNOWN = re.compile(r"^No idea what '(?P<token>.*)' is!$", re.S)
_NOT_INT = re.compile(r"invalid literal for int\(\) with base 10: (?P<value>'.*')$", re.S)
_ARGUMENT = re.compile(r"<Argument: (?P<name>[\w-]+)[^>]*>")  # how Invoke names a flag in errors
# Tasks that read bare paths as files: task name -> the flag each path becomes.
PATH_TASKS = {"lint": "--file"}


class _MaskedDebug(logging.Filter):
    """Invoke's `--debug` logs every argv token: a URL's password is masked there too."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask(record.getMessage()), ()
        return True


def guard(program: Program, name: str) -> None:
    """Wrap `program`'s parsing steps: parse errors exit 2 with a hint; lint takes paths."""
    if getattr(program, "_supamigrate_guarded", False):
        return
    invoke_log = logging.getLogger("invoke")
    if not any(isinstance(f, _MaskedDebug) for f in invoke_log.filters):
        invoke_log.addFilter(_MaskedDebug())
    parse_tasks, parse_cleanup = program.parse_tasks, program.parse_cleanup

    def tasks() -> None:
        # `-h` after a task is help, as everywhere else: Invoke would give it to the task's
        # first flag whose letters it ran out of (migrate's --method).
        unparsed = ["--help" if word == "-h" else word for word in program.core.unparsed]
        program.core.unparsed = with_paths(unparsed, program.collection)
        _exit_2(parse_tasks, program, name)
        _exit_2(lambda: _no_flag_as_value(program), program, name)

    def cleanup() -> None:
        try:
            _exit_2(parse_cleanup, program, name)
        except Exit as exc:  # `--list NAME` with no such group: Invoke says so with exit 1
            group = re.match(r"Sub-collection '(?P<name>.*)' not found!$", str(exc.message))
            if group is None:
                raise
            groups = ", ".join(program.collection.collections) or "none"
            raise Exit(
                f"--list {group['name']}: no such task group (groups: {groups}); "
                f"`{name} --list` lists every task, `{name} --help TASK` one task's flags.",
                2,
            ) from None

    execute = program.execute

    def execute_then_leave() -> None:  # every task returned: leave without the teardown
        execute()
        leave.now()

    program.parse_tasks = tasks  # type: ignore[method-assign]
    program.parse_cleanup = cleanup  # type: ignore[method-assign]
    program.execute = execute_then_leave  # type: ignore[method-assign]
    program._supamigrate_guarded = True  # type: ignore[attr-defined]


def guard_invoke() -> None:
    """The same under `invoke`, for this repo's tasks.py: Invoke offers a collection no hook
    into parsing, but tasks.py is imported by the running `invoke` program before it parses
    the task flags, so its instance can be wrapped then. Not an `invoke` process: nothing."""
    main = sys.modules.get("invoke.main")
    running = getattr(main, "program", None)
    if isinstance(running, Program):
        guard(running, "invoke")


def _exit_2(step: Callable[[], None], program: Program, name: str) -> None:
    try:
        step()
    except ParseError as exc:
        message = hint(exc, program.collection, program.initial_context, name)
        raise Exit(mask(message), 2) from None  # a URL typed as a task keeps its password
    except ValueError as exc:  # Invoke casts an int flag's value and lets ValueError through
        if not _NOT_INT.search(str(exc)):
            raise  # not the user's input (e.g. help for a flag a task lacks): a bug to see
        raise Exit(mask(_not_a_number(exc, program.core.unparsed, name)), 2) from None


def _no_flag_as_value(program: Program) -> None:
    """Invoke fills a task's positional argument (`db.create NAME`) with whatever word comes,
    a mistyped flag included: a value that starts with "-" is read as the flag it looks like."""
    for context in program.tasks:
        for argument in context.positional_args:
            if isinstance(argument.value, str) and argument.value.startswith("-"):
                raise ParseError(f"No idea what {argument.value!r} is!", context)


def _not_a_number(error: ValueError, tokens: list[str], program: str) -> str:
    match = _NOT_INT.search(str(error))
    value = match.group("value")[1:-1] if match else ""
    for index, token in enumerate(tokens):
        flag, equals, inline = token.partition("=")
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if flag.startswith("-") and (inline if equals else following) == value:
            return f"{flag} takes a whole number, got {value!r}. See `{program} --help`."
    return f"A flag that takes a whole number got {value!r}. See `{program} --help`."


def hint(error: ParseError, collection: Collection, core: ParserContext, program: str) -> str:
    """One line: what was not understood, and the nearest thing that would have been."""
    context = error.context if error.context is not None and error.context.name else None
    match = _UNKNOWN.match(str(error))
    if match is None:  # a flag without its value, a value for a switch, ...
        where = f"`{program} --help {context.name}`" if context else f"`{program} --help`"
        said = _ARGUMENT.sub(lambda m: "--" + m.group("name").replace("_", "-"), str(error))
        said = said.replace(" needed value and was not given one!", " needs a value.")
        return f"{said} See {where}."
    token = match.group("token")
    if not token.startswith("-"):
        names = task_names(collection)
        return _said(f"Unknown task {token!r}", _near(token, names), f"`{program} --list`")
    if context is None:
        flags = list(core.flags)
        return _said(f"Unknown option {token}", _near(token, flags), f"`{program} --help`")
    lists = f"`{program} --help {context.name}`"
    near = _near(token, [*context.flags, *context.inverse_flags])
    if near is None:  # another task's flag (maybe mistyped too), or one of Invoke's core flags
        contexts = _contexts(collection)
        theirs = _near(token, {flag for _, ctx in contexts for flag in ctx.flags}) or ""
        near = _near(token, core.flags)
        if theirs and _likeness(token, theirs) >= _likeness(token, near or ""):
            owners = [n for n, ctx in contexts if theirs in ctx.flags]
            which = ", ".join(owners) + (" do" if len(owners) > 1 else " does")
            return f"{context.name} has no {theirs} ({which}); {lists} lists its flags."
    return _said(f"Unknown flag {token} for {context.name}", near, lists)


def _said(what: str, near: str | None, where: str) -> str:
    guess = f": did you mean {near}?" if near else "."
    return f"{what}{guess} {where} lists them; nothing was run."


def _likeness(token: str, name: str) -> float:
    return difflib.SequenceMatcher(None, token.replace("_", "-").lower(), name).ratio()


def _near(token: str, names: Iterable[str]) -> str | None:
    wanted = token.replace("_", "-").lower()
    found = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.6)
    return found[0] if found else None


def task_names(collection: Collection) -> list[str]:
    """Every name a task answers to, dotted for subcollections, aliases included."""
    names: list[str] = []
    for primary, aliases in collection.task_names.items():
        names += [primary, *aliases]
    return names


def arguments(task: Task[Any]) -> list[Argument]:
    """A task's flags with their help. Invoke's `get_arguments` pops each help text off the
    task as it goes (a second call has none, and `--help TASK` would then show none): ask a
    copy instead."""
    clone = copy.copy(task)
    clone.help = dict(task.help)
    return list(clone.get_arguments())


def _contexts(collection: Collection) -> list[tuple[str, ParserContext]]:
    """Like `collection.to_contexts()`, without using up the tasks' help texts."""
    return [
        (primary, ParserContext(name=primary, aliases=aliases, args=arguments(collection[primary])))
        for primary, aliases in collection.task_names.items()
    ]


def with_paths(tokens: list[str], collection: Collection) -> list[str]:
    """`lint a.sql dir/b.sql` -> `lint --file a.sql --file dir/b.sql`: a bare word after a
    path-taking task that is no flag's value and no task's name, and that ends in .sql or names
    an existing file, is a path."""
    if not any(token in PATH_TASKS for token in tokens):  # the common case costs nothing
        return tokens
    contexts = dict(_contexts(collection))
    names = set(task_names(collection))
    out: list[str] = []
    flag_for: str | None = None  # the path flag of the task being read, if it takes paths
    expects_value = False
    for token in tokens:
        if expects_value:
            expects_value = False
        elif token in names:
            context = contexts.get(token)
            flag_for = PATH_TASKS.get(str(context.name)) if context else None
        elif token.startswith("-"):
            current = contexts.get(_last_task(out, names) or "")
            argument = current.flags.get(token) if current is not None else None
            expects_value = bool(argument is not None and argument.takes_value)
        elif flag_for and (token.endswith(".sql") or Path(token).is_file()):
            out.append(flag_for)
        out.append(token)
    return out


def _last_task(tokens: list[str], names: set[str]) -> str | None:
    return next((t for t in reversed(tokens) if t in names), None)
