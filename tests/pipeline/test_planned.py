"""From a checked project to a plan (pipeline.planned): the live reads begun with the desired
state, and planning again under the lock."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_gitops.pipeline import planned
from prefect_gitops.pipeline.planned import PlanOptions
from prefect_gitops.prefect.api import ApiClient, ApiError
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.repo.loader import load_project
from prefect_gitops.state.resources import State
from tests.cli.test_plan_cli import write_repo


class ReadsServer:
    """An empty server's read endpoints; `deployments_read` is set when the deployments'
    read begins (its first request), `fail` answers that read with a 400."""

    def __init__(self, *, fail: bool = False) -> None:
        self.deployments_read = threading.Event()
        self.fail = fail
        self.paths: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api")
        self.paths.append(path)
        if path == "/deployments/filter":
            self.deployments_read.set()
            if self.fail:
                return httpx.Response(400, json={"detail": "bad filter"})
        return httpx.Response(200, json=[])


def reads_client(server: ReadsServer) -> ApiClient:
    settings = Settings(api_url="http://test/api")
    return ApiClient(settings, transport=httpx.MockTransport(server.handler))


def test_the_deployments_are_read_while_the_desired_state_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reads need only the declared names: they are under way before the desired state
    is built (which waits, bounded, to see them begin), and not sent again after it."""
    project, _ = load_project(write_repo(tmp_path / "repo", "early"), environ={})
    server = ReadsServer()
    seen_before_building: list[bool] = []
    real = planned.build_desired

    def waiting_build(*args: Any, **kwargs: Any) -> Any:
        seen_before_building.append(server.deployments_read.wait(timeout=30))
        return real(*args, **kwargs)

    monkeypatch.setattr(planned, "build_desired", waiting_build)
    with reads_client(server) as client:
        desired, early = planned.desired_while_reading(client, project, {}, PlanOptions())
        _live, plan = planned.compute_plan(client, project, desired, prune=False, early=early)
    assert seen_before_building == [True]
    assert server.paths.count("/deployments/filter") == 1
    assert "deployment.etl/early-etl" in {rc.address for rc in plan.changes}


def test_a_read_error_begun_early_surfaces_when_planning(tmp_path: Path) -> None:
    project, _ = load_project(write_repo(tmp_path / "repo", "early"), environ={})
    with reads_client(ReadsServer(fail=True)) as client:
        desired, early = planned.desired_while_reading(client, project, {}, PlanOptions())
        with pytest.raises(ApiError, match="bad filter"):
            planned.compute_plan(client, project, desired, prune=False, early=early)
    assert early is not None and early.done()


def test_planning_again_on_an_unmoved_live_state_skips_the_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apply plans again under the lock: only the live reads are redone; the plan is made
    again only when the live state moved (its fingerprint differs)."""
    project, _ = load_project(write_repo(tmp_path / "repo", "again"), environ={})
    with reads_client(ReadsServer()) as client:
        desired = planned.desired_online(client, project, {}, PlanOptions())
        _live, first = planned.compute_plan(client, project, desired, prune=False)
        built: list[object] = []
        monkeypatch.setattr(planned, "build_plan", lambda *a, **k: built.append(a) or first)
        _live, again = planned.compute_plan(client, project, desired, prune=False, known=first)
        assert again is first and built == []
        moved = dataclasses.replace(first, live_fingerprint="sha256:other")
        planned.compute_plan(client, project, desired, prune=False, known=moved)
        assert len(built) == 1


def test_the_desired_state_is_hashed_while_the_early_reads_are_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, _ = load_project(write_repo(tmp_path / "repo", "hash"), environ={})
    events: list[str] = []
    real_fingerprint, real_read_live = State.fingerprint, planned.read_live

    def fingerprint(self: State) -> str:
        events.append(f"hash {len(self)}")
        return real_fingerprint(self)

    def read_live(*args: Any, **kwargs: Any) -> Any:
        events.append("read")
        return real_read_live(*args, **kwargs)

    monkeypatch.setattr(State, "fingerprint", fingerprint)
    monkeypatch.setattr(planned, "read_live", read_live)
    with reads_client(ReadsServer()) as client:
        desired, early = planned.desired_while_reading(client, project, {}, PlanOptions())
        _live, plan = planned.compute_plan(client, project, desired, prune=False, early=early)
    assert events[:2] == [f"hash {len(desired)}", "read"]
    assert events.count(f"hash {len(desired)}") == 1  # not hashed again by build_plan
    assert plan.desired_fingerprint == real_fingerprint(desired)
