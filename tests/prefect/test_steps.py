"""Where `prefect deploy` finds a step's function: read as Prefect's `import_object` reads the
name, looked up in this environment and the prefect.yaml's folder, never imported."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_gitops.errors import ReconcilerError
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.prefect.steps import (
    NotAnImportPath,
    own_steps,
    package_found,
    prefect_installed,
    prefect_step_runner,
    step_package,
)


@pytest.mark.parametrize(
    ("name", "package"),
    [
        ("prefect_docker.deployments.steps.build_docker_image", "prefect_docker"),
        ("mysteps:build", "mysteps"),
        ("pkg.sub:obj.method", "pkg"),
        ("steps/build.py:make", None),  # a script: Prefect loads it by its path
    ],
)
def test_the_package_a_step_is_imported_from(name: str, package: str | None) -> None:
    assert step_package(name) == package


@pytest.mark.parametrize("name", ["build_it", "my-steps.build", "1pkg:f", ":f"])
def test_a_name_prefect_cannot_import_at_all(name: str) -> None:
    with pytest.raises(NotAnImportPath):
        step_package(name)


def test_a_package_is_found_installed_or_beside_the_prefect_yaml(tmp_path: Path) -> None:
    (tmp_path / "mod_beside.py").write_text("raise SystemExit('imported!')\n")
    (tmp_path / "pkg_beside").mkdir()
    (tmp_path / "pkg_beside" / "__init__.py").write_text("raise SystemExit('imported!')\n")
    assert package_found("yaml", tmp_path) and package_found("prefect", tmp_path)
    assert package_found("mod_beside", tmp_path) and package_found("pkg_beside", tmp_path)
    assert not package_found("mod_beside", tmp_path / "elsewhere")
    assert not package_found("pg_not_installed_anywhere", tmp_path)
    assert not {"mod_beside", "pkg_beside"} & set(sys.modules)
    assert prefect_installed()


UNUSED = Settings(api_url="http://127.0.0.1:9/api")  # never asked: the steps use no placeholder


def test_run_steps_runs_them_in_the_prefect_yaml_folder_and_reports_a_failing_one(
    tmp_path: Path,
) -> None:
    run = prefect_step_runner(UNUSED)
    script = "prefect.deployments.steps.run_shell_script"
    built = run([{script: {"id": "where", "script": "pwd"}}], [], tmp_path)
    assert built["where"]["stdout"] == str(tmp_path)
    with pytest.raises(ReconcilerError, match="a build/push step failed"):
        run([{script: {"script": "false"}}], [], tmp_path)


def test_steps_run_against_the_api_plan_uses_not_prefects_own_profile(tmp_path: Path) -> None:
    (tmp_path / "where_step.py").write_text(
        "from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL\n\n"
        "def where(**_):\n"
        "    return {'url': PREFECT_API_URL.value(), 'has_key': bool(PREFECT_API_KEY.value())}\n"
    )
    ours = Settings(api_url="http://127.0.0.1:9/api", api_key="k-123")
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:8/elsewhere"}):
        run = prefect_step_runner(ours)
        out = run([{"where_step.where": {"id": "w"}}], [], tmp_path)
        assert PREFECT_API_URL.value() == "http://127.0.0.1:8/elsewhere"  # restored after
    assert out["w"] == {"url": "http://127.0.0.1:9/api", "has_key": True}


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        ({}, {"build": False, "push": False}),
        ({"build": []}, {"build": True, "push": False}),  # written, even empty: its own
        ({"build": None, "push": None}, {"build": True, "push": False}),
        ({"push": []}, {"build": False, "push": False}),  # empty push: the file's
        ({"push": [{"my.step": {}}]}, {"build": False, "push": True}),
    ],
)
def test_which_steps_prefect_deploy_runs(
    deployment: dict[str, Any], expected: dict[str, bool]
) -> None:
    assert own_steps(deployment) == expected
