"""The Python API: the commands' sequence from a script, typed results, nothing printed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import prefect_gitops
from prefect_gitops.errors import ReconcilerError
from prefect_gitops.plans.build import Action
from tests.cli.test_plan_cli import write_repo
from tests.prefect_server import RunningServer

UNREACHABLE = "http://127.0.0.1:9/api"  # discard port: any request would fail


def own_flow(root: Path, function: str) -> Path:
    """The repository with its flow renamed: the shared server's other tests expect no flow
    of theirs to exist before they run."""
    for name in ("prefect.yaml", "flows/etl.py"):
        path = root / name
        path.write_text(
            path.read_text().replace("etl(", f"{function}(").replace(":etl", f":{function}")
        )
    return root


def test_validate_returns_the_located_diagnostics_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checked = prefect_gitops.validate(write_repo(tmp_path, "api-broken", broken=True))
    assert not checked.ok and checked.summary.errors >= 1
    (error,) = [d for d in checked.diagnostics if d.severity.value == "error"]
    assert error.span.file == "prefect.yaml" and error.span.line == 4
    assert capsys.readouterr() == ("", "")


def test_a_repository_with_errors_is_never_planned_nor_applied(tmp_path: Path) -> None:
    root = write_repo(tmp_path, "api-broken", broken=True)
    for action in (prefect_gitops.plan, prefect_gitops.apply):
        with pytest.raises(prefect_gitops.InvalidRepository) as caught:
            action(root, api_url=UNREACHABLE)
        assert not caught.value.checked.ok  # raised before any request (port 9 would fail)


def test_apply_without_approval_writes_nothing(tmp_path: Path) -> None:
    """Neither `auto_approve` nor an `approve` saying yes: refused after planning, before
    any write (here the plan itself fails on the unreachable server first)."""
    with pytest.raises(ReconcilerError):
        prefect_gitops.apply(write_repo(tmp_path, "api-unapproved"), api_url=UNREACHABLE)


@pytest.mark.server
def test_plan_apply_plan_against_a_real_server(
    tmp_path: Path, prefect_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = f"api-{uuid.uuid4().hex[:8]}"
    root = own_flow(write_repo(tmp_path / "repo", pool), f"api_{pool[4:]}")
    (root / "prefect-gitops.yaml").write_text(f"project: {pool}\n")
    notes: list[str] = []
    before = prefect_gitops.plan(root, api_url=prefect_server.url, notify=notes.append)
    assert {c.action for c in before.plan.changes} == {Action.CREATE}
    refused: list[int] = []

    def approve(planned: object) -> bool:
        refused.append(1)
        return False

    with pytest.raises(ReconcilerError, match="cancelled; nothing was written"):
        prefect_gitops.apply(root, api_url=prefect_server.url, approve=approve)
    assert refused == [1]
    applied = prefect_gitops.apply(root, api_url=prefect_server.url, auto_approve=True)
    assert applied.result.ok and not applied.nothing and applied.result.writes > 0
    after = prefect_gitops.plan(root, api_url=prefect_server.url)
    assert not after.plan.has_changes()
    again = prefect_gitops.apply(root, api_url=prefect_server.url, auto_approve=True)
    assert again.nothing and again.result.writes == 0
    assert capsys.readouterr() == ("", "")
