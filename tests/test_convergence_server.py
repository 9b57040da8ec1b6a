"""Property against a REAL Prefect server: any generated repository converges.

apply → `plan --detailed-exitcode` says "No changes" (exit 0) → a second apply sends no
write. Repositories are drawn by Hypothesis (pools with queues, deployments with tags,
descriptions, parameters, schedules, job variables, concurrency; variables and limits),
each under its own names so examples share one server; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.prefect_server import RunningServer, running_server
from tests.run_cli import run_cli

pytestmark = [pytest.mark.server, pytest.mark.both_backends]

FLOW = (
    "from prefect import flow\n\n\n"
    "@flow(name='work')\n"
    "def work(i: int = 0, label: str = 'x', flags: list[str] | None = None) -> int:\n"
    "    return i\n"
)
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
WORD = st.text(alphabet="abcdefghij-_0123", min_size=1, max_size=8)
SCHEDULES = st.sampled_from([
    {"cron": "0 3 * * *", "timezone": "UTC"},
    {"cron": "*/15 * * * 1-5", "timezone": "Europe/Paris", "day_or": False},
    {"interval": 3600},
    {"interval": 600, "anchor_date": "2024-01-01T00:05:00+00:00", "timezone": "America/New_York"},
    {"rrule": "FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=9", "timezone": "UTC"},
    {"cron": "0 0 * * *", "active": False},
])  # fmt: skip
_COUNTER = itertools.count()


@st.composite
def deployment(draw: st.DrawFn, pools: list[str]) -> dict[str, Any]:
    item: dict[str, Any] = {"entrypoint": "flows/work.py:work"}
    item["tags"] = draw(st.lists(WORD, max_size=4))
    if draw(st.booleans()):
        item["description"] = draw(TEXT)
    item["parameters"] = draw(
        st.fixed_dictionaries(
            {}, optional={"i": st.integers(-(2**31), 2**31), "label": TEXT,
                          "flags": st.lists(WORD, max_size=2)},
        )
    )  # fmt: skip
    if draw(st.booleans()):
        item["version"] = draw(WORD)
    slugs = draw(st.lists(SCHEDULES, max_size=2))
    item["schedules"] = [{**s, "slug": f"s{n}"} for n, s in enumerate(slugs)]
    if draw(st.booleans()):
        item["paused"] = draw(st.booleans())
    if draw(st.booleans()):
        item["concurrency_limit"] = draw(st.integers(1, 5))
    pool: dict[str, Any] = {"name": draw(st.sampled_from(pools))}
    if draw(st.booleans()):
        pool["job_variables"] = {
            "env": draw(st.dictionaries(WORD.map(str.upper), TEXT, max_size=2))
        }
    item["work_pool"] = pool
    return item


@st.composite
def repository(draw: st.DrawFn) -> dict[str, Any]:
    tag = f"c{next(_COUNTER)}"
    pools = [f"{tag}-pool{n}" for n in range(draw(st.integers(1, 2)))]
    pool_files = {
        name: {
            "name": name, "type": "process",
            "concurrency_limit": draw(st.one_of(st.none(), st.integers(1, 9))),
            "description": draw(st.one_of(st.none(), TEXT)),
            "queues": [{"name": q, "priority": i + 1} for i, q in enumerate(
                draw(st.lists(WORD, unique=True, max_size=2)))],
        }
        for name in pools
    }  # fmt: skip
    items = draw(st.lists(deployment(pools), min_size=1, max_size=3))
    for n, item in enumerate(items):
        item["name"] = f"{tag}-d{n}"
    config: dict[str, Any] = {"project": tag}
    variables = draw(
        # The server stores 64-bit integers; a wider one is a validate error (S002), not a repo
        # that can converge (tests/test_validate.py covers it).
        st.lists(st.one_of(INT64, TEXT, st.lists(WORD, max_size=2)), max_size=2)
    )
    config["variables"] = [{"name": f"{tag}_v{n}", "value": v} for n, v in enumerate(variables)]
    if draw(st.booleans()):
        config["concurrency_limits"] = [{"name": f"{tag}-lim", "limit": draw(st.integers(1, 9))}]
    return {"pools": pool_files, "deployments": items, "config": config}


def _write(root: Path, repo: dict[str, Any]) -> Path:
    (root / "flows").mkdir()
    (root / "flows" / "work.py").write_text(FLOW, encoding="utf-8")
    (root / "work-pools").mkdir()
    for name, pool in repo["pools"].items():
        clean = {k: v for k, v in pool.items() if v is not None}
        (root / "work-pools" / f"{name}.yaml").write_text(yaml.safe_dump(clean), encoding="utf-8")
    (root / "prefect-gitops.yaml").write_text(yaml.safe_dump(repo["config"]), encoding="utf-8")
    doc = {"name": repo["config"]["project"], "deployments": repo["deployments"]}
    (root / "prefect.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def server(backend: str) -> Iterator[RunningServer]:
    with running_server(backend) as running:
        yield running


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(repo=repository())
def test_generated_repositories_converge(server: RunningServer, repo: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = _write(Path(tmp), repo)
        check = run_cli("validate", str(root), "--format", "json")
        assert check.exit_code == 0, check.stdout
        first = run_cli("apply", str(root), "--auto-approve", "--api-url", server.url,
                        "--format", "json")  # fmt: skip
        assert first.exit_code == 0, first.stdout + first.stderr
        plan = run_cli("plan", str(root), "--api-url", server.url, "--detailed-exitcode")
        assert plan.exit_code == 0, plan.stdout + plan.stderr
        again = run_cli("apply", str(root), "--auto-approve", "--api-url", server.url,
                        "--format", "json")  # fmt: skip
        assert again.exit_code == 0, again.stdout + again.stderr
        writes = json.loads(again.stdout)["requests"]["writes"]
        assert writes == 0, again.stdout
