"""S016: the build and push steps `prefect deploy` runs must be importable where it runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from prefect_gitops.check.options import ValidateOptions
from prefect_gitops.check.rules import steps
from prefect_gitops.prefect import steps as step_lookup
from prefect_gitops.repo.diagnostics import Diagnostic
from prefect_gitops.repo.loader import load_project
from tests.check.rules.helpers import run_rule
from tests.run_cli import run_cli

MISSING = "pg_not_installed_steps.deployments.steps.build_image"


def check(root: Path, prefect_yaml: str, **files: str) -> list[Diagnostic]:
    return run_rule(steps.check, root, prefect_yaml, **files)


def summary(diags: list[Diagnostic]) -> list[tuple[str, int, str]]:
    return [(d.severity.value, d.span.line, d.path) for d in diags]


def deployment(name: str = "d", extra: str = "") -> str:
    return f"  - name: {name}\n    entrypoint: flows.py:f\n    work_pool:\n      name: p\n{extra}"


def test_a_build_step_whose_package_is_missing_fails_prefect_deploy(tmp_path: Path) -> None:
    text = f"build:\n  - {MISSING}:\n      id: img\ndeployments:\n" + deployment()
    diags = check(tmp_path, text)
    assert summary(diags) == [("error", 2, f"build[0]['{MISSING}']")]
    assert {d.code for d in diags} == {"S016"}
    message = diags[0].message
    assert message.startswith(f"deployment 'd': build step '{MISSING}' cannot be imported")
    assert "'pg_not_installed_steps'" in message and "no `requires:`" in message
    assert "requires: pg-not-installed-steps" in (diags[0].hint or "")
    assert diags[0].resource == "deployment/d"


@pytest.mark.parametrize(
    "text",
    [
        # `requires:` makes Prefect install the package first
        f"build:\n  - {MISSING}:\n      requires: pg-not-installed-steps>=1\n",
        f"build:\n  - {MISSING}:\n      requires: [other, pg-not-installed-steps]\n",
        # a pull step is only stored: it runs on the worker, with each flow run
        f"pull:\n  - {MISSING}: {{}}\n",
        # the deployment's own `build:` (even null) replaces the file's
        f"build:\n  - {MISSING}: {{}}\n",
        # installed here, or in the prefect.yaml's folder (first on Prefect's sys.path)
        "build:\n  - yaml.safe_load: {}\n",
        "build:\n  - local_steps.make: {}\n",
        "build:\n  - local_pkg.steps:make: {}\n",
        "build:\n  - prefect.deployments.steps.run_shell_script: {script: echo}\n",
        # a package a `requires:` installed earlier in the same run
        f"build:\n  - {MISSING}:\n      requires: pg-not-installed-steps\npush:\n  - {MISSING}: {{}}\n",
    ],
)
def test_steps_prefect_deploy_can_import_or_does_not_run(tmp_path: Path, text: str) -> None:
    own = "    build:\n" if text.startswith("build:\n  - pg_") and "requires" not in text else ""
    files = {"local_steps.py": "def make(): ...\n", "local_pkg/__init__.py": ""}
    assert check(tmp_path, text + "deployments:\n" + deployment(extra=own), **files) == []


def test_an_empty_push_falls_back_to_the_files_push_steps(tmp_path: Path) -> None:
    # Prefect: `push_steps or actions.get("push")`, unlike `build`
    text = f"push:\n  - {MISSING}: {{}}\ndeployments:\n" + deployment(extra="    push: []\n")
    assert summary(check(tmp_path, text)) == [("error", 2, f"push[0]['{MISSING}']")]


def test_a_step_shared_by_deployments_is_reported_once_naming_them(tmp_path: Path) -> None:
    text = (
        f"build:\n  - {MISSING}: {{}}\ndeployments:\n"
        + deployment("a")
        + deployment("b")
        + deployment("c", f"    build:\n      - {MISSING}: {{}}\n")
    )
    diags = check(tmp_path, text)
    assert summary(diags) == [
        ("error", 2, f"build[0]['{MISSING}']"),
        ("error", 17, f"deployments[2].build[0]['{MISSING}']"),
    ]
    assert diags[0].message.startswith("deployment 'a', deployment 'b': build step")
    assert diags[0].resource is None and diags[1].resource == "deployment/c"


def test_a_step_name_that_is_not_an_import_path(tmp_path: Path) -> None:
    text = "build:\n  - build_it: {}\n  - my-steps.build: {}\ndeployments:\n"
    text += deployment("a") + deployment("b")
    diags = check(tmp_path, text)
    assert summary(diags) == [
        ("error", 2, "build[0].build_it"),
        ("error", 3, "build[1]['my-steps.build']"),
    ]
    assert all("is not an import path" in d.message for d in diags)
    assert diags[0].message.startswith("deployment 'a', deployment 'b': build step 'build_it'")


def test_the_step_module_is_looked_up_never_imported(tmp_path: Path) -> None:
    files = {"boom_steps.py": "raise SystemExit('imported!')\n"}
    text = "build:\n  - boom_steps.make: {}\ndeployments:\n" + deployment()
    assert check(tmp_path, text, **files) == []
    assert "boom_steps" not in sys.modules


def test_without_prefect_here_it_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. a pre-commit hook's environment: not where `prefect deploy` runs
    monkeypatch.setattr(step_lookup, "prefect_installed", lambda: False)
    (tmp_path / "prefect").mkdir()  # a folder of the repository is not Prefect
    text = f"build:\n  - {MISSING}: {{}}\n  - prefect.deployments.steps.run_shell_script: {{}}\n"
    diags = check(tmp_path, text + "deployments:\n" + deployment())
    assert summary(diags) == [("warning", 2, f"build[0]['{MISSING}']")]
    assert "nor is Prefect" in diags[0].message


def test_validate_exits_1_on_it(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text("from prefect import flow\n\n@flow\ndef f(): ...\n")
    (tmp_path / "prefect.yaml").write_text(
        f"build:\n  - {MISSING}: {{}}\ndeployments:\n" + deployment()
    )
    result = run_cli("validate", str(tmp_path), "--format", "json")
    assert result.exit_code == 1, result.stderr
    found = [d for d in result.json()["diagnostics"] if d["severity"] == "error"]
    assert [(d["code"], d["line"]) for d in found] == [("S016", 2)]


def test_a_command_that_does_not_run_the_steps_gets_a_warning(tmp_path: Path) -> None:
    # plan and apply without --run-steps: the outputs come from --step-output
    (tmp_path / "prefect.yaml").write_text(
        f"build:\n  - {MISSING}: {{}}\n  - build_it: {{}}\ndeployments:\n" + deployment()
    )
    project, _ = load_project(tmp_path)
    diags = list(steps.check(project, ValidateOptions(runs_steps=False)))
    assert [(d.severity.value, d.span.line) for d in diags] == [("warning", 2), ("warning", 3)]
    assert all("does not run the steps" in d.message for d in diags)
