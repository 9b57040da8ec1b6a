"""The live reads against a real Prefect server (its filters' semantics, as we rely on them)."""

from __future__ import annotations

import uuid

import pytest

from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.state import live
from prefect_gitops.state.resources import Address, Resource, State
from tests.prefect_server import RunningServer


@pytest.mark.server
@pytest.mark.both_backends
def test_named_reads_split_a_full_answer_on_a_real_server(
    prefect_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`deployments/filter` with flow names and deployment names matches their cross
    product: a chunk of 4 pairs over two flows that share names matches 4 deployments, a
    full page at PAGE_SIZE 4, so it is read again in halves; the 5 wanted are found once."""
    tag = uuid.uuid4().hex[:8]
    flows = [f"f-{tag}", f"g-{tag}"]
    monkeypatch.setattr(live, "PAGE_SIZE", 4)
    monkeypatch.setattr(live, "NAMED_PER_REQUEST", 4)
    with ApiClient(Settings(api_url=prefect_server.url)) as client:
        for flow in flows:
            flow_id = client.post("/flows/", json={"name": flow})["id"]
            for name in ("a0", "a1", "a2"):
                client.post("/deployments/", json={"name": name, "flow_id": flow_id})
        wanted = [Address.deployment(flows[0], n) for n in ("a0", "a1")]
        wanted += [Address.deployment(flows[1], n) for n in ("a0", "a1", "a2")]
        before = client.request_count
        state = live.read_live(client, State.of(Resource(a, {}) for a in wanted), project=tag)
        filters = client.request_count - before
    assert sorted(str(r.address) for r in state.state.of_type("deployment")) == sorted(
        str(a) for a in wanted
    )
    # the inventory, the flows, then 3 for the first chunk (full, then its halves) and 1
    assert filters == 2 + 3 + 1
