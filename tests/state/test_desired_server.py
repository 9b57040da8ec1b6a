"""Against a real server: the desired state is what Prefect itself writes there.

- A pool declared `type: X` without a template equals `prefect work-pool create --type X` on
  that server (plan: no change; apply from empty: the same template), for every shipped type.
- Prefect's own docker recipe (`prefect init --recipe docker`): apply refuses the unresolved
  `{{ build_image.image }}`, writes the value given with `--step-output`, and with
  `--run-steps` where prefect-docker is absent refuses it first (S016, exit 1).
- A `{{ prefect.variables.x }}` the project does not declare is read from the server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.prefect import templates
from prefect_gitops.prefect.api import ApiClient
from prefect_gitops.prefect.settings import Settings
from tests.prefect_server import RunningServer, running_server
from tests.run_cli import CliResult, run_cli

pytestmark = pytest.mark.server
TYPES = templates.known_types()
CLI_TIMEOUT = 300
NO_PROFILE = {"PREFECT_API_KEY": None, "PREFECT_PROFILE": None}


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server() as running:
        yield running


def api(server: RunningServer) -> ApiClient:
    return ApiClient(Settings(api_url=server.url))


def prefect(server: RunningServer, cwd: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", *args],
        cwd=cwd,
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def ours(server: RunningServer, *args: str) -> CliResult:
    result = run_cli(*args, "--api-url", server.url, env=NO_PROFILE)
    assert result.exit_code in (0, 1, 2), result.stderr[-3000:]
    return result


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def pools_repo(root: Path, prefix: str) -> Path:
    files = {"prefect.yaml": "deployments: []\n"}
    for pool_type in TYPES:
        files[f"work-pools/{pool_type}.yaml"] = f"name: {prefix}-{pool_type}\ntype: {pool_type}\n"
    return write(root, files)


def test_type_defaults_are_the_servers_for_every_shipped_type(
    server: RunningServer, tmp_path: Path
) -> None:
    for pool_type in TYPES:
        prefect(server, tmp_path, "work-pool", "create", f"native-{pool_type}", "--type", pool_type)
    planned = ours(
        server, "plan", str(pools_repo(tmp_path / "native", "native")), "--format", "json"
    )
    pool_changes = {
        rc["address"]: rc["changed_fields"]
        for rc in planned.json()["resource_changes"]
        if rc["type"] == "work_pool"
    }
    assert set(pool_changes) == {f"work_pool.native-{t}" for t in TYPES}
    assert all(not fields for fields in pool_changes.values()), pool_changes
    assert "default pool templates: the server's" in planned.stderr

    applied = ours(server, "apply", str(pools_repo(tmp_path / "ours", "ours")), "--auto-approve")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    with api(server) as client:
        for pool_type in TYPES:
            native = client.get(f"/work_pools/native-{pool_type}")
            mine = client.get(f"/work_pools/ours-{pool_type}")
            assert mine["base_job_template"] == native["base_job_template"], pool_type
            assert mine["type"] == native["type"] == pool_type


FLOW = 'from prefect import flow\n\n\n@flow(name="recipe")\ndef main() -> None:\n    pass\n'


def docker_recipe(server: RunningServer, root: Path) -> Path:
    """Prefect's own recipe, filled in, minus `requires:` (no package installs in tests)."""
    root.mkdir(parents=True)
    prefect(
        server, root, "init", "--recipe", "docker",
        "--field", "image_name=registry.local/app", "--field", "tag=latest",
    )  # fmt: skip
    text = (root / "prefect.yaml").read_text()
    text = "\n".join(line for line in text.splitlines() if "requires:" not in line) + "\n"
    text = text.replace("- name: null", "- name: app").replace(
        "entrypoint: null", "entrypoint: flows/main.py:main"
    )
    text = text.replace("  work_pool:\n    name: null", "  work_pool:\n    name: recipe-pool")
    write(
        root,
        {
            "prefect.yaml": text,
            "flows/main.py": FLOW,
            "work-pools/p.yaml": "name: recipe-pool\ntype: docker\n",
        },
    )
    return root


def deployment(server: RunningServer, name: str) -> dict[str, Any] | None:
    with api(server) as client:
        found: Any = client.get(f"/deployments/name/recipe/{name}", allow=(404,))
    return found if isinstance(found, dict) else None


def test_docker_recipe_step_outputs(server: RunningServer, tmp_path: Path) -> None:
    root = docker_recipe(server, tmp_path / "recipe")
    refused = ours(server, "apply", str(root), "--auto-approve")
    assert refused.exit_code == 1
    assert (
        "deployment.recipe/app: job_variables.image uses the step output {{ build_image.image }}"
        in refused.stderr
    )
    assert "prefect.yaml:" in refused.stderr and "Traceback" not in refused.stderr
    assert deployment(server, "app") is None  # nothing half written

    planned = ours(server, "plan", str(root))
    assert "known after the steps run" in planned.stderr

    built = ours(server, "apply", str(root), "--run-steps", "--auto-approve")
    assert built.exit_code == 1, built.stdout + built.stderr
    # refused before anything runs: prefect-docker is not installed and the step has no
    # `requires:` (S016); a step that fails when it runs is tests/test_steps.py's
    assert "error[S016]" in built.stderr and "nothing was applied" in built.stderr
    assert "Traceback" not in built.stderr
    assert deployment(server, "app") is None

    given = ours(
        server, "apply", str(root), "--auto-approve",
        "--step-output", "build_image.image=registry.local/app:abc123",
    )  # fmt: skip
    assert given.exit_code == 0, given.stdout + given.stderr
    written = deployment(server, "app")
    assert written is not None
    assert written["job_variables"] == {"image": "registry.local/app:abc123"}
    again = ours(
        server, "plan", str(root), "--detailed-exitcode",
        "--step-output", "build_image.image=registry.local/app:abc123",
    )  # fmt: skip
    assert again.exit_code == 0, again.stdout


def test_undeclared_variables_are_read_from_the_server(
    server: RunningServer, tmp_path: Path
) -> None:
    with api(server) as client:
        client.post("/variables/", json={"name": "rw_region", "value": "eu-west-1"})
    root = write(
        tmp_path,
        {
            "prefect.yaml": "deployments:\n  - name: vars\n    entrypoint: flows/main.py:main\n"
            "    parameters:\n      region: '{{ prefect.variables.rw_region }}'\n"
            "    work_pool:\n      name: vars-pool\n      job_variables:\n        env:\n"
            "          REGION: 'r-{{ prefect.variables.rw_region }}'\n",
            "flows/main.py": FLOW.replace("main() -> None", "main(region: str) -> None"),
            "work-pools/p.yaml": "name: vars-pool\ntype: process\n",
        },
    )
    applied = ours(server, "apply", str(root), "--auto-approve")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    written = deployment(server, "vars")
    assert written is not None
    assert written["parameters"] == {"region": "eu-west-1"}
    assert written["job_variables"]["env"] == {"REGION": "r-eu-west-1"}
    assert ours(server, "plan", str(root), "--detailed-exitcode").exit_code == 0
