"""One apply of a desired state (pipeline.applied): its plans before and under the lock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.errors import ReconcilerError
from prefect_gitops.execution.executor import Cancel
from prefect_gitops.pipeline import applied as applied_stage
from prefect_gitops.pipeline.applied import ApplyOptions
from prefect_gitops.plans.build import build_plan
from prefect_gitops.repo.loader import load_project
from prefect_gitops.state.live import LiveState
from prefect_gitops.state.resources import Address, Resource, State
from tests.cli.test_plan_cli import write_repo


def test_a_plan_made_again_under_the_lock_is_checked_like_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --auto-approve, a server that moved while apply waited for the lock is planned
    again; that plan may write fields the first did not, so it is refused on the same terms
    (here: an unresolved build step output) before anything is recorded or sent."""
    project, _ = load_project(write_repo(tmp_path / "repo", "relock"), environ={})
    address = Address.deployment("etl", "daily")
    spec = {"name": "daily", "flow_name": "etl",
            "job_variables": {"image": "{{ build_image.image }}"}}  # fmt: skip
    meta = {"step_outputs": {"job_variables.image": ["build_image.image"]},
            "source": "prefect.yaml:3"}  # fmt: skip
    desired = State.of([Resource(address, spec, meta)])
    live_then = State.of([Resource(address, spec, {"id": "d"})])
    live_now = State.of([Resource(address, {**spec, "job_variables": {"image": "x"}}, {"id": "d"})])
    first = build_plan(desired, live_then, project="relock")
    fresh = build_plan(desired, live_now, project="relock")
    assert not first.has_changes() and fresh.has_changes()
    monkeypatch.setattr(
        applied_stage, "compute_plan",
        lambda *_a, **_k: (LiveState(live_now, None, "relock"), fresh),
    )  # fmt: skip
    run = applied_stage._Run(project, desired, ApplyOptions(auto_approve=True), {})
    client: Any = None  # nothing may be sent: any request would fail on it
    with pytest.raises(ReconcilerError, match=r"unresolved step outputs.*job_variables\.image"):
        run.execute(client, first, None, Cancel())
