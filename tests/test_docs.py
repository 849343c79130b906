"""The README cannot rot: every task and every flag the collection has appears in it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from invoke.collection import Collection
from invoke.tasks import Task

from helpers.project import REPO
from supamigrate import usage
from supamigrate.collection import ns

README = (REPO / "README.md").read_text(encoding="utf-8")


def _tasks(collection: Collection, prefix: str = "") -> Iterator[tuple[str, Task]]:
    for name, task in collection.tasks.items():
        yield prefix + name, task
    for name, sub in collection.collections.items():
        yield from _tasks(sub, f"{prefix}{name}.")


def _flags(task: Task) -> list[str]:
    return [f"--{arg.name.replace('_', '-')}" for arg in usage.arguments(task)]


def test_every_task_is_in_the_readme() -> None:
    """Each task is shown as `invoke <task>` (or `supamigrate <task>`) somewhere in the README."""
    missing = [
        name
        for name, _ in _tasks(ns)
        if not re.search(rf"(invoke|supamigrate) {re.escape(name)}(?![\w.-])", README)
    ]
    assert missing == []


def test_every_flag_is_in_the_readme() -> None:
    """Each task's every flag is named in the README."""
    missing = [
        f"{name} {flag}"
        for name, task in _tasks(ns)
        for flag in _flags(task)
        if not re.search(re.escape(flag) + r"(?![\w-])", README)  # --strict is not --strict-x
    ]
    assert missing == []


def test_ci_runs_the_readmes_test_command() -> None:
    """.ci/run ends with the README's "every test" command, verbatim."""
    command = re.search(r"\*\*Every test\*\*.*?```bash\n(.+?)\n```", README, re.S)
    assert command is not None
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == command.group(1)


def _reference(task: str) -> str | None:
    """The README section (### heading) that documents `task`: `invoke migrate`, `invoke db.*`."""
    group = task.split(".")[0] + ".*" if "." in task else None
    for section in re.split(r"\n(?=### )", README):
        heading = section.splitlines()[0]
        if heading.startswith("### ") and (
            f"`invoke {task}`" in heading or (group and f"`invoke {group}`" in heading)
        ):
            return section
    return None


def test_every_flag_is_in_its_tasks_reference() -> None:
    """Each task has a section under "Tasks", and that section names every flag the task has."""
    missing = [
        f"{name} {flag}"
        for name, task in _tasks(ns)
        for flag in ["(section)", *_flags(task)]
        if (section := _reference(name)) is None
        or (flag != "(section)" and not re.search(re.escape(flag) + r"(?![\w-])", section))
    ]
    assert missing == []
