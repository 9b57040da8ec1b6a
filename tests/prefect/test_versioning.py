"""The version `prefect deploy` infers from version control (prefect/versioning.py): the
sources in Prefect's order, what each needs, and real git."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from prefect_gitops.prefect.versioning import Git, git_runner, inferred_version, version_control

HEAD = "0123456789abcdef0123456789abcdef01234567"
GITHUB = {"GITHUB_SHA": "a" * 40, "GITHUB_REF_NAME": "main", "GITHUB_REPOSITORY": "o/r"}
GITLAB = {"CI_COMMIT_SHA": "b" * 40, "CI_COMMIT_REF_NAME": "main", "CI_PROJECT_NAME": "r"}
BITBUCKET = {"BITBUCKET_COMMIT": "c" * 40, "BITBUCKET_BRANCH": "m", "BITBUCKET_REPO_SLUG": "r"}
AZURE = {"BUILD_SOURCEVERSION": "d" * 40, "BUILD_SOURCEBRANCHNAME": "m",
         "BUILD_REPOSITORY_NAME": "r"}  # fmt: skip
CHECKOUT = {
    ("rev-parse", "HEAD"): HEAD,
    ("rev-parse", "--abbrev-ref", "HEAD"): "main",
    ("config", "--get", "remote.origin.url"): "https://github.com/o/r.git",
    ("log", "-1", "--pretty=%B"): "the change",
}


def fake_git(answers: Mapping[tuple[str, ...], str | None]) -> Git:
    def run(*args: str) -> str | None:
        return answers.get(args)

    return run


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({**AZURE, **BITBUCKET, **GITLAB, **GITHUB}, "a" * 8),  # GitHub first
        ({**AZURE, **BITBUCKET, **GITLAB}, "b" * 8),
        ({**AZURE, **BITBUCKET}, "c" * 8),
        (AZURE, "d" * 8),
        ({}, HEAD[:8]),  # then git itself
        ({**GITHUB, "GITHUB_REF_NAME": ""}, HEAD[:8]),  # an empty variable is a missing one
    ],
)
def test_the_first_source_that_works_gives_the_commit(
    environ: dict[str, str], expected: str
) -> None:
    assert inferred_version(environ, fake_git(CHECKOUT)) == expected


@pytest.mark.parametrize(
    "missing",
    [
        ("rev-parse", "HEAD"),
        ("rev-parse", "--abbrev-ref", "HEAD"),
        ("config", "--get", "remote.origin.url"),  # a clone without `origin`
        ("log", "-1", "--pretty=%B"),
    ],
)
def test_git_needs_head_its_branch_an_origin_and_a_message(missing: tuple[str, ...]) -> None:
    answers = {k: v for k, v in CHECKOUT.items() if k != missing}
    assert inferred_version({}, fake_git(answers)) is None


@pytest.mark.parametrize("remote", ["", "/", "https://example.com/.git", "https://[::1/o/r.git"])
def test_an_origin_without_a_repository_path_gives_nothing(remote: str) -> None:
    answers = {**CHECKOUT, ("config", "--get", "remote.origin.url"): remote}
    assert inferred_version({}, fake_git(answers)) is None


def test_ci_variables_need_a_commit_message_in_the_folder() -> None:
    """Prefect reads the message with `git log` even when CI gives the commit: outside a
    checkout GitHub's variables give nothing."""
    assert inferred_version(GITHUB, fake_git({})) is None


def test_an_scp_style_remote_counts() -> None:
    answers = {**CHECKOUT, ("config", "--get", "remote.origin.url"): "git@github.com:o/r.git"}
    assert inferred_version({}, fake_git(answers)) == HEAD[:8]


@pytest.mark.parametrize(
    ("version_type", "expected"),
    [
        ("prefect:simple", None),  # inference off: the flow's version stays
        ("vcs:git", HEAD[:8]),  # only git, though GitHub's variables are set
        ("vcs:github", "a" * 8),
        ("vcs:gitlab", None),  # only that source, and it has no variables here
        ("vcs:subversion", None),  # Prefect refuses the deployment (validate reports it)
    ],
)
def test_version_type_picks_one_source(version_type: str, expected: str | None) -> None:
    assert inferred_version(GITHUB, fake_git(CHECKOUT), version_type) == expected


def _git(folder: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=folder, env=env, capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    return done.stdout.strip()


def test_real_git_checkout(tmp_path: Path) -> None:
    (tmp_path / "prefect.yaml").write_text("deployments: []\n")
    environ = {
        k: v for k, v in os.environ.items() if k not in {*GITHUB, *GITLAB, *BITBUCKET, *AZURE}
    }
    assert inferred_version(environ, git_runner(tmp_path, environ)) is None  # not a checkout
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "first")
    assert inferred_version(environ, git_runner(tmp_path, environ)) is None  # no origin
    _git(tmp_path, "remote", "add", "origin", "https://github.com/o/r.git")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert inferred_version(environ, git_runner(tmp_path, environ)) == head[:8]


def test_without_git_on_the_path_nothing_is_inferred(tmp_path: Path) -> None:
    environ = {"PATH": str(tmp_path)}
    assert inferred_version(environ, git_runner(tmp_path, environ)) is None


def test_each_folder_asks_its_own_git(tmp_path: Path) -> None:
    """`prefect deploy` runs in the prefect.yaml's folder: a nested checkout has its own
    commit, a folder outside any checkout has none."""
    environ = {
        k: v for k, v in os.environ.items() if k not in {*GITHUB, *GITLAB, *BITBUCKET, *AZURE}
    }
    checkout, plain = tmp_path / "checkout", tmp_path / "plain"
    for folder in (checkout, plain):
        folder.mkdir()
        (folder / "prefect.yaml").write_text("deployments: []\n")
    _git(checkout, "init", "-q")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "first")
    _git(checkout, "remote", "add", "origin", "git@github.com:o/r.git")
    infer = version_control(environ)
    assert infer(checkout, None) == _git(checkout, "rev-parse", "HEAD")[:8]
    assert infer(plain, None) is None
    assert infer(checkout, "prefect:simple") is None
