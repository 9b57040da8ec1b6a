"""Real-world repository layouts: our tool against the real `prefect --no-prompt deploy --all`.

Each folder in `layouts/` is a small repository modelled on how public Prefect 3 projects are
laid out; its `expect.yaml` records what the real deploy (Prefect 3.9.1) did with it:

    pools: [{name, type}]           # created with `prefect work-pool create` before deploying
    secrets: {block name: value}    # Secret blocks saved on the server before deploying
    variables: {name: value}        # Prefect variables set on the server before deploying
    env: {NAME: value}              # environment for the deploy and for our commands
    native: {<folder>: succeeds|fails}   # each folder holding a prefect.yaml
    git: {remote: URL}              # made a git checkout: one commit, an `origin` remote
    versions: {flow/deployment: v}  # the versions the native deploy wrote (HEAD: the commit)

One `native` server gets the layouts deployed natively (module-scoped, each layout on first use);
then per layout:
- `validate` has errors exactly when the native deploy failed;
- `plan --detailed-exitcode` against the native server says "No changes" when it succeeded;
- our `apply` on the `ours` server writes what the native deploy wrote, field by field, except
  the documented improvements (generated schedule slugs, `null` for the string "None" as an
  empty description, secret block references kept).

A case that disagrees today is marked `xfail(strict=True)` with the precise disagreement, so it
turns into a failure (XPASS) once it is fixed: the fixer then removes its entry from DISAGREE_*.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import load_settings
from tests.prefect_server import RunningServer, running_server
from tests.run_cli import CliResult, run_cli

pytestmark = pytest.mark.server

LAYOUTS_DIR = Path(__file__).resolve().parent / "layouts"
LAYOUTS = sorted(p.name for p in LAYOUTS_DIR.iterdir() if (p / "expect.yaml").is_file())
DEPLOY_TIMEOUT = 300
NOT_YET = datetime.max.replace(tzinfo=timezone.utc)

# What the server fills in by itself, and where ids and timestamps live.
_SERVER_ONLY = {"id", "created", "updated", "flow_id", "work_queue_id", "last_polled",
                "status", "created_by", "updated_by", "pull_steps_hash"}  # fmt: skip
_SCHEDULE_SERVER_ONLY = {"id", "created", "updated", "deployment_id"}
_POOL_FIELDS = ("type", "description", "base_job_template", "concurrency_limit", "is_paused")


# -- today's disagreements with Prefect (remove an entry when it is fixed) ---------------------

DISAGREE_VALIDATE: dict[str, str] = {}

REFUSED = "{command}: exit 1, refused by the validate error above{extra}; native deployed it"

DISAGREE_PLAN: dict[str, str] = {}

DISAGREE_APPLY: dict[str, str] = {}


# -- layouts and the native deploy ------------------------------------------------------------


@dataclass
class Layout:
    name: str
    root: Path  # the working copy (same path for the native deploy and for our commands)
    pools: list[dict[str, str]]
    env: dict[str, str]
    secrets: dict[str, str]
    variables: dict[str, str]
    expected: dict[str, str]  # folder -> succeeds | fails
    versions: dict[str, str]  # flow/deployment -> version, HEAD resolved
    observed: dict[str, str] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    deployed_at: datetime = NOT_YET

    @property
    def native_ok(self) -> bool:
        return all(outcome == "succeeds" for outcome in self.observed.values())

    @property
    def pool_names(self) -> list[str]:
        return [p["name"] for p in self.pools]


def load_layout(name: str, workdir: Path) -> Layout:
    root = workdir / name
    shutil.copytree(LAYOUTS_DIR / name, root)
    expect = yaml.safe_load((root / "expect.yaml").read_text())
    head = make_checkout(root, expect["git"]["remote"]) if expect.get("git") else None
    versions = {k: head if v == "HEAD" else v for k, v in strings(expect.get("versions")).items()}
    return Layout(
        name=name,
        root=root,
        pools=list(expect.get("pools") or []),
        env=strings(expect.get("env")),
        secrets=strings(expect.get("secrets")),
        variables=strings(expect.get("variables")),
        expected={str(k): str(v) for k, v in expect["native"].items()},
        versions={k: str(v) for k, v in versions.items()},
    )


def make_checkout(root: Path, remote: str) -> str:
    """`root` as a CI job's checkout: one commit and an `origin` remote; the commit's first
    8 characters (what `prefect deploy` infers as the version)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.invalid",
           "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.invalid"}  # fmt: skip
    steps = (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the layout"],
             ["remote", "add", "origin", remote], ["rev-parse", "HEAD"])  # fmt: skip
    for args in steps:
        done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True,
                              text=True, timeout=60, check=True)  # fmt: skip
    return done.stdout.strip()[:8]


def strings(mapping: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (mapping or {}).items()}


