"""Commands are imported on demand: `validate` stays offline and light, and the idle runner
carries nothing of the validate/plan stack."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from prefect_gitops.cli.group import _COMMAND_MODULES, cli
from tests.run_cli import run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"

_PROBE = """
import contextlib, io, json, sys
from prefect_gitops.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["validate", sys.argv[1], "--format", "json"])
print(json.dumps([code, sorted(m for m, v in sys.modules.items() if v is not None)]))
"""


def test_validate_imports_no_api_client_renderer_diff_or_runner() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(QUICKSTART)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    code, modules = json.loads(done.stdout.splitlines()[-1])
    assert code == 0
    heavy = {"httpx", "jinja2", "deepdiff", "prefect", "prefect_gitops.runner"}
    assert not [m for m in modules if m in heavy or m.split(".")[0] in heavy - {"prefect"}]


_RUNNER_PROBE = """
import contextlib, io, json, sys
from prefect_gitops.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["runner", "start", "--help"])
print(json.dumps([code, sorted(m for m, v in sys.modules.items() if v is not None)]))
"""


def test_the_runner_command_imports_nothing_of_the_validate_plan_stack() -> None:
    """Its idle memory is a goal (half of `prefect worker`'s): what `runner start` imports is
    what every idle runner keeps."""
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER_PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    code, modules = json.loads(done.stdout.splitlines()[-1])
    assert code == 0
    stages = {"check", "state", "plans", "execution", "export", "pipeline", "repo"}
    ours = [m for m in modules if m.startswith("prefect_gitops.")]
    assert [m for m in ours if m.split(".")[1] in stages] == []
    assert "prefect_gitops.runner.poll" in ours
    heavy = {"prefect", "jsonschema", "yaml", "deepdiff", "rich", "pygments", "ruamel"}
    assert [m for m in modules if m.split(".")[0] in heavy] == []


def test_every_command_is_listed_and_known_to_the_lazy_table() -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    listed = set(cli.list_commands(None))  # type: ignore[arg-type]
    assert listed == set(_COMMAND_MODULES), "name new commands in cli._COMMAND_MODULES"
    for name in listed:
        assert name in result.stdout


def test_validate_leaves_the_garbage_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    assert run_cli("validate", str(QUICKSTART), "--format", "json").exit_code == 0
    assert gc.isenabled()
    gc.disable()
    try:
        run_cli("validate", str(QUICKSTART), "--format", "json")
        assert not gc.isenabled()
    finally:
        gc.enable()
