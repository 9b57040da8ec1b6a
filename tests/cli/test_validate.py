from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.check.options import ValidateOptions
from prefect_gitops.check.rules import structure
from prefect_gitops.cli import options as cli_options
from prefect_gitops.cli import validate as cli_validate
from prefect_gitops.pipeline import checked
from prefect_gitops.repo.diagnostics import Diagnostics
from prefect_gitops.repo.project import Project
from tests.run_cli import run_cli

CORPUS = Path("/work/shared/corpus/real-world")

FLOW = "from prefect import flow\n\n\n@flow\ndef etl() -> None:\n    pass\n"
GOOD_REPO = {
    "prefect.yaml": (
        "deployments:\n"
        "  - name: etl\n"
        "    entrypoint: flows/etl.py:etl\n"
        "    work_pool:\n"
        "      name: local\n"
    ),
    "flows/etl.py": FLOW,
    "work-pools/local.yaml": "name: local\ntype: process\n",
}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def with_prefect_yaml(root: Path, extra: str) -> Path:
    files = dict(GOOD_REPO)
    files["prefect.yaml"] += extra
    return write(root, files)


def test_good_repo_exits_0(tmp_path: Path) -> None:
    result = run_cli("validate", str(write(tmp_path, GOOD_REPO)))
    assert result.exit_code == 0, result.stdout
    assert result.stdout == "No problems found (2 files, 1 deployment, 1 work pool).\n"


def test_default_path_is_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(write(tmp_path, GOOD_REPO))
    result = run_cli("validate", "--format", "json")
    assert result.exit_code == 0
    assert result.json()["summary"]["deployments"] == 1


def test_errors_exit_1_with_text_output(tmp_path: Path) -> None:
    # Prefect drops job_variables beside work_pool: a warning, which --strict promotes.
    repo = with_prefect_yaml(tmp_path, "    job_variables: {env: {A: '1'}}\n")
    message = (
        "deployment 'etl': `job_variables` is at the deployment level beside `work_pool`; "
        "Prefect reads it only as `work_pool.job_variables`, so `prefect deploy` drops it here "
        "and runs do not get it\n"
        "    hint: move it to `work_pool.job_variables`\n"
    )
    loose = run_cli("validate", str(repo))
    assert loose.exit_code == 0
    assert loose.stdout.startswith("prefect.yaml:6:5: warning[S003] " + message)
    result = run_cli("validate", str(repo), "--strict")
    assert result.exit_code == 1
    assert result.stdout == (
        "prefect.yaml:6:5: error[S003] " + message + "\n"
        "Found 1 error and 0 warnings (2 files, 1 deployment, 1 work pool).\n"
    )
    assert "\x1b" not in result.stdout  # not a TTY: no colour


def test_warnings_exit_0_unless_warnings_as_errors(tmp_path: Path) -> None:
    repo = with_prefect_yaml(tmp_path, "    scheduel: {}\n")
    plain = run_cli("validate", str(repo), "--format", "json")
    assert plain.exit_code == 0
    assert plain.codes() == ["S001"]
    strict = run_cli("validate", str(repo), "--format", "json", "--warnings-as-errors")
    assert strict.exit_code == 1
    assert strict.stdout == plain.stdout


def test_json_format(tmp_path: Path) -> None:
    repo = with_prefect_yaml(tmp_path, "    tags: 5\n")
    result = run_cli("validate", str(repo), "--format", "json")
    assert result.exit_code == 1
    assert result.json() == {
        "format_version": "1",
        "diagnostics": [
            {
                "severity": "error",
                "code": "S002",
                "message": (
                    "deployment 'etl': `deployments[0].tags` should be a list or a string, not an "
                    "integer (5)"
                ),
                "file": "prefect.yaml",
                "line": 6,
                "column": 11,
                "path": "deployments[0].tags",
                "resource": "deployment/etl",
            }
        ],
        "summary": {"errors": 1, "warnings": 0, "files": 2, "deployments": 1, "work_pools": 1},
    }


