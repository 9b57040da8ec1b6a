"""The doctor's checks as runner-side functions: the API's health, the pools to check."""

from __future__ import annotations

import uuid

import pytest

from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.runner.doctor import api_error, pools_to_check
from tests.prefect_server import RunningServer


def test_an_unreachable_api_is_returned_as_its_error() -> None:
    with ApiClient(Settings(api_url="http://127.0.0.1:9/api", max_retries=0)) as client:
        error = api_error(client)
    assert error is not None and error.detail


@pytest.mark.server
def test_the_pools_named_else_declared_else_every_pool_but_prefect_agent_ones(
    prefect_server: RunningServer,
) -> None:
    mine, agent = f"doc-{uuid.uuid4().hex[:8]}", f"agent-{uuid.uuid4().hex[:8]}"
    with ApiClient(Settings(api_url=prefect_server.url)) as client:
        assert api_error(client) is None
        client.post("/work_pools/", json={"name": mine, "type": "process"})
        client.post("/work_pools/", json={"name": agent, "type": "prefect-agent"})
        assert pools_to_check(client, ["a"], ["b"]) == ["a"]
        assert pools_to_check(client, [], ["b"]) == ["b"]
        every = pools_to_check(client, [], [])
    assert mine in every and agent not in every
