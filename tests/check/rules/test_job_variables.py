from __future__ import annotations

from pathlib import Path

from prefect_gitops.check.options import ValidateOptions
from prefect_gitops.check.rules import job_variables
from prefect_gitops.check.validate import validate_project
from prefect_gitops.repo.diagnostics import Diagnostic
from prefect_gitops.repo.loader import load_project

POOL = """\
name: above-ground
type: process
queues:
  - name: fast
"""


def check(
    root: Path, prefect_yaml: str, *, config: str | None = None, **options: object
) -> list[Diagnostic]:
    (root / "work-pools").mkdir(exist_ok=True)
    (root / "work-pools" / "above.yaml").write_text(POOL)
    (root / "prefect.yaml").write_text(prefect_yaml)
    if config is not None:
        (root / "prefect-gitops.yaml").write_text(config)
    project, _ = load_project(root)
    diags = job_variables.check(project, ValidateOptions(**options))  # type: ignore[arg-type]
    return sorted(diags, key=lambda d: d.sort_key)


def summary(diags: list[Diagnostic]) -> list[tuple[str, str, int, str]]:
    return [(d.severity.value, d.code, d.span.line, d.path) for d in diags]


def deployment(job_variables: str, pool: str = "above-ground", extra: str = "") -> str:
    return f"""\
deployments:
  - name: d
    entrypoint: flows.py:f
    work_pool:
      name: {pool}
{extra}      job_variables:
{job_variables}"""


def test_type_error_message_and_line(tmp_path: Path) -> None:
    diags = check(tmp_path, deployment("        stream_output: 'yes'\n        name: ok\n"))
    assert summary(diags) == [
        ("error", "J001", 7, "deployments[0].work_pool.job_variables.stream_output")
    ]
    assert diags[0].message == (
        "deployment 'd': `job_variables.stream_output`: 'yes' is not of type boolean or null "
        "(pool 'above-ground', type process)"
    )
    assert diags[0].resource == "deployment/d"


def test_nested_error_points_at_the_nested_key(tmp_path: Path) -> None:
    diags = check(tmp_path, deployment("        env:\n          A: 1\n"))
    assert summary(diags) == [("error", "J001", 8, "deployments[0].work_pool.job_variables.env.A")]


def test_valid_job_variables_are_clean(tmp_path: Path) -> None:
    text = deployment("        stream_output: false\n        env: {A: x}\n")
    assert check(tmp_path, text) == []


def test_unknown_key_warns_by_default_with_did_you_mean(tmp_path: Path) -> None:
    diags = check(tmp_path, deployment("        stream_ouput: false\n        typo_key: 1\n"))
    assert summary(diags) == [
        ("warning", "J006", 7, "deployments[0].work_pool.job_variables.stream_ouput"),
        ("warning", "J006", 8, "deployments[0].work_pool.job_variables.typo_key"),
    ]
    assert diags[0].hint == "did you mean 'stream_output'?"
    assert "Prefect drops it" in diags[0].message


def test_unknown_key_through_validate_warns_and_strict_errors(tmp_path: Path) -> None:
    check(tmp_path, deployment("        stream_ouput: false\n"))
    project, _ = load_project(tmp_path)
    loose = validate_project(project, ValidateOptions())
    strict = validate_project(project, ValidateOptions(strict=True))
    assert [d.severity.value for d in loose if d.code == "J006"] == ["warning"]
    assert [d.severity.value for d in strict if d.code == "J006"] == ["error"]


def test_strict_mode_extras(tmp_path: Path) -> None:
    text = deployment("        strem_output: false\n")
    diags = check(tmp_path, text, strict=True)
    assert summary(diags) == [
        ("error", "J006", 7, "deployments[0].work_pool.job_variables.strem_output")
    ]
    assert diags[0].hint == "did you mean 'stream_output'?"


def test_strict_from_config(tmp_path: Path) -> None:
    diags = check(tmp_path, deployment("        strem_output: false\n"), config="strict: true\n")
    assert [d.code for d in diags] == ["J006"]


def test_undeclared_pool_warns_once(tmp_path: Path) -> None:
    text = deployment("        image: 5\n        other: x\n", pool="elsewhere")
    diags = check(tmp_path, text)
    assert summary(diags) == [("warning", "J005", 5, "deployments[0].work_pool.name")]