def test_github_format(tmp_path: Path) -> None:
    repo = with_prefect_yaml(tmp_path, "    tags: 5\n")
    result = run_cli("validate", str(repo), "--format", "github")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith(
        "::error file=prefect.yaml,line=6,col=11,title=S002::deployment 'etl'"
    )


def _sub_folder_repo(top: Path) -> Path:
    project = with_prefect_yaml(top / "deploy" / "prod", "    tags: 5\n")
    write(project, {"work-pools/bad.yaml": "name: bad\ntype: process\nconcurrency_limit: x\n"})
    return project


def _annotated_files(stdout: str) -> set[str]:
    return {
        line.split("file=", 1)[1].split(",", 1)[0]
        for line in stdout.splitlines()
        if line.startswith("::error ")
    }


def test_github_format_from_a_sub_folder_names_files_from_github_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _sub_folder_repo(tmp_path)
    monkeypatch.chdir(project)
    result = run_cli("validate", "--format", "github", env={"GITHUB_WORKSPACE": str(tmp_path)})
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith(
        "::error file=deploy/prod/prefect.yaml,line=6,col=11,title=S002::deployment 'etl'"
    )
    assert _annotated_files(result.stdout) == {
        "deploy/prod/prefect.yaml",
        "deploy/prod/work-pools/bad.yaml",
    }
    # Other formats keep naming files from the checked folder.
    text = run_cli("validate", "--format", "text", env={"GITHUB_WORKSPACE": str(tmp_path)})
    assert text.stdout.startswith("prefect.yaml:6:11: error[S002]")


