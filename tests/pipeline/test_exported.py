"""Export as a lower stage: typed results, nothing printed, notes through `notify`."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from prefect_gitops.errors import ReconcilerError
from prefect_gitops.export import Selection
from prefect_gitops.pipeline.exported import (
    adopt_exported,
    choose_project_name,
    export_from,
    export_request,
)
from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings
from tests.prefect_server import RunningServer


def test_the_project_name_prefers_the_option_then_the_recorded_owner(tmp_path: Path) -> None:
    folder = tmp_path / "checkout-name"
    notes: list[str] = []
    assert choose_project_name(None, {}, "", folder, notes.append) == "checkout-name"
    assert choose_project_name(None, {}, "from-config", folder, notes.append) == "from-config"
    assert choose_project_name(None, {"platform": 3}, "", folder, notes.append) == "platform"
    assert notes == []
    two = {"platform": 3, "analytics": 1}
    assert choose_project_name(None, two, "", folder, notes.append) == "platform"
    assert "owned by 'platform' (3), 'analytics' (1)" in notes.pop()
    assert choose_project_name(None, {"platform": 3}, "from-config", folder, notes.append) == (
        "platform"
    )
    assert "the project is named 'platform'" in notes.pop()
    assert choose_project_name("mine", {"platform": 3}, "", folder, notes.append) == "mine"
    assert "not by 'mine'" in notes.pop()


def test_an_unreadable_config_is_refused_before_the_server_is_contacted(tmp_path: Path) -> None:
    (tmp_path / "prefect-gitops.yaml").write_text("project: [unclosed\n", encoding="utf-8")
    with pytest.raises(ReconcilerError, match=r"cannot read .*prefect-gitops\.yaml"):
        export_request(tmp_path, Selection())


@pytest.mark.server
def test_export_then_adopt_returns_what_was_done_and_prints_nothing(
    tmp_path: Path, prefect_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = f"exp-{uuid.uuid4().hex[:8]}"
    target = tmp_path / "exported"
    with ApiClient(Settings(api_url=prefect_server.url)) as client:
        client.post("/work_pools/", json={"name": pool, "type": "process"})
        request = export_request(target, Selection(pools=(pool,)), project=pool)
        notes: list[str] = []
        exported = export_from(client, request, notify=notes.append)
        adopted = adopt_exported(client, target, exported.addresses, {}, notify=notes.append)
    assert capsys.readouterr() == ("", "")
    assert {p.relative_to(target).as_posix() for p in exported.written} >= {
        "prefect.yaml",
        f"work-pools/{pool}.yaml",
        "prefect-gitops.yaml",
    }
    assert all(p.is_file() for p in exported.written)
    assert exported.summary.startswith("0 deployments, 1 work pools, 1 queues")
    assert (adopted.project, adopted.count) == (pool, len(exported.addresses))
    with (
        ApiClient(Settings(api_url=prefect_server.url)) as client,
        pytest.raises(ReconcilerError, match="export would overwrite"),
    ):
        export_from(client, request)


def test_the_export_leaves_out_the_version_prefect_deploy_infers_from_git(tmp_path: Path) -> None:
    """In a checkout with an `origin` remote, `plan` expects the commit's version for a
    deployment that sets none: the export's lookup knows it, so that a live deployment at that
    version is written without one (and any other version is written as it is)."""
    (tmp_path / "flows.py").write_text(
        "from prefect import flow\n\n@flow\ndef f():\n    pass\n", encoding="utf-8"
    )
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}  # fmt: skip
    environ = {k: v for k, v in env.items() if k not in {"GITHUB_SHA", "CI_COMMIT_SHA",
               "BITBUCKET_COMMIT", "BUILD_SOURCEVERSION"}}  # fmt: skip
    plain = export_request(tmp_path, Selection(), environ=environ).flow_lookup(
        "flows.py:f", tmp_path
    )
    steps = (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "c"],
             ["remote", "add", "origin", "https://github.com/o/r.git"], ["rev-parse", "HEAD"])  # fmt: skip
    for args in steps:
        done = subprocess.run(["git", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, check=True, timeout=60)  # fmt: skip
    facts = export_request(tmp_path, Selection(), environ=environ).flow_lookup(
        "flows.py:f", tmp_path
    )
    assert not isinstance(plain, str) and not isinstance(facts, str)
    assert plain.version != done.stdout.strip()[:8]
    assert facts.version == done.stdout.strip()[:8]
