"""Annotation paths from the repository's top (cli/annotations.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from prefect_gitops.cli.annotations import repository_path, repository_top, resource_sources
from prefect_gitops.repo.loader import load_project
from prefect_gitops.state.desired import analyze_flows, build_desired
from tests.cli.test_validate import FLOW, write

PROJECT = {
    "prefect.yaml": (
        "deployments:\n"
        "  - name: etl\n"
        "    entrypoint: flows/etl.py:etl\n"
        "    work_pool:\n"
        "      name: local\n"
        "      work_queue_name: fast\n"
    ),
    "flows/etl.py": FLOW,
    "work-pools/local.yaml": (
        "name: local\ntype: process\nqueues:\n  - name: slow\n  - name: fast\n    priority: 2\n"
    ),
}


def test_resource_sources_name_files_from_the_repository_top(tmp_path: Path) -> None:
    root = write(tmp_path / "deploy" / "prod", PROJECT)
    project, diags = load_project(root)
    assert not diags.has_errors
    desired = build_desired(project, environ={}, flow_lookup=analyze_flows(project))
    sources = resource_sources(project, desired, {"GITHUB_WORKSPACE": str(tmp_path)})
    assert sources["work_pool.local"] == ("deploy/prod/work-pools/local.yaml", 1)
    assert sources["work_queue.local/slow"] == ("deploy/prod/work-pools/local.yaml", 4)
    assert sources["work_queue.local/fast"] == ("deploy/prod/work-pools/local.yaml", 5)
    assert sources["deployment.etl/etl"] == ("deploy/prod/prefect.yaml", 2)


def test_repository_top_prefers_github_workspace_then_git(tmp_path: Path) -> None:
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert (
        repository_top(sub, {"GITHUB_WORKSPACE": str(tmp_path / "a")}) == (tmp_path / "a").resolve()
    )
    environ = {k: v for k, v in os.environ.items() if k != "GITHUB_WORKSPACE"}
    assert repository_top(sub, environ) is None
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert repository_top(sub, environ) == tmp_path.resolve()


def test_repository_path_keeps_files_outside_the_top_as_they_are(tmp_path: Path) -> None:
    root = tmp_path / "repo" / "sub"
    assert repository_path("x/p.yaml", root, tmp_path / "repo") == "sub/x/p.yaml"
    assert repository_path("../../other/p.yaml", root, tmp_path / "repo") == "../../other/p.yaml"
    assert repository_path("p.yaml", root, None) == "p.yaml"
