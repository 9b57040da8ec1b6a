"""Generated repositories for apply tests and `bench/apply.py`: N deployments on P process pools."""

from __future__ import annotations

import json
from pathlib import Path

FLOW_SOURCE = '''from prefect import flow


@flow(name="work")
def work(i: int = 0, label: str = "x") -> int:
    """Does a little work."""
    return i
'''


def write_repo(
    root: Path,
    *,
    deployments: int,
    pools: int = 1,
    project: str = "generated",
    prefix: str = "d",
    pool_prefix: str = "pool",
    schedules: bool = True,
) -> Path:
    """Write a repository whose `prefect.yaml` works with `prefect --no-prompt deploy --all`
    (pools must exist first) and with `prefect-gitops apply`. Returns `root`."""
    (root / "flows").mkdir(parents=True, exist_ok=True)
    (root / "flows" / "work.py").write_text(FLOW_SOURCE, encoding="utf-8")
    (root / "work-pools").mkdir(exist_ok=True)
    for p in range(pools):
        name = f"{pool_prefix}-{p:02d}"
        (root / "work-pools" / f"{name}.yaml").write_text(
            f"name: {name}\ntype: process\nconcurrency_limit: 4\n", encoding="utf-8"
        )
    (root / "prefect-gitops.yaml").write_text(f"project: {project}\n", encoding="utf-8")
    lines = [f"name: {project}", "prefect-version: 3.9.1", "", "deployments:"]
    for i in range(deployments):
        lines += [
            f"  - name: {prefix}{i:04d}",
            "    entrypoint: flows/work.py:work",
            f"    parameters: {json.dumps({'i': i})}",
            f"    tags: [{project}, batch-{i % 5}]",
            "    work_pool:",
            f"      name: {pool_prefix}-{i % pools:02d}",
        ]
        if schedules:
            lines += [
                "    schedules:",
                f'      - cron: "{i % 60} 3 * * *"',
                "        timezone: UTC",
                "        slug: nightly",
            ]
    (root / "prefect.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
