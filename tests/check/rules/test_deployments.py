"""What stops `plan`: each is a located validate error first."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_gitops.check.options import ValidateOptions
from prefect_gitops.check.rules import deployments
from prefect_gitops.repo.diagnostics import Diagnostic
from prefect_gitops.repo.loader import load_project
from tests.run_cli import run_cli

FLOW = "from prefect import flow\n\n\n@flow\ndef f() -> None:\n    pass\n"


def check(root: Path, prefect_yaml: str, environ: dict[str, str] | None = None) -> list[Diagnostic]:
    (root / "prefect.yaml").write_text(prefect_yaml)
    project, _ = load_project(root)
    diags = deployments.check(project, ValidateOptions(environ=environ or {}))
    return sorted(diags, key=lambda d: d.sort_key)


def summary(diags: list[Diagnostic]) -> list[tuple[str, int, str]]:
    return [(d.code, d.span.line, d.path) for d in diags]


HEAD = "deployments:\n  - name: d\n    entrypoint: flows.py:f\n"


@pytest.mark.parametrize(
    ("pool", "line", "path"),
    [
        ("", 2, "deployments[0]"),
        ("    work_pool: {}\n", 4, "deployments[0].work_pool"),
        ("    work_pool:\n      job_variables: {}\n", 4, "deployments[0].work_pool"),
        ("    work_pool:\n      name:\n", 5, "deployments[0].work_pool.name"),
        ("    work_pool:\n      name: ''\n", 5, "deployments[0].work_pool.name"),
        ("    work_pool:\n      name: '{{ $UNSET_POOL }}'\n", None, None),
        ("    work_pool:\n      name: '{{ $EMPTY_POOL }}'\n", 5, "deployments[0].work_pool.name"),
        ("    work_pool:\n      name: p\n", None, None),
    ],
)
def test_a_deployment_needs_a_work_pool_name(
    tmp_path: Path, pool: str, line: int | None, path: str | None
) -> None:
    diags = check(tmp_path, HEAD + pool, {"EMPTY_POOL": ""})
    expected = [] if line is None else [("S009", line, path)]
    assert summary(diags) == expected
    if diags:
        assert "A work pool is required" in diags[0].message


TRIGGER = """\
      - name: {name}
        enabled: true
        match:
          prefect.resource.id: prefect.flow-run.*
        expect: [prefect.flow-run.Completed]