_SAVE_SERVER_OBJECTS = """
import json, sys
from prefect.blocks.system import Secret
from prefect.variables import Variable
wanted = json.loads(sys.argv[1])
for name, value in wanted["secrets"].items():
    Secret(value=value).save(name, overwrite=True)
for name, value in wanted["variables"].items():
    Variable.set(name, value, overwrite=True)
"""


def save_secrets_and_variables(server: RunningServer, layout: Layout) -> None:
    if not (layout.secrets or layout.variables):
        return
    wanted = json.dumps({"secrets": layout.secrets, "variables": layout.variables})
    proc = subprocess.run(
        [sys.executable, "-c", _SAVE_SERVER_OBJECTS, wanted],
        env=server.env(), capture_output=True, text=True, timeout=DEPLOY_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]


def prefect_cli(server: RunningServer, env: Mapping[str, str], cwd: Path, *args: str) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", *args],
        cwd=cwd, env={**server.env(), **env}, capture_output=True, text=True,
        timeout=DEPLOY_TIMEOUT,
    )  # fmt: skip


def create_pools(server: RunningServer, layout: Layout) -> None:
    for pool in layout.pools:
        proc = prefect_cli(
            server, {}, layout.root, "work-pool", "create", pool["name"], "--type", pool["type"]
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def deploy_natively(server: RunningServer, layout: Layout) -> None:
    create_pools(server, layout)
    save_secrets_and_variables(server, layout)
    layout.deployed_at = datetime.now(timezone.utc)
    for folder in layout.expected:
        proc = prefect_cli(server, layout.env, layout.root / folder, "deploy", "--all")
        layout.observed[folder] = "succeeds" if proc.returncode == 0 else "fails"
        layout.logs[folder] = (proc.stdout + proc.stderr)[-3000:]


@dataclass
class NativeDeploys:
    """One server where layouts are deployed with the real `prefect deploy`, each on first use
    (so that `-k <layout>` deploys only that one)."""

    server: RunningServer
    workdir: Path
    deployed: dict[str, Layout] = field(default_factory=dict)

    def layout(self, name: str) -> Layout:
        if name not in self.deployed:
            layout = load_layout(name, self.workdir)
            deploy_natively(self.server, layout)
            self.deployed[name] = layout
        return self.deployed[name]


@pytest.fixture(scope="module")
def native() -> Iterator[NativeDeploys]:
    workdir = Path(tempfile.mkdtemp(prefix="pg-realworld-"))
    try:
        with running_server() as server:
            yield NativeDeploys(server, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def ours() -> Iterator[RunningServer]:
    with running_server() as server:
        yield server


def cases(disagreements: Mapping[str, str], names: list[str] = LAYOUTS) -> list[Any]:
    return [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=disagreements[name])]
            if name in disagreements
            else [],
        )
        for name in names
    ]


def expectations(name: str) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((LAYOUTS_DIR / name / "expect.yaml").read_text())
    return found


def expected_success(name: str) -> bool:
    return all(v == "succeeds" for v in expectations(name)["native"].values())


DEPLOYED = [name for name in LAYOUTS if expected_success(name)]


def client_for(url: str) -> ApiClient:
    return ApiClient(load_settings({}, api_url=url))


def our_cli(layout: Layout, *args: str) -> CliResult:
    result = run_cli(*args, env=layout.env)
    assert result.exit_code in (0, 1, 2), f"exit {result.exit_code}: {result.stderr[-2000:]}"
    return result


# -- the checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAYOUTS)
def test_native_outcome_is_the_recorded_one(native: NativeDeploys, name: str) -> None:
    layout = native.layout(name)
    assert layout.observed == layout.expected, layout.logs


@pytest.mark.parametrize("name", cases(DISAGREE_VALIDATE))
def test_validate_has_errors_exactly_when_native_deploy_failed(
    native: NativeDeploys, name: str
) -> None:
    layout = native.layout(name)
    result = our_cli(layout, "validate", str(layout.root), "--format", "json")
    errors = [d for d in result.json()["diagnostics"] if d["severity"] == "error"]
    assert (result.exit_code == 1) == bool(errors)
    assert bool(errors) == (not layout.native_ok), (errors, layout.logs)


@pytest.mark.parametrize("name", cases(DISAGREE_PLAN, DEPLOYED))
def test_plan_after_native_deploy_has_no_changes(native: NativeDeploys, name: str) -> None:
    server, layout = native.server, native.layout(name)
    assert layout.native_ok, layout.logs
    result = our_cli(layout, "plan", str(layout.root), "--api-url", server.url,
                     "--detailed-exitcode")  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout


