"""Several runners sharing one pool on a PostgreSQL-backed Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.prefect_server import RunningServer
from tests.runner.helpers import (
    create_deployment,
    create_run,
    history,
    process_pool,
    runner_process,
    wait_final,
)

pytestmark = [pytest.mark.server, pytest.mark.timeout(720)]

RUNS = 100
RUNNERS = 3


@pytest.mark.parametrize("backend", ["postgres"], indirect=True, scope="session")
def test_a_hundred_runs_across_three_runners_each_run_exactly_once(
    prefect_server: RunningServer, tmp_path: Path
) -> None:
    client, pool, flows = process_pool(prefect_server, tmp_path, "once")
    markers = tmp_path / "markers"
    markers.mkdir()
    deployment = create_deployment(client, pool=pool, flows_dir=flows, flow="marks")
    run_ids = [
        create_run(client, deployment["id"], parameters={"marker_dir": str(markers)})["id"]
        for _ in range(RUNS)
    ]
    logs = [tmp_path / f"runner{i}.log" for i in range(RUNNERS)]
    with (
        runner_process(prefect_server, pool, "--name", "r0", "--limit", "4", log=logs[0]),
        runner_process(prefect_server, pool, "--name", "r1", "--limit", "4", log=logs[1]),
        runner_process(prefect_server, pool, "--name", "r2", "--limit", "4", log=logs[2]),
    ):
        states = wait_final(client, run_ids, 540)
    tail = "\n".join(log.read_text()[-2000:] for log in logs)
    assert sorted(states) == sorted(run_ids)
    assert set(states.values()) == {"COMPLETED"}, tail
    written = {path.name: path.read_text().splitlines() for path in markers.iterdir()}
    assert sorted(written) == sorted(run_ids)
    assert all(len(lines) == 1 for lines in written.values()), written
    text = "".join(log.read_text() for log in logs)
    started_by = {
        run_id: [
            i for i, log in enumerate(logs) if f"({run_id}) started as process" in log.read_text()
        ]
        for run_id in run_ids
    }
    assert all(len(runners) == 1 for runners in started_by.values()), started_by
    assert sum(text.count(f"({run_id}) started as process") for run_id in run_ids) == RUNS
    # The work was shared, not done by one runner while the others idled.
    assert len({runners[0] for runners in started_by.values()}) >= 2
    for run_id in run_ids:
        kinds = [s["type"] for s in history(client, run_id)]
        assert kinds.count("PENDING") == 1 and kinds.count("RUNNING") == 1, kinds
