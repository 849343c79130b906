"""What every task does around its command: library errors become one masked line and
their exit code, the config is loaded for the project found upward, and the report
(human or --json) is always finished. Library imports stay inside the functions so
`--list` stays fast, and Invoke is imported only by `friendly`, so the direct `lint` path
(direct.py) runs these without it.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from supamigrate.process import pipes

if TYPE_CHECKING:
    from supamigrate.local.server import LocalServer
    from supamigrate.output import Reporter
    from supamigrate.run.config import Config


pipes.install()  # every entry point imports this module: Invoke's own output included

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class Stop(Exception):  # not an error: how every task ends with a code
    """A task's end with an exit code and a line for stderr (None: no line). `friendly`
    hands it to Invoke as its Exit; the direct lint path prints it and exits the same way."""

    def __init__(self, message: str | None, code: int) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def friendly(func: F) -> F:
    """Turn library errors into one masked line and their exit code (2 usage, 1 failure)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from invoke.exceptions import Exit

        if args and _invoke_dry(args[0]):
            raise Exit(DRY_BEFORE_TASK, code=2)
        try:
            return guarded(func.__name__, bool(kwargs.get("json")), lambda: func(*args, **kwargs))
        except Stop as stop:
            raise Exit(stop.message, code=stop.code) from None

    return wrapper  # type: ignore[return-value]


DRY_BEFORE_TASK = (
    "FAILED: --dry before the task name is Invoke's own flag, which only echoes shell "
    "commands and would not stop this task: for a dry run put it after the task "
    "(`migrate --dry`)."
)


def _invoke_dry(context: Any) -> bool:
    """Invoke's core `--dry`/`-R` (run.dry): our tasks run no shell commands, so it would
    change nothing, and `invoke --dry migrate` would apply for real."""
    try:
        return bool(context.config.run.dry)
    except AttributeError:  # not an Invoke context
        return False


def guarded(name: str, as_json: bool, call: Callable[[], T]) -> T:
    """`call()`, its library errors turned into Stop with one masked line and their code."""
    from supamigrate import github, output
    from supamigrate.brief import printable
    from supamigrate.errors import SupamigrateError
    from supamigrate.output import shown

    try:
        done = call()
    except Stop as stop:  # the task's own exit code; say if its report's reader left
        if pipes.gone() and not stop.message:
            raise Stop(pipes.message(output.PROGRAM), stop.code) from None
        raise
    except SupamigrateError as exc:
        _debug()
        github.run_failed(name, exc)
        raise Stop(printable(shown(f"FAILED: {exc}")), exc.exit_code) from None
    except (OSError, UnicodeError) as exc:  # the disk or the environment said no: one line
        _debug()
        if isinstance(exc, BrokenPipeError) and pipes.reader_gone():
            pipes.silence_stdout()
            raise Stop(pipes.message(output.PROGRAM), pipes.EXIT_CODE) from None
        raise Stop(printable(shown(f"FAILED: {_os_error(exc)}")), 2) from None
    except KeyboardInterrupt as exc:  # before or after applying: nothing was in flight
        signum = getattr(exc, "signum", 2)  # SIGTERM too (interrupt.terminable)
        stopped = f"Interrupted ({'SIGTERM' if signum == 15 else 'SIGINT'})"
        if as_json and not getattr(exc, "documented", False):
            # Before the task's reporter existed: --json still gets its one document.
            signame = "SIGTERM" if signum == 15 else "SIGINT"
            print(f'{{"interrupted": {{"signal": "{signame}"}}, "results": []}}', flush=True)
        raise Stop(f"{stopped}: no migration was running.", 128 + signum) from None
    if pipes.gone():  # the task ran to its end; its report's reader left on the way
        raise Stop(pipes.message(output.PROGRAM), pipes.EXIT_CODE)
    return done


def _debug() -> None:
    if os.environ.get("SUPAMIGRATE_DEBUG"):
        import traceback  # here: only SUPAMIGRATE_DEBUG prints one

        traceback.print_exc()


def _os_error(exc: OSError | UnicodeError) -> str:
    if isinstance(exc, UnicodeError):
        return f"a name or value is not valid text ({exc.__class__.__name__}): fix it."
    name = exc.filename if isinstance(exc.filename, str) else repr(exc.filename)
    where = f" ({name[:120]}{'...' if len(name) > 120 else ''})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}: fix the file or its name, then retry."


def _shown(text: str) -> str:
    from supamigrate.output import shown

    return shown(text)


def project_root() -> Path:
    from supamigrate.run.config import find_root

    return find_root(Path.cwd())


def _local_server() -> LocalServer:
    from supamigrate.local.binaries import configured_major
    from supamigrate.local.server import LocalServer

    root = project_root()
    major = configured_major(root / "supabase")  # as `supabase start`: [db] major_version
    return LocalServer(root / ".supamigrate" / "local", major=major, npm_roots=(root,))


def _config(linked: bool = False, target: str | None = None, **flags: Any) -> Config:
    from supamigrate.errors import UsageError
    from supamigrate.run.config import load_config

    named = {"--linked": linked, "--db-url": flags.get("db_url"), "--target": target}
    if sum(1 for value in named.values() if value) > 1:
        given = " and ".join(flag for flag, value in named.items() if value)
        raise UsageError(f"Pass one of --linked, --db-url or --target, not {given}.")
    config = load_config(project_root(), flags=flags, target=target)
    if linked:
        from supamigrate.run.link import linked_config

        config = linked_config(config)
    if flags.get("db_url") and config.target.password:
        print(
            "warning: a password in --db-url is visible to other users in the process list; "
            "put the URL in DATABASE_URL or .env.secrets instead.",
            file=sys.stderr,
        )
    return config


def _run(as_json: bool, body: Callable[[Reporter], int]) -> None:
    """Run `body(reporter)`, always emit the JSON document, exit with body's code."""
    from supamigrate.connect.masking import mask
    from supamigrate.errors import SupamigrateError
    from supamigrate.output import Reporter
    from supamigrate.process.interrupt import terminable

    out = Reporter(as_json=as_json)
    try:
        with terminable():
            code = body(out)
    except SupamigrateError as exc:  # --json: the document carries the error too
        out.fact("error", {"message": mask(str(exc)), "exit_code": exc.exit_code})
        raise
    except KeyboardInterrupt as exc:  # and a signal before or after applying
        out.doc.setdefault("interrupted", {"signal": str(exc) or "SIGINT"})
        exc.documented = True  # type: ignore[attr-defined]  # (friendly prints no second)
        raise
    finally:
        out.finish()
    if code:
        raise Stop(None, code)