def test_undeclared_pool_with_pool_types(tmp_path: Path) -> None:
    text = deployment("        image: 5\n", pool="elsewhere")
    diags = check(tmp_path, text, pool_types={"elsewhere": "docker"})
    assert summary(diags) == [("error", "J001", 7, "deployments[0].work_pool.job_variables.image")]
    assert "(pool 'elsewhere', type docker from pool_types)" in diags[0].message
    from_config = check(tmp_path, text, config="pool_types:\n  elsewhere: docker\n")
    assert [d.code for d in from_config] == ["J001"]
    unknown = check(tmp_path, text, pool_types={"elsewhere": "dokcer"})
    assert [(d.code, d.hint) for d in unknown] == [("J010", "did you mean 'docker'?")]


def test_work_queue_must_exist_in_the_pool(tmp_path: Path) -> None:
    text = deployment("        name: x\n", extra="      work_queue_name: slow\n")
    assert summary(check(tmp_path, text)) == [
        ("warning", "J009", 6, "deployments[0].work_pool.work_queue_name")
    ]
    assert [d.severity.value for d in check(tmp_path, text, strict=True)] == ["error"]
    fine = deployment("        name: x\n", extra="      work_queue_name: default\n")
    assert check(tmp_path, fine) == []


def test_templated_values(tmp_path: Path) -> None:
    text = deployment(
        "        stream_output: '{{ prefect.variables.flag }}'\n"
        "        working_dir: '{{ $WORKDIR }}'\n"
        "        command: '{{ prefect.blocks.secret.cmd }}'\n"
        "        name: '{{ build.name }}'\n"
    )
    config = "variables:\n  - name: flag\n    value: 'yes'\n"
    diags = check(tmp_path, text, config=config, environ={"WORKDIR": "/srv"})
    assert [(d.code, d.path.rsplit(".", 1)[-1]) for d in diags] == [
        ("J001", "stream_output"),
        ("J003", "command"),
        ("J004", "name"),
    ]
    assert "cannot be checked offline" in diags[1].message


def test_step_outputs_with_build_steps(tmp_path: Path) -> None:
    text = (
        "build:\n  - prefect.deployments.steps.run_shell_script:\n      id: s\n      script: echo\n"
        + deployment("        stream_output: '{{ s.stdout }}'\n")
    )
    diags = check(tmp_path, text)
    assert [(d.severity.value, d.code) for d in diags] == [("info", "J003")]


def test_broken_pool_schemas_are_located_errors_also_with_strict(tmp_path: Path) -> None:
    from tests.run_cli import run_cli

    (tmp_path / "work-pools").mkdir()
    prefect_yaml = deployment("        x: 1\n", pool="broken")
    (tmp_path / "prefect.yaml").write_text(prefect_yaml)
    for variables in ("true", "1", "{type: object, required: [[x]], properties: {x: {}}}"):
        (tmp_path / "work-pools" / "broken.yaml").write_text(
            "name: broken\ntype: process\nbase_job_template:\n"
            f"  job_configuration: {{command: '{{{{ x }}}}'}}\n  variables: {variables}\n"
        )
        for strict in ([], ["--strict"]):
            result = run_cli("validate", str(tmp_path), "--format", "json", *strict)
            assert result.exit_code == 1, (variables, strict, result.stderr)
            assert "J002" in result.codes()
            j002 = next(d for d in result.json()["diagnostics"] if d["code"] == "J002")
            assert j002["file"] == "prefect.yaml" and j002["line"] == 5


def test_an_empty_push_of_the_deployment_falls_back_to_the_files_push_steps(
    tmp_path: Path,
) -> None:
    """`push: []` (or null) on the deployment runs the file's push steps: Prefect 3.9.1's
    `push_steps or actions.get("push")` (cli/deploy/_core.py); `build: []` does hide the
    file's build steps. A placeholder is then a step output (J003), not dropped (J004)."""
    top_push = "push:\n  - prefect.deployments.steps.run_shell_script:\n      script: echo\n"
    with_push = top_push + deployment("        name: '{{ s.stdout }}'\n")
    assert [d.code for d in check(tmp_path, with_push)] == ["J003"]
    for empty in ("push: []", "push: null"):
        no_push = with_push.replace("  - name: d\n", f"  - name: d\n    {empty}\n")
        assert [d.code for d in check(tmp_path, no_push)] == ["J003"], empty
    top_build = top_push.replace("push:", "build:")
    no_build = (top_build + deployment("        name: '{{ s.stdout }}'\n")).replace(
        "  - name: d\n", "  - name: d\n    build: []\n"
    )
    assert [d.code for d in check(tmp_path, no_build)] == ["J004"]
