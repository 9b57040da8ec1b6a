from __future__ import annotations

from pathlib import Path

from prefect_gitops.check.options import ValidateOptions
from prefect_gitops.check.rules import references
from prefect_gitops.repo.diagnostics import Diagnostic
from prefect_gitops.repo.loader import load_project

CONFIG = """\
variables:
  - name: image_tag
    value: "1.0"
  - name: region
    value: eu
"""


def check(
    root: Path, prefect_yaml: str, config: str | None = CONFIG, *, strict: bool = False
) -> list[Diagnostic]:
    (root / "prefect.yaml").write_text(prefect_yaml)
    if config is not None:
        (root / "prefect-gitops.yaml").write_text(config)
    project, _ = load_project(root)
    return sorted(
        references.check(project, ValidateOptions(strict=strict)), key=lambda d: d.sort_key
    )


def summary(diags: list[Diagnostic]) -> list[tuple[str, str, int, str]]:
    return [(d.severity.value, d.code, d.span.line, d.path) for d in diags]


VARIABLES = """\
pull:
  - prefect.deployments.steps.git_clone:
      repository: "{{ prefect.variables.repo_url }}"
deployments:
  - name: a
    version: "{{ prefect.variables.image_tag }}"
    work_pool:
      name: local
      job_variables:
        env:
          REGION: "{{ prefect.variables.regoin }}"
          HOME: "{{ $HOME }}"
    parameters:
      tags: ["{{ prefect.variables.region }}", "x-{{ prefect.variables.missing }}"]
"""


def test_undeclared_variables(tmp_path: Path) -> None:
    diags = check(tmp_path, VARIABLES)
    assert summary(diags) == [
        ("warning", "R001", 3, "pull[0]['prefect.deployments.steps.git_clone'].repository"),
        ("warning", "R001", 11, "deployments[0].work_pool.job_variables.env.REGION"),
        ("warning", "R001", 14, "deployments[0].parameters.tags[1]"),
    ]
    assert diags[1].hint == "did you mean 'region'?"


def test_undeclared_variables_are_errors_in_strict_mode(tmp_path: Path) -> None:
    assert {d.severity.value for d in check(tmp_path, VARIABLES, strict=True)} == {"error"}


def test_no_declared_variables_means_no_check(tmp_path: Path) -> None:
    assert check(tmp_path, VARIABLES, config=None) == []


def test_concurrency_limits(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: ok
    concurrency_limit: {limit: 2, collision_strategy: CANCEL_NEW, grace_period_seconds: 600}
  - name: ok-int
    concurrency_limit: 3
  - name: lower
    concurrency_limit: {limit: 2, collision_strategy: enqueue}
  - name: missing-strategy
    concurrency_limit: {limit: 2}
  - name: grace
    concurrency_limit: {limit: 2, collision_strategy: ENQUEUE, grace_period_seconds: 30}
  - name: zero
    concurrency_limit: 0
  - name: zero-limit
    concurrency_limit: {limit: -1, collision_strategy: ENQUEUE}
  - name: templated
    concurrency_limit: {limit: "{{ $LIMIT }}", collision_strategy: "{{ $STRATEGY }}"}
"""
    diags = check(tmp_path, text, config=None)
    assert summary(diags) == [
        ("error", "R002", 7, "deployments[2].concurrency_limit.collision_strategy"),
        ("error", "R002", 9, "deployments[3].concurrency_limit"),
        ("error", "R003", 11, "deployments[4].concurrency_limit.grace_period_seconds"),
        ("error", "R004", 13, "deployments[5].concurrency_limit"),
        ("error", "R004", 15, "deployments[6].concurrency_limit.limit"),
    ]
    assert diags[0].hint == "did you mean 'ENQUEUE'?"


def test_concurrency_limits_beyond_the_servers_64_bit_column(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: largest
    concurrency_limit: 9223372036854775807
  - name: too-large
    concurrency_limit: 9223372036854775808
  - name: too-large-limit
    concurrency_limit: {limit: 99999999999999999999999, collision_strategy: ENQUEUE}
"""
    diags = check(tmp_path, text, config=None)
    assert summary(diags) == [
        ("error", "R004", 5, "deployments[1].concurrency_limit"),
        ("error", "R004", 7, "deployments[2].concurrency_limit.limit"),
    ]
    assert "64-bit integer" in diags[0].message


def test_version_types_prefect_refuses(tmp_path: Path) -> None:
    text = """\
deployments:
  - name: git
    version_type: vcs:git
  - name: simple
    version_type: prefect:simple
  - name: empty
    version_type: ""
  - name: templated
    version_type: "{{ $VERSION_TYPE }}"
  - name: unknown
    version_type: vcs:subversion
  - name: upper
    version_type: VCS:GIT
  - name: number
    version_type: 3
"""
    diags = check(tmp_path, text, config=None)
    assert summary(diags) == [
        ("error", "R007", 11, "deployments[4].version_type"),
        ("error", "R007", 13, "deployments[5].version_type"),
        ("error", "R007", 15, "deployments[6].version_type"),
    ]
    assert diags[1].hint == "did you mean 'vcs:git'?"
