"""validate.py: the rules in order, under the severity contract of codes.SEVERITY."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prefect_gitops.check import codes
from prefect_gitops.check.options import ValidateOptions
from prefect_gitops.check.validate import validate_project, within_contract
from prefect_gitops.repo.diagnostics import Diagnostic, Severity
from prefect_gitops.repo.loader import load_project
from prefect_gitops.repo.source import Span
from prefect_gitops.state.desired import analyze_flows, build_desired

FLOW = (
    "from prefect import flow\n\n\n@flow\ndef backfill(table: str, day: str) -> None:\n    pass\n"
)
POOL = "name: local\ntype: process\n"


def project_with(root: Path, deployment: str) -> Path:
    (root / "flows.py").write_text(FLOW)
    (root / "work-pools").mkdir()
    (root / "work-pools" / "local.yaml").write_text(POOL)
    (root / "prefect.yaml").write_text(
        "deployments:\n  - name: d\n    entrypoint: flows.py:backfill\n"
        "    work_pool:\n      name: local\n" + deployment
    )
    return root


def verdicts(root: Path, *, strict: bool) -> list[tuple[str, str]]:
    project, _ = load_project(root)
    diags = validate_project(project, ValidateOptions(strict=strict))
    return [(d.code, d.severity.value) for d in diags.sorted()]


def test_required_parameter_left_unset_warns_and_names_the_consequence(tmp_path: Path) -> None:
    root = project_with(tmp_path, "    parameters: {table: events}\n")
    project, _ = load_project(root)
    [diag] = list(validate_project(project, ValidateOptions()))
    assert (diag.code, diag.severity) == ("E011", Severity.WARNING)
    assert "scheduled runs will fail unless they pass 'day'" in diag.message
    assert verdicts(root, strict=True) == [("E011", "error")]


def test_strict_in_the_root_config_promotes_too(tmp_path: Path) -> None:
    root = project_with(tmp_path, "    parameters: {table: events}\n")
    (root / "prefect-gitops.yaml").write_text("strict: true\n")
    assert verdicts(root, strict=False) == [("E011", "error")]


@pytest.mark.parametrize(
    ("deployment", "code"),
    [
        ("    job_variables: {env: {A: '1'}}\n", "S003"),
        ("      job_variables: {stream_ouput: false}\n", "J006"),
    ],
)
def test_what_prefect_drops_is_a_warning_that_strict_promotes(
    tmp_path: Path, deployment: str, code: str
) -> None:
    root = project_with(tmp_path, deployment + "    parameters: {table: t, day: d}\n")
    assert verdicts(root, strict=False) == [(code, "warning")]
    assert verdicts(root, strict=True) == [(code, "error")]


def _diag(code: str, severity: Severity) -> Diagnostic:
    return Diagnostic(severity, code, "m", Span("prefect.yaml", 1, 1))


@pytest.mark.parametrize("code", sorted(codes.STRICT_ERROR_CODES))
def test_the_contract_overrides_a_rule_that_judged_otherwise(code: str) -> None:
    assert within_contract(_diag(code, Severity.ERROR), False).severity is Severity.WARNING
    assert within_contract(_diag(code, Severity.WARNING), True).severity is Severity.ERROR
    assert within_contract(_diag(code, Severity.INFO), True).severity is Severity.INFO


def test_errors_prefect_also_refuses_are_never_demoted() -> None:
    for code, (severity, _) in codes.SEVERITY.items():
        if severity == codes.ERROR:
            assert within_contract(_diag(code, Severity.ERROR), False).severity is Severity.ERROR


# -- validate <=> plan: what stops plan is a located validate error first --------------------

REPO = Path(__file__).resolve().parents[2]
LAYOUTS = REPO / "tests" / "realworld" / "layouts"
PROJECTS = sorted(
    [p for p in LAYOUTS.iterdir() if (p / "expect.yaml").is_file()]
    + [p for p in (REPO / "examples").iterdir() if p.is_dir() and p.name != "invalid"]
    + [p for p in (REPO / "examples" / "invalid").iterdir() if p.is_dir()]
)
# Plan still refuses what validate and Prefect accept (desired.py, another change).
# Layouts validate passes and `build_desired` still refuses (none today: add one with why).
PLAN_REFUSES: dict[str, str] = {}


@pytest.mark.parametrize(
    "root",
    [
        pytest.param(
            p, id=p.name, marks=[pytest.mark.xfail(strict=True, reason=PLAN_REFUSES[p.name])]
        )
        if p.name in PLAN_REFUSES
        else pytest.param(p, id=p.name)
        for p in PROJECTS
    ],
)
def test_without_validate_errors_the_desired_state_can_be_built(root: Path) -> None:
    expect = root / "expect.yaml"
    environ: dict[str, str] = {}
    if expect.is_file():
        environ = {
            str(k): str(v) for k, v in (yaml.safe_load(expect.read_text()).get("env") or {}).items()
        }
    project, load_diags = load_project(root)
    diags = validate_project(project, ValidateOptions(environ=environ))
    if load_diags.has_errors or diags.has_errors:
        return  # plan refuses it too, with these located errors
    build_desired(project, environ=environ, flow_lookup=analyze_flows(project))