def test_github_format_from_a_sub_folder_uses_the_git_top_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _sub_folder_repo(tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(project / "work-pools")
    result = run_cli("validate", "..", "--format", "github", env={"GITHUB_WORKSPACE": None})
    assert result.exit_code == 1
    assert _annotated_files(result.stdout) == {
        "deploy/prod/prefect.yaml",
        "deploy/prod/work-pools/bad.yaml",
    }


def test_github_format_outside_the_workspace_and_any_git_repo_keeps_project_paths(
    tmp_path: Path,
) -> None:
    project = _sub_folder_repo(tmp_path / "checkout")
    workspace = tmp_path / "elsewhere"
    workspace.mkdir()
    result = run_cli(
        "validate", str(project), "--format", "github", env={"GITHUB_WORKSPACE": str(workspace)}
    )
    assert _annotated_files(result.stdout) == {"prefect.yaml", "work-pools/bad.yaml"}


def test_single_prefect_yaml_as_path(tmp_path: Path) -> None:
    write(tmp_path, GOOD_REPO)
    write(tmp_path, {"broken/prefect.yaml": "deployments: [\n"})
    result = run_cli("validate", str(tmp_path / "prefect.yaml"), "--format", "json")
    assert result.exit_code == 0, result.stdout
    assert result.json()["summary"] == {
        "errors": 0,
        "warnings": 0,
        "files": 2,
        "deployments": 1,
        "work_pools": 1,
    }


def test_config_option(tmp_path: Path) -> None:
    files = dict(GOOD_REPO)
    files["ci/gitops.yaml"] = (
        "prefect_files: [../prefect.yaml]\nwork_pools: ['../work-pools/*.yaml']\n"
    )
    repo = write(tmp_path, files)
    result = run_cli(
        "validate", str(repo), "--config", str(repo / "ci" / "gitops.yaml"), "--format", "json"
    )
    assert result.exit_code == 0, result.stdout
    assert result.json()["summary"] == {
        "errors": 0,
        "warnings": 0,
        "files": 3,
        "deployments": 1,
        "work_pools": 1,
    }


def test_config_errors_are_located(tmp_path: Path) -> None:
    files = dict(GOOD_REPO)
    files["prefect-gitops.yaml"] = "prefect_file: [prefect.yaml]\n"
    result = run_cli("validate", str(write(tmp_path, files)), "--format", "json")
    assert result.exit_code == 1
    [diag] = result.json()["diagnostics"]
    assert (diag["code"], diag["file"], diag["line"], diag["path"]) == (
        "S001",
        "prefect-gitops.yaml",
        1,
        "prefect_file",
    )


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "/no/such/dir"],
        ["validate", ".", "--format", "xml"],
        ["validate", ".", "--config", "/no/such/config.yaml"],
        ["validate", ".", "--no-such-option"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2
    assert "Error" in result.stderr
    assert result.stdout == ""


def test_crash_exits_3_with_the_bug_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(project: Project, options: ValidateOptions) -> Iterable[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(structure, "check", broken)
    result = run_cli(
        "validate", str(write(tmp_path, GOOD_REPO)), env={"PREFECT_GITOPS_TRACEBACK": None}
    )
    assert result.exit_code == 3
    assert result.stderr == (
        "prefect-gitops crashed: RuntimeError: boom\n"
        "This is a bug in prefect-gitops, not in your files. Re-run with "
        "PREFECT_GITOPS_TRACEBACK=1 to see the traceback, and please report it.\n"
    )


def _capture_options(monkeypatch: pytest.MonkeyPatch) -> list[ValidateOptions]:
    seen: list[ValidateOptions] = []
    real = checked.validate_project

    def spy(project: Project, options: ValidateOptions) -> Diagnostics:
        seen.append(options)
        return real(project, options)

    monkeypatch.setattr(checked, "validate_project", spy)
    return seen


def test_strict_flag_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_options(monkeypatch)
    repo = write(tmp_path, GOOD_REPO)
    assert run_cli("validate", str(repo)).exit_code == 0
    assert run_cli("validate", str(repo), "--strict").exit_code == 0
    assert [o.strict for o in seen] == [False, True]
    assert seen[0].environ is not None and "PATH" in seen[0].environ


def test_strict_and_pool_types_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_options(monkeypatch)
    files = dict(GOOD_REPO)
    files["prefect-gitops.yaml"] = "strict: true\npool_types: {external: kubernetes}\n"
    run_cli("validate", str(write(tmp_path, files)))
    assert seen[0].strict is True
    assert dict(seen[0].pool_types) == {"external": "kubernetes"}


def test_verbose_is_accepted(tmp_path: Path) -> None:
    result = run_cli("validate", str(write(tmp_path, GOOD_REPO)), "--verbose", "--format", "json")
    assert result.exit_code == 0


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "environ", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
    ],
)
def test_use_color(tty: bool, environ: dict[str, str], expected: bool) -> None:
    assert cli_options.use_color(_Stream(tty), environ) is expected


def test_colour_on_a_tty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_validate, "use_color", lambda: cli_options.use_color(_Stream(True), {}))
    result = run_cli("validate", str(with_prefect_yaml(tmp_path, "    tags: 5\n")))
    assert "\x1b[31m" in result.stdout


# -- the real-world corpus ----------------------------------------------------------------------


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))


def test_corpus_has_150_files() -> None:
    assert len(_corpus()) == 150


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name[:3])
def test_corpus_file_never_crashes(path: Path) -> None:
    result = run_cli("validate", str(path), "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    report = result.json()
    assert report["summary"]["files"] >= 1
    for diag in report["diagnostics"]:
        assert diag["file"] == path.name
        assert diag["line"] >= 1 and diag["column"] >= 1
    if any(d["code"] == "Y009" for d in report["diagnostics"]):
        # not Prefect configuration at all: one clear error, nothing else
        assert len(report["diagnostics"]) == 1


def test_corpus_docker_compose_files_are_recognised() -> None:
    found = []
    for path in _corpus():
        report = json.loads(run_cli("validate", str(path), "--format", "json").stdout)
        if [d["code"] for d in report["diagnostics"]] == ["Y009"]:
            found.append(path.name)
    assert len(found) == 2