"""


def test_two_triggers_with_one_name(tmp_path: Path) -> None:
    yaml = HEAD + "    work_pool: {name: p}\n    triggers:\n"
    yaml += TRIGGER.format(name="same") + TRIGGER.format(name="other") + TRIGGER.format(name="same")
    diags = check(tmp_path, yaml)
    assert summary(diags) == [("S015", 16, "deployments[0].triggers[2].name")]
    assert "triggers[0] and triggers[2] are both named 'same'" in diags[0].message


def test_a_named_trigger_colliding_with_a_default_name(tmp_path: Path) -> None:
    nameless = TRIGGER.replace("      - name: {name}\n        enabled", "      - enabled")
    yaml = HEAD + "    work_pool: {name: p}\n    triggers:\n" + nameless
    yaml += TRIGGER.format(name="d__automation_1")
    assert summary(check(tmp_path, yaml)) == [("S015", 10, "deployments[0].triggers[1].name")]


def test_a_trigger_prefect_refuses_is_located(tmp_path: Path) -> None:
    yaml = HEAD + "    work_pool: {name: p}\n    triggers:\n"
    yaml += "      - name: t\n        posture: Proactive\n        within: 3\n"
    yaml += "      - name: u\n        enabled: sometimes\n"
    diags = check(tmp_path, yaml)
    assert [(d.code, d.span.line) for d in diags] == [("S002", 6), ("S002", 10)]
    assert "10 seconds" in diags[0].message
    assert diags[1].path == "deployments[0].triggers[1].enabled"


def test_validate_now_stops_what_plan_would_refuse(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOW)
    yaml = HEAD + "    triggers:\n" + TRIGGER.format(name="x") + TRIGGER.format(name="x")
    (tmp_path / "prefect.yaml").write_text(yaml)
    result = run_cli("validate", str(tmp_path), "--format", "json")
    assert result.exit_code == 1
    assert sorted(result.codes()) == ["S009", "S015"]
    plan = run_cli("plan", str(tmp_path), env={"PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert plan.exit_code == 1
    assert "S009" in plan.stderr and "nothing was planned" in plan.stderr


@pytest.mark.parametrize("key", ["name", "entrypoint"])
def test_a_templated_name_or_entrypoint_resolving_to_nothing(tmp_path: Path, key: str) -> None:
    yaml = HEAD.replace("flows.py:f", "'{{ $EP }}'") if key == "entrypoint" else HEAD
    if key == "name":
        yaml = yaml.replace("name: d", "name: '{{ $NAME }}'")
    yaml += "    work_pool: {name: p}\n"
    line = 2 if key == "name" else 3
    assert summary(check(tmp_path, yaml, {"NAME": "", "EP": " "})) == [
        ("S009", line, f"deployments[0].{key}")
    ]
    assert check(tmp_path, yaml, {"NAME": "n", "EP": "flows.py:f"}) == []
    assert check(tmp_path, yaml, {}) == []  # unresolved: `prefect deploy` keeps the text


@pytest.mark.parametrize(
    ("entrypoint", "line", "path"),
    [
        ("", 2, "deployments[0]"),
        ("    entrypoint:\n", 3, "deployments[0].entrypoint"),
        ("    entrypoint: '  '\n", 3, "deployments[0].entrypoint"),
        ("    entrypoint: flows.py:f\n", None, None),
    ],
)
def test_a_deployment_needs_an_entrypoint(
    tmp_path: Path, entrypoint: str, line: int | None, path: str | None
) -> None:
    yaml = "deployments:\n  - name: d\n" + entrypoint + "    work_pool: {name: p}\n"
    diags = check(tmp_path, yaml)
    expected = [] if line is None else [("S009", line, path)]
    assert summary(diags) == expected
    if diags:
        assert diags[0].severity.value == "error"
        assert "An entrypoint must be provided" in diags[0].message
        assert diags[0].resource == "deployment/d"


def test_plan_without_an_entrypoint_is_refused_by_a_located_validate_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "prefect.yaml").write_text("deployments:\n  - name: d\n    work_pool: {name: p}\n")
    result = run_cli("validate", str(tmp_path), "--format", "json")
    assert result.exit_code == 1
    assert [(d["code"], d["line"]) for d in result.json()["diagnostics"]] == [("S009", 2)]
    plan = run_cli("plan", str(tmp_path), env={"PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert plan.exit_code == 1
    assert "prefect.yaml:2" in plan.stderr and "S009" in plan.stderr
    assert "nothing was planned" in plan.stderr


STEP_TOP = "build:\n  - my.steps.build:\n      id: build_image\n"
STEP_DEP = (
    "deployments:\n  - name: d\n    entrypoint: flows.py:f\n    version: '{{ build_image.tag }}'\n"
    "    tags: [app, '{{ build_image.tag }}']\n    work_pool:\n      name: p\n"
    "      job_variables:\n        image: '{{ build_image.image }}'\n"
    "        cmd: '{{ ctx.flow_run.id }}'\n        home: '{{ HOME_DIR }}'\n"
    "    pull:\n      - prefect.deployments.steps.set_working_directory:\n"
    "          directory: '{{ build_image.dir }}'\n"
)


def test_step_outputs_warn_by_default_where_they_are_used(tmp_path: Path) -> None:
    diags = check(tmp_path, STEP_TOP + STEP_DEP, environ={"HOME_DIR": "/h"})
    step = [d for d in diags if d.code == "R006"]
    assert all(d.severity.value == "warning" for d in step)
    assert summary(step) == [
        ("R006", 7, "deployments[0].version"),
        ("R006", 8, "deployments[0].tags[1]"),
        ("R006", 12, "deployments[0].work_pool.job_variables.image"),
    ]
    assert "{{ build_image.image }}" in step[-1].message


def test_without_steps_a_placeholder_is_not_a_step_output(tmp_path: Path) -> None:
    diags = check(tmp_path, STEP_DEP, environ={"HOME_DIR": "/h"})
    assert [d for d in diags if d.code == "R006"] == []
