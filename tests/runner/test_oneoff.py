"""One flow run from the command line, as a runner-side function: created with its
parameters and job variables, followed through `log`, nothing printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_gitops.errors import ReconcilerError
from prefect_gitops.prefect.settings import Settings
from prefect_gitops.runner.oneoff import RunRequest, create_flow_run, final_state, watch
from tests.prefect_server import RunningServer
from tests.runner.helpers import create_deployment, process_pool

pytestmark = pytest.mark.server


def test_a_run_is_created_with_its_inputs_and_an_unknown_deployment_is_an_error(
    prefect_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "oneoff")
    deployment = create_deployment(client, pool=pool, flows_dir=flows, flow="hello")
    name = f"hello/{deployment['name']}"
    created = create_flow_run(client, RunRequest(name, {"name": "ci"}, {"env": {"A": "1"}}))
    row = client.get(f"/flow_runs/{created['id']}")
    assert (row["parameters"], row["job_variables"]) == ({"name": "ci"}, {"env": {"A": "1"}})
    with pytest.raises(ReconcilerError, match="deployment 'hello/missing' not found"):
        create_flow_run(client, RunRequest("hello/missing"))
    assert capsys.readouterr() == ("", "")


def test_watch_logs_each_state_and_gives_up_at_the_timeout(
    prefect_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "watch")
    deployment = create_deployment(client, pool=pool, flows_dir=flows, flow="hello")
    run = create_flow_run(client, RunRequest(f"hello/{deployment['name']}"))
    lines: list[str] = []
    with pytest.raises(ReconcilerError, match=r"is still SCHEDULED/Scheduled after 0s"):
        watch(client, run["id"], 0, lines.append)
    assert lines == ["  state: SCHEDULED/Scheduled"]
    client.post(
        f"/flow_runs/{run['id']}/set_state",
        json={"state": {"type": "COMPLETED", "name": "Completed"}, "force": True},
    )
    lines.clear()
    settings = Settings(api_url=prefect_server.url)
    final = final_state(client, settings, run, local=False, timeout=5, environ={},
                        log=lines.append, output=lines.append)  # fmt: skip
    assert final == "COMPLETED" and lines == ["  state: COMPLETED/Completed"]
    assert capsys.readouterr() == ("", "")