@pytest.mark.parametrize("name", cases(DISAGREE_APPLY, DEPLOYED))
def test_our_apply_writes_what_native_deploy_wrote(
    native: NativeDeploys, ours: RunningServer, name: str
) -> None:
    server, layout = native.server, native.layout(name)
    copy_pools(server.url, ours.url, layout.pool_names)
    save_secrets_and_variables(ours, layout)
    # `--run-steps`: run the build/push steps as `prefect deploy` did before writing.
    result = our_cli(layout, "apply", str(layout.root), "--auto-approve", "--run-steps",
                     "--api-url", ours.url, "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stdout[-3000:] + result.stderr[-2000:]
    since = layout.deployed_at
    theirs = comparable_deployments(server.url, layout.pool_names)
    mine = comparable_deployments(ours.url, layout.pool_names)
    assert sorted(mine) == sorted(theirs)
    differences = [
        difference
        for key, want in theirs.items()
        for difference in field_differences(f"deployment {key}", mine[key], want, since)
    ]
    our_pools = comparable_pools(ours.url, layout.pool_names)
    differences += [
        f"work_pool {pool} {field_}: ours {short(fields[field_])} native {short(value)}"
        for pool, fields in comparable_pools(server.url, layout.pool_names).items()
        for field_, value in fields.items()
        if our_pools[pool][field_] != value
    ]
    assert not differences, "\n".join(differences)


@pytest.mark.parametrize("name", [n for n in DEPLOYED if "versions" in expectations(n)])
def test_native_versions_are_the_recorded_ones(native: NativeDeploys, name: str) -> None:
    """What `prefect deploy` infers from version control (the plan and apply tests above
    then hold us to it)."""
    layout = native.layout(name)
    written = comparable_deployments(native.server.url, layout.pool_names)
    assert {k: written[k]["version"] for k in layout.versions} == layout.versions


def short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 300 else f"{text[:300]}... ({len(text)} chars)"


# -- reading both servers --------------------------------------------------------------------


def copy_pools(source: str, target: str, names: list[str]) -> None:
    """The pools as `prefect work-pool create` made them on the native server (our apply
    reconciles those the layout declares in work-pools/)."""
    with client_for(source) as src, client_for(target) as dst:
        for name in names:
            pool = src.get(f"/work_pools/{name}")
            body = {k: pool[k] for k in ("name", "type", "base_job_template")}
            dst.post("/work_pools/", json=body)


def comparable_pools(url: str, names: list[str]) -> dict[str, dict[str, Any]]:
    with client_for(url) as client:
        pools = {n: client.get(f"/work_pools/{n}") for n in names}
    return {n: {k: p.get(k) for k in _POOL_FIELDS} for n, p in pools.items()}


def comparable_deployments(url: str, pools: list[str]) -> dict[str, dict[str, Any]]:
    """The deployments in these pools, keyed `flow/deployment`, without ids and timestamps;
    system labels carry ids and our ownership label is bookkeeping."""
    with client_for(url) as client:
        flows = {f["id"]: f["name"] for f in client.paginate("/flows/filter")}
        found = client.paginate("/deployments/filter", {"work_pools": {"name": {"any_": pools}}})
    out = {}
    for dep in found:
        item = {k: v for k, v in dep.items() if k not in _SERVER_ONLY}
        item["labels"] = {
            k: v
            for k, v in item["labels"].items()
            if not k.startswith("prefect.") and k != "prefect-gitops.project"
        }
        item["schedules"] = sorted(
            ({k: v for k, v in s.items() if k not in _SCHEDULE_SERVER_ONLY}
             for s in item["schedules"]),
            key=lambda s: json.dumps(
                {k: v for k, v in s["schedule"].items() if k != "anchor_date"}, sort_keys=True
            ),
        )  # fmt: skip
        gcl = item.get("global_concurrency_limit")
        if gcl:
            item["global_concurrency_limit"] = {k: gcl[k] for k in ("limit", "active")}
        out[f"{flows[dep['flow_id']]}/{dep['name']}"] = item
    return out


def field_differences(path: str, mine: Any, theirs: Any, since: datetime) -> list[str]:
    """Where `mine` differs from `theirs`, except by a documented improvement or by an
    anchor date each side took from its own clock."""
    if path.endswith(".description") and theirs == "None" and mine is None:
        return []
    if isinstance(mine, str) and mine.startswith("{{ prefect.blocks.") and mine != theirs:
        return []  # we keep the secret block's reference, Prefect writes the secret
    if path.endswith(".slug") and theirs is None and mine is not None:
        return []  # we generate slugs where prefect deploy leaves none
    if path.endswith(".anchor_date") and generated_since(theirs, since):
        return [] if generated_since(mine, since) else [f"{path}: ours {short(mine)} native now"]
    if isinstance(mine, dict) and isinstance(theirs, dict) and mine.keys() == theirs.keys():
        return [
            d for k in theirs for d in field_differences(f"{path}.{k}", mine[k], theirs[k], since)
        ]
    if isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        pairs = enumerate(zip(mine, theirs, strict=True))
        return [d for i, (m, t) in pairs for d in field_differences(f"{path}[{i}]", m, t, since)]
    return [] if mine == theirs else [f"{path}: ours {short(mine)} native {short(theirs)}"]


def generated_since(value: Any, since: datetime) -> bool:
    """An anchor date set at deploy time (the YAML gave none), not one from the repository."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) >= since
    except ValueError:
        return False
