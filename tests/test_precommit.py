"""The pre-commit hook: its `files` pattern, and the real `pre-commit try-repo` on a good and a
bad repository (pre-commit builds its own venv and pip-installs this package from a git copy)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
HOOK_ID = "prefect-gitops-validate"


def _hook() -> dict[str, Any]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = [h for h in hooks if h["id"] == HOOK_ID]
    assert isinstance(hook, dict)
    return hook


def test_hook_definition() -> None:
    hook = _hook()
    assert hook["entry"] == "prefect-gitops validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False


def _example_paths() -> list[str]:
    return sorted(
        p.relative_to(REPO).as_posix()
        for p in EXAMPLES.rglob("*")
        if p.is_file() and (p.suffix in (".yaml", ".yml") or p.parent.name == "templates")
    )


@pytest.mark.parametrize("path", _example_paths())
def test_files_pattern_matches_example_configuration(path: str) -> None:
    assert re.search(_hook()["files"], path), path


@pytest.mark.parametrize(
    "path",
    [
        "prefect.yaml",
        "prefect.yml",
        "deploy/prefect.yaml",
        "prefect-gitops.yaml",
        "work-pools/prod.yaml",
        "infra/work-pools/templates/k8s.json",
        "base-job-template.json",
        "flows/prefect.py",
        "flows/etl/extract.py",
    ],
)
def test_files_pattern_matches(path: str) -> None:
    assert re.search(_hook()["files"], path)


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "myprefect.yaml",
        "prefect.yaml.bak",
        ".github/workflows/ci.yml",
        "package.json",
    ],
)
def test_files_pattern_ignores(path: str) -> None:
    assert not re.search(_hook()["files"], path)


# -- the real pre-commit ------------------------------------------------------------------


_GIT_ID = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def _git(cwd: Path, *args: str) -> None:
    env = {**os.environ, **_GIT_ID}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=120)


def _git_repo_from(files: list[Path], base: Path, dest: Path) -> Path:
    for path in files:
        target = dest / path.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "--no-verify", "-m", "snapshot")
    return dest


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed git copy of this checkout's working tree (tracked and new files)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            check=True,
            capture_output=True,
            timeout=120,
        )
        .stdout.decode()
        .split("\0")
    )
    files = [REPO / name for name in listed if name and (REPO / name).is_file()]
    return _git_repo_from(files, REPO, tmp_path_factory.mktemp("hook-repo"))


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Shared by both runs so the hook's venv is built once.
    home = tmp_path_factory.mktemp("pre-commit-home")
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _try_repo(
    hook_repo: Path, example: Path, work: Path, home: Path
) -> subprocess.CompletedProcess[str]:
    files = [p for p in example.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    target = _git_repo_from(files, example, work)
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    env.pop("PREFECT_GITOPS_TRACEBACK", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(hook_repo),
            HOOK_ID,
            "--all-files",
            "--color",
            "never",
        ],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.mark.timeout(1500)
def test_try_repo_passes_on_a_good_repo(
    hook_repo: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    done = _try_repo(hook_repo, EXAMPLES / "quickstart", tmp_path / "good", pre_commit_home)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"prefect-gitops validate\.+Passed", output), output


@pytest.mark.timeout(1500)
def test_try_repo_fails_on_a_bad_repo(
    hook_repo: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    done = _try_repo(
        hook_repo, EXAMPLES / "invalid" / "syntax-error", tmp_path / "bad", pre_commit_home
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert re.search(r"prefect-gitops validate\.+Failed", output), output
    assert "prefect.yaml:7:" in output and "Y004" in output, output


@pytest.mark.timeout(1500)
def test_installed_hook_blocks_a_commit_that_renames_a_flow_function(
    hook_repo: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    """The real `git commit` with the hook installed: only a flow file changed."""
    example = EXAMPLES / "quickstart"
    files = [p for p in example.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    work = _git_repo_from(files, example, tmp_path / "work")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=hook_repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    config = {"repos": [{"repo": str(hook_repo), "rev": head, "hooks": [{"id": HOOK_ID}]}]}
    (work / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home), "NO_COLOR": "1"}
    subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=work, env=env, check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    _git(work, "add", ".pre-commit-config.yaml")
    _git(work, "commit", "-q", "--no-verify", "-m", "hook config")
    flow = work / "flows" / "hello.py"
    flow.write_text(flow.read_text().replace("def hello(", "def greet("), encoding="utf-8")
    _git(work, "add", "flows/hello.py")
    done = subprocess.run(
        ["git", "commit", "-m", "rename the flow"], cwd=work, env={**env, **_GIT_ID},
        capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert re.search(r"prefect-gitops validate\.+Failed", output), output
    assert "hello" in output and "flows/hello.py" in output, output
