"""The version `prefect deploy` infers from version control for a deployment whose YAML sets
none (Prefect 3.9's `get_inferred_version_info`, applied by `RunnerDeployment` when the version
is unset or came from the flow): the first 8 characters of the commit.

Prefect tries, in order, the CI variables of GitHub, GitLab, Bitbucket and Azure DevOps (each
needs its commit, branch and repository variables), then `git` itself (HEAD, its branch and a
`remote.origin.url` with a path). Every source also needs the first line of
`git log -1 --pretty=%B` in the directory `prefect deploy` runs in. The first source that
works gives the version; none gives None (the flow's version stays). A `version_type` picks
one source; `prefect:simple` turns inference off."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlparse

GIT_TIMEOUT = 10.0  # seconds per git command: a local read, bounded all the same
SIMPLE = "prefect:simple"
GIT = "vcs:git"
# version_type -> the variables (commit first) that must all be set, in Prefect's order
CI_SOURCES: dict[str, tuple[str, str, str]] = {
    "vcs:github": ("GITHUB_SHA", "GITHUB_REF_NAME", "GITHUB_REPOSITORY"),
    "vcs:gitlab": ("CI_COMMIT_SHA", "CI_COMMIT_REF_NAME", "CI_PROJECT_NAME"),
    "vcs:bitbucket": ("BITBUCKET_COMMIT", "BITBUCKET_BRANCH", "BITBUCKET_REPO_SLUG"),
    "vcs:azuredevops": ("BUILD_SOURCEVERSION", "BUILD_SOURCEBRANCHNAME", "BUILD_REPOSITORY_NAME"),
}
VERSION_TYPES = frozenset({SIMPLE, GIT, *CI_SOURCES})

Git = Callable[..., "str | None"]
"""Runs `git *args` in the project's folder: its stdout, or None if it failed."""


def git_runner(folder: Path, environ: Mapping[str, str]) -> Git:
    """A `Git` for `folder`, each command run at most once."""

    @functools.cache
    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=folder,
                env=dict(environ),
                capture_output=True,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.decode(errors="replace").strip() if done.returncode == 0 else None

    return run


def version_control(environ: Mapping[str, str]) -> Callable[[Path, str | None], str | None]:
    """`inferred_version` for `prefect deploy` run in a folder, by folder and version_type,
    each asked once."""
    runners = functools.cache(lambda folder: git_runner(folder, environ))

    @functools.cache
    def infer(folder: Path, version_type: str | None) -> str | None:
        return inferred_version(environ, runners(folder), version_type)

    return infer


def inferred_version(
    environ: Mapping[str, str], git: Git, version_type: str | None = None
) -> str | None:
    """What `prefect deploy` writes as the version of a deployment that sets none, when
    version control tells it (see the module docstring); None when it does not."""
    if version_type == SIMPLE:
        return None
    if version_type is not None and version_type not in VERSION_TYPES:
        return None  # Prefect refuses the deployment; validate reports it
    sources = [version_type] if version_type else [*CI_SOURCES, GIT]
    for source in sources:
        commit = _git_commit(git) if source == GIT else _ci_commit(environ, CI_SOURCES[source])
        if commit and _has_message(git):
            return commit[:8]
    return None


def _ci_commit(environ: Mapping[str, str], names: tuple[str, str, str]) -> str | None:
    values = [environ.get(name) for name in names]
    return values[0] if all(values) else None


def _git_commit(git: Git) -> str | None:
    commit, branch, remote = git("rev-parse", "HEAD"), None, None
    if commit is not None:
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch is not None:
        remote = git("config", "--get", "remote.origin.url")
    if remote is None:
        return None
    # Prefect takes the repository from the URL's path and needs it to know the URL at all;
    # a URL it cannot parse (`https://[::1`) fails its git source the same way.
    try:
        repository = urlparse(remote).path.strip("/")
    except ValueError:
        return None
    repository = repository[: -len(".git")] if repository.endswith(".git") else repository
    return commit if repository and remote else None


def _has_message(git: Git) -> bool:
    message = git("log", "-1", "--pretty=%B")
    return bool(message and message.splitlines())
