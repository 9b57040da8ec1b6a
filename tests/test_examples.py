"""The example repos: the good ones validate cleanly (and deploy with the real Prefect CLI);
each `examples/invalid/<case>/` holds one mistake, pinned by `# expect: CODE LINE [FILE]`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

import prefect
from prefect_gitops.check.codes import CODES
from prefect_gitops.repo.loader import load_project
from tests.prefect_server import RunningServer
from tests.validate_run import run_validate

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
GOOD = ["quickstart", "kubernetes", "docker", "triggers"]
INVALID = sorted(p.name for p in (EXAMPLES / "invalid").iterdir() if p.is_dir())
EXPECT = re.compile(
    r"^\s*#\s*expect:\s*(?P<code>[A-Z]\d{3})\s+(?P<line>\d+)(?:\s+(?P<file>\S+))?\s*$"
)
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(?P<path>\S+)$")


def expectations(case: Path) -> set[tuple[str, str, int]]:
    """(code, file, line) from every `# expect:` comment under a case directory."""
    found: set[tuple[str, str, int]] = set()
    for path in sorted(case.rglob("*")):
        if not path.is_file() or path.suffix == ".py":
            continue
        for text in path.read_bytes().decode("utf-8", "replace").splitlines():
            match = EXPECT.match(text)
            if match:
                file = match["file"] or path.relative_to(case).as_posix()
                found.add((match["code"], file, int(match["line"])))
    return found


# -- the good examples --------------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD)
def test_good_example_validates_cleanly(name: str) -> None:
    run = run_validate(EXAMPLES / name)
    assert run.findings() == [], run.stdout
    assert run.exit_code == 0, run.stderr
    summary = run.report["summary"]
    assert summary["errors"] == 0 and summary["warnings"] == 0
    project, _ = load_project(EXAMPLES / name)
    assert summary["deployments"] == len(project.deployments) >= 2
    assert summary["work_pools"] == len(project.pools) >= 1


@pytest.mark.parametrize("name", GOOD)
def test_good_example_passes_with_warnings_as_errors(name: str) -> None:
    assert run_validate(EXAMPLES / name, "--warnings-as-errors").exit_code == 0


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml"))


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in _yaml_files(EXAMPLES)
        if p.parent.name == "work-pools" or p.name == "prefect-gitops.yaml"
    ],
    ids=lambda p: p.relative_to(EXAMPLES).as_posix(),
)
def test_our_formats_point_editors_at_their_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = SCHEMA_LINE.match(first)
    assert match, f"{path} should start with a yaml-language-server $schema line"
    target = (path.parent / match["path"]).resolve()
    wanted = (
        "prefect-gitops.schema.json"
        if path.name == "prefect-gitops.yaml"
        else "work-pool.schema.json"
    )
    assert target == REPO / "schemas" / wanted


@pytest.mark.parametrize("name", GOOD)
def test_good_example_entrypoints_exist(name: str) -> None:
    project, _ = load_project(EXAMPLES / name)
    for deployment in project.deployments:
        assert deployment.config is not None and deployment.config.entrypoint
        file, func = deployment.config.entrypoint.split(":")
        source = (deployment.base_dir / file).read_text(encoding="utf-8")
        assert re.search(rf"^@flow\b.*\ndef {func}\(", source, re.MULTILINE), deployment.label


# -- the invalid examples -----------------------------------------------------------------


@pytest.mark.parametrize("case", INVALID)
def test_invalid_example_reports_exactly_its_mistake(case: str) -> None:
    root = EXAMPLES / "invalid" / case
    expected = expectations(root)
    assert expected, f"{root} has no `# expect: CODE LINE` comment"
    run = run_validate(root)
    got = {(d["code"], d["file"], d["line"]) for d in run.findings()}
    assert got == expected, json.dumps(run.findings(), indent=2)
    errors = run.report["summary"]["errors"]
    assert run.exit_code == (1 if errors else 0)
    if not errors:
        assert run_validate(root, "--warnings-as-errors").exit_code == 1


def test_every_file_level_code_has_an_invalid_example() -> None:
    covered = {code for case in INVALID for code, _, _ in expectations(EXAMPLES / "invalid" / case)}
    file_codes = {code for code in CODES if code[0] in "YS"}
    assert file_codes - covered == set()


def test_invalid_examples_have_real_flow_code() -> None:
    # Each case has one mistake only: entrypoints in the otherwise-valid parts must resolve,
    # so that later, semantic rules do not add findings of their own.
    for case in INVALID:
        root = EXAMPLES / "invalid" / case
        for path in root.rglob("prefect.yaml"):
            try:
                data = yaml.safe_load(path.read_bytes())
            except (yaml.YAMLError, UnicodeDecodeError):
                continue
            if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
                continue
            for item in data["deployments"]:
                if isinstance(item, dict) and "entrypoint" in item:
                    assert (path.parent / item["entrypoint"].split(":")[0]).is_file(), path


# -- the real Prefect CLI deploys the good examples unchanged ------------------------------


def _bundled_default_template(pool_type: str) -> dict[str, Any]:
    metadata = Path(prefect.__file__).parent / (
        "server/api/collections_data/views/aggregate-worker-metadata.json"
    )
    for workers in json.loads(metadata.read_text(encoding="utf-8")).values():
        for worker in workers.values():
            if worker["type"] == pool_type:
                template: dict[str, Any] = worker["default_base_job_configuration"]
                return template
    raise AssertionError(f"no default template for {pool_type}")


def _api(server: RunningServer, method: str, path: str, body: Any) -> Any:
    # SQLite answers 503 while the server's own services hold the write lock: retry (bounded).
    for attempt in range(8):
        request = urllib.request.Request(
            f"{server.url}{path}",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == 7:
                raise
            time.sleep(0.2 * 2**attempt)
            continue
        return json.loads(raw) if raw else None
    raise AssertionError("unreachable")


@pytest.mark.server
@pytest.mark.timeout(900)
def test_prefect_deploy_all_accepts_the_good_examples(
    fresh_prefect_server: RunningServer, tmp_path: Path
) -> None:
    server = fresh_prefect_server
    for name in GOOD:
        root = tmp_path / name
        shutil.copytree(EXAMPLES / name, root, ignore=shutil.ignore_patterns("__pycache__"))
        project, diags = load_project(root)
        assert not diags.has_errors
        for pool in project.pools:
            assert pool.spec is not None
            template = pool.template or _bundled_default_template(pool.spec.type)
            _api(
                server,
                "POST",
                "/work_pools/",
                {
                    "name": pool.spec.name,
                    "type": pool.spec.type,
                    "base_job_template": template,
                    "concurrency_limit": pool.spec.concurrency_limit,
                },
            )
            for queue in pool.spec.queues:
                if queue.name != "default":
                    _api(
                        server,
                        "POST",
                        f"/work_pools/{pool.spec.name}/queues",
                        {
                            "name": queue.name,
                            "priority": queue.priority,
                        },
                    )
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
            cwd=root,
            env=server.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

        live = {
            d["name"]: d
            for d in _api(
                server,
                "POST",
                "/deployments/filter",
                {
                    "work_pools": {
                        "name": {"any_": [p.spec.name for p in project.pools if p.spec]}
                    },
                },
            )
        }
        assert set(live) == {d.name for d in project.deployments}
        for deployment in project.deployments:
            config = deployment.config
            assert config is not None and config.work_pool is not None and deployment.name
            got = live[deployment.name]
            assert got["work_pool_name"] == config.work_pool.name
            assert got["work_queue_name"] == (config.work_pool.work_queue_name or "default")
            assert got["parameters"] == config.parameters
            assert got["job_variables"] == config.work_pool.job_variables
            assert len(got["schedules"]) == len(config.schedules or [])


def _parse_command_line(args: list[str]) -> None:
    """Parse `prefect-gitops ARGS` as the CLI would, without running it (usage errors raise)."""
    import click

    from prefect_gitops.cli import cli

    ctx = cli.make_context("prefect-gitops", list(args))
    command: click.Command = cli
    rest = [*ctx._protected_args, *ctx.args]
    while isinstance(command, click.Group) and rest:
        name, found, rest = command.resolve_command(ctx, rest)
        assert found is not None and name is not None
        ctx = found.make_context(name, rest, parent=ctx)
        command, rest = found, [*ctx._protected_args, *ctx.args]


def test_commands_quoted_in_the_examples_exist_and_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    monkeypatch.chdir(REPO)
    quoted = [
        (path, match.group(1))
        for path in sorted(EXAMPLES.rglob("*"))
        if path.is_file() and path.suffix in (".yaml", ".yml", ".py", ".json")
        for match in re.finditer(r"`prefect-gitops ([^`]*)`", path.read_text("utf-8", "replace"))
    ]
    assert quoted
    for path, line in quoted:
        try:
            _parse_command_line(line.split())
        except click.UsageError as exc:  # e.g. `run local`: no such deployment name
            pytest.fail(f"{path.relative_to(REPO)}: `prefect-gitops {line}`: {exc}")


def test_a_command_line_that_names_no_command_or_deployment_does_not_parse() -> None:
    import click

    for line in ("run local", "runner begin --pool local", "plan --no-such-option"):
        with pytest.raises(click.UsageError):
            _parse_command_line(line.split())
