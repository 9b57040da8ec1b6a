"""The severity contract against the real `prefect --no-prompt deploy --all` (Prefect 3.9.1).

For each rule code, a minimal repository holding that one mistake is deployed natively on a
shared test server, then validated by us. Without `--strict` we report an error exactly when
the native deploy fails, or when it writes a deployment no run of which can succeed (codes
whose contract says so); the code's severity is the one codes.SEVERITY states (and the README
table shows); `--strict` turns the codes it promotes into errors. Codes about our own files
(prefect-gitops.yaml, work-pool files) have no native counterpart and are listed with why.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from prefect_gitops.check import codes
from tests.prefect_server import RunningServer
from tests.run_cli import run_cli

pytestmark = pytest.mark.server

POOL = "sev-parity-pool"
DEPLOY_TIMEOUT = 300

FLOWS = """\
from prefect import flow

@flow
def hello(who: str = "world", count: int = 1) -> None:
    print(who, count)


@flow
def needs_day(day: str) -> None:
    print(day)


@flow(flow_run_name="run-{missing}")
def bad_run_name(x: int = 1) -> None:
    print(x)


def plain() -> None:
    print("not a flow")


def make_name() -> str:
    return "sev-called-name"


@flow(name=make_name())
def named_by_call() -> None:
    print("named")


@flow
def default_by_call(when: str = make_name()) -> None:
    print(when)
"""

TYPED_DICT_FLOW = """\
from typing import Optional, TypedDict

from prefect import flow


class Row(TypedDict):
    a: int


@flow
def f(row: Optional[Row] = None) -> None:
    print(row)
"""

MISSING_STEP = "pg_sev_not_installed.deployments.steps.build_image"
LOCAL_STEPS = "def make() -> dict:\n    return {'made': 'yes'}\n"

CONFIG = f"pool_types:\n  {POOL}: process\nvariables:\n  - name: sev_declared\n    value: x\n"


def deployment(extra: str = "", entrypoint: str = "flows.py:hello", name: str = "d") -> str:
    """One deployment on the shared pool, with `extra` lines (indented 4) appended."""
    return (
        f"deployments:\n  - name: {name}\n    entrypoint: {entrypoint}\n"
        f"    work_pool:\n      name: {POOL}\n{extra}"
    )


def scheduled(*items: str) -> str:
    """`deployment` with these `schedules` items, each one or more `key: value` lines."""
    lines = "".join("      - " + item.replace("\n", "\n        ") + "\n" for item in items)
    return deployment("    schedules:\n" + lines)


def with_job_variables(mapping: str) -> str:
    """`deployment` whose work pool has these `job_variables` (a YAML flow mapping)."""
    return deployment(f"      job_variables: {mapping}\n")


@dataclass(frozen=True)
class Case:
    code: str
    id: str
    prefect_yaml: str | bytes
    files: dict[str, str] = field(default_factory=dict)
    # Only where `prefect deploy` runs: a value that exists at deploy time, not offline.
    native_env: dict[str, str] = field(default_factory=dict)
    # Prefect deploys it, but no run of it can succeed (an error all the same).
    unrunnable: bool = False


CASES: list[Case] = [
    Case("Y002", "not-utf8", deployment().encode() + b"# caf\xe9\n"),
    Case("Y003", "merge-conflict", "<<<<<<< HEAD\n" + deployment() + "=======\n>>>>>>> b\n"),
    Case("Y004", "syntax-error", deployment() + "    tags: [a, b\n"),
    Case("Y005", "duplicate-key", deployment("    tags: [a]\n    tags: [b]\n")),
    Case("Y007", "custom-tag", deployment("    description: !Ref Thing\n")),
    Case("Y007", "two-documents", deployment() + "---\n" + deployment(name="e")),
    Case("Y008", "empty-file", ""),
    Case("Y008", "top-level-list", "- name: d\n  entrypoint: flows.py:hello\n"),
    Case("Y009", "docker-compose", "services:\n  web:\n    image: nginx\n"),
    Case("S001", "unknown-key", deployment("    scheduel: {}\n")),
    Case("S002", "wrong-type", deployment("    enforce_parameter_schema: [yes]\n")),
    Case("S002", "parameters-null", deployment("    parameters:\n")),
    Case("S002", "job-variables-null", with_job_variables("null")),
    Case("S002", "tags-null", deployment("    tags:\n")),
    Case(
        "S017",
        "unnamed-template-entry",
        "deployments:\n  - name:\n    entrypoint:\n    work_pool:\n      name:\n"
        + deployment()[len("deployments:\n") :],
    ),
    Case("S003", "misplaced-job-variables", deployment("    job_variables: {env: {A: '1'}}\n")),
    Case("S003", "misplaced-queue", deployment("    work_queue_name: q\n")),
    Case(
        "S003",
        "step-with-extra-keys",
        deployment(
            "    build:\n      - prefect.deployments.steps.run_shell_script:\n"
            "        script: echo hi\n"
        ),
    ),
    Case("S004", "prefect2-key", deployment("    schedule: {}\n")),
    Case("S016", "step-package-missing", deployment(f"    build:\n      - {MISSING_STEP}: {{}}\n")),
    Case(
        "S016",
        "push-step-from-the-files-push",
        f"push:\n  - {MISSING_STEP}: {{}}\n" + deployment("    push: []\n"),
    ),
    Case(
        "S004",
        "prefect2-pull-step",
        "pull:\n  - prefect.projects.steps.set_working_directory:\n      directory: /tmp\n"
        + deployment(),
        unrunnable=True,  # a pull step runs only with each flow run
    ),
    Case(
        "S004",
        "prefect2-build-step",
        deployment(
            "    build:\n      - prefect.projects.steps.run_shell_script:\n"
            "          script: echo hi\n"
        ),
    ),
    Case(
        "S004",
        "is-schedule-active-in-schedule",
        scheduled("cron: '0 * * * *'\nis_schedule_active: true"),
    ),
    Case("S005", "duplicate-deployment", deployment() + deployment().split("\n", 1)[1]),
    Case("S009", "no-name", deployment().replace("  - name: d\n    entrypoint", "  - entrypoint")),
    Case("S009", "no-entrypoint", "deployments:\n  - name: d\n    work_pool:\n      name: " + POOL),
    Case("S009", "no-work-pool", "deployments:\n  - name: d\n    entrypoint: flows.py:hello\n"),
    Case("S013", "slash-in-name", deployment(name="a/b")),
    Case("S013", "control-character-in-name", deployment(name='"a\\x1bb"')),
    Case(
        "S014",
        "schedule-and-schedules",
        deployment(
            "    schedule: {cron: '0 * * * *'}\n    schedules:\n      - cron: '5 * * * *'\n"
        ),
    ),
    Case(
        "S015",
        "duplicate-trigger-name",
        deployment(
            "    triggers:\n"
            "      - {name: t, enabled: true, match: {prefect.resource.id: a}, expect: [x]}\n"
            "      - {name: t, enabled: true, match: {prefect.resource.id: b}, expect: [y]}\n"
        ),
    ),
    Case("E001", "bad-entrypoint-format", deployment(entrypoint="flows.py")),
    Case("E002", "missing-file", deployment(entrypoint="nowhere.py:hello")),
    Case(
        "E005",
        "syntax-error-in-flow",
        deployment(entrypoint="broken.py:f"),
        {"broken.py": "from prefect import flow\n\n@flow\ndef f(:\n    pass\n"},
    ),
    *(
        [
            Case(
                "E005",
                "typing-typeddict-parameter",
                deployment(entrypoint="typed.py:f"),
                {"typed.py": TYPED_DICT_FLOW},
            )
        ]
        if sys.version_info < (3, 12)  # pydantic accepts typing.TypedDict from 3.12 on
        else []
    ),
    Case("E006", "no-function", deployment(entrypoint="flows.py:nope")),
    Case("E007", "not-a-flow", deployment(entrypoint="flows.py:plain")),
    Case(
        "E008",
        "templated-entrypoint",
        deployment(entrypoint="'{{ $SEV_EP }}'"),
        native_env={"SEV_EP": "flows.py:hello"},
    ),
    Case(
        "E009",
        "slash-in-flow-name",
        deployment(entrypoint="slashed.py:f"),
        {"slashed.py": "from prefect import flow\n\n@flow(name='a/b')\ndef f():\n    pass\n"},
    ),
    Case("E010", "unknown-parameter", deployment("    parameters: {whom: x}\n")),
    Case(
        "E011",
        "required-parameter",
        deployment("    parameters: {}\n", entrypoint="flows.py:needs_day"),
    ),
    Case("E012", "wrong-type-parameter", deployment("    parameters: {count: many}\n")),
    Case(
        "E012",
        "wrong-type-not-enforced",
        deployment("    enforce_parameter_schema: false\n    parameters: {count: many}\n"),
    ),
    Case("E013", "flow-run-name", deployment(entrypoint="flows.py:bad_run_name")),
    Case("E014", "default-from-a-call", deployment(entrypoint="flows.py:default_by_call")),
    Case("E015", "name-from-a-call", deployment(entrypoint="flows.py:named_by_call")),
    Case("C001", "no-schedule-kind", scheduled("timezone: UTC")),
    Case("C002", "bad-cron", scheduled("cron: '61 * * * *'")),
    Case("C003", "zero-interval", scheduled("interval: 0")),
    Case("C004", "bad-rrule", scheduled("rrule: 'FREQ=SOMETIMES'")),
    Case(
        "C005",
        "bad-timezone",
        scheduled("cron: '0 * * * *'\ntimezone: Mars/Base"),
    ),
    Case(
        "C006",
        "bad-anchor",
        scheduled("interval: 60\nanchor_date: someday"),
    ),
    Case(
        "C007",
        "bad-active",
        scheduled("cron: '0 * * * *'\nactive: sometimes"),
    ),
    Case(
        "C009",
        "duplicate-slug",
        scheduled("{cron: '0 * * * *', slug: s}", "{cron: '5 * * * *', slug: s}"),
    ),
    Case(
        "C010",
        "mixed-slugs",
        scheduled("{cron: '0 * * * *', slug: s}", "{cron: '5 * * * *'}"),
    ),
    Case(
        "C011",
        "ignored-option",
        scheduled("interval: 60\nday_or: false"),
    ),
    Case(
        "C012",
        "templated-cron",
        scheduled("cron: '{{ $SEV_CRON }}'"),
        native_env={"SEV_CRON": "0 * * * *"},
    ),
    Case(
        "R001",
        "undeclared-variable",
        deployment("    parameters: {who: '{{ prefect.variables.sev_nope }}'}\n"),
    ),
    Case(
        "R002",
        "collision-strategy",
        deployment("    concurrency_limit: {limit: 1, collision_strategy: DROP}\n"),
    ),
    Case(
        "R003",
        "grace-period",
        deployment("    concurrency_limit: {limit: 1, grace_period_seconds: 5}\n"),
    ),
    Case("R004", "zero-concurrency", deployment("    concurrency_limit: 0\n")),
    Case("R007", "version-type", deployment("    version_type: vcs:subversion\n")),
    Case("J001", "job-variable-type", with_job_variables("{stream_output: 'yes'}")),
    Case(
        "J003",
        "templated-job-variable",
        with_job_variables("{working_dir: '{{ $SEV_DIR }}'}"),
        native_env={"SEV_DIR": "/tmp"},
    ),
    Case(
        "J004",
        "dropped-placeholder",
        with_job_variables("{working_dir: '{{ nothing }}'}"),
    ),
    Case("J006", "unknown-job-variable", with_job_variables("{stream_ouput: false}")),
]

# No native trial, and why (each stays an error where it stops plan or apply).
NO_NATIVE: dict[str, str] = {
    "Y001": "a file our config or a pool file names is missing (our files)",
    "Y006": "hostile input (alias bombs): not fed to the real CLI on a shared machine",
    "S006": "two work-pool files with one name (our files)",
    "S007": "two queues with one name in a pool file (our files)",
    "S008": "a pool file naming a reserved pool (our files)",
    "S010": "a pool file's template outside the repository (our files)",
    "S011": "a pool file's template missing (our files)",
    "E003": "a file outside the repository: whether it deploys depends on the machine",
    "E004": "a module path: whether it deploys depends on what is installed",
    "R005": "an environment our config does not declare (our files)",
    "S012": "no deployments: `prefect deploy --all` fails for want of anything to deploy; an "
    "error unless the repository declares pools, variables or limits, which prefect-gitops "
    "applies (a warning), as this suite's shared config does (tests/check/rules/test_structure)",
    "R006": "native deploy runs the build steps (Docker is absent here): see the docker-recipe "
    "test in tests/test_desired_server.py",
    "P001": "pool files (our files)",
    "P002": "pool files (our files)",
    "P003": "pool files (our files)",
    "P004": "pool files (our files)",
    "P005": "pool files (our files)",
    "P006": "pool files (our files)",
    "P007": "pool files (our files)",
    "J002": "a broken variables schema in a pool file (our files)",
    "J005": "a pool neither in the repository nor in `pool_types` (our config)",
    "J007": "strict only: a variable the pool's job_configuration never uses",
    "J008": "strict only: a required pool variable set nowhere",
    "J009": "a queue missing from a pool file (our files)",
    "J010": "`pool_types` in our config",
}


def test_every_code_has_a_parity_case_or_a_reason() -> None:
    tried = {case.code for case in CASES}
    assert tried.isdisjoint(NO_NATIVE)
    assert tried | set(NO_NATIVE) == set(codes.CODES) == set(codes.SEVERITY)
    # A code the table says has no native counterpart cannot have been tried natively.
    ours_only = {code for code, (_, native) in codes.SEVERITY.items() if native == codes.OURS}
    assert ours_only <= set(NO_NATIVE)


@dataclass(frozen=True)
class Native:
    failed: bool
    log: str


@pytest.fixture(scope="module")
def native_pool(prefect_server: RunningServer) -> Iterator[RunningServer]:
    proc = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "work-pool", "create", POOL,
         "--type", "process", "--overwrite"],
        env=prefect_server.env(), capture_output=True, text=True, timeout=DEPLOY_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield prefect_server


def write_repo(root: Path, case: Case) -> None:
    data = case.prefect_yaml
    (root / "prefect.yaml").write_bytes(data if isinstance(data, bytes) else data.encode())
    (root / "flows.py").write_text(FLOWS)
    (root / "prefect-gitops.yaml").write_text(CONFIG)
    for name, text in case.files.items():
        (root / name).write_text(text)


def deploy_natively(server: RunningServer, root: Path, case: Case) -> Native:
    proc = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=root, env={**server.env(), **case.native_env}, capture_output=True, text=True,
        timeout=DEPLOY_TIMEOUT,
    )  # fmt: skip
    return Native(proc.returncode != 0, (proc.stdout + proc.stderr)[-3000:])


def ours(root: Path, case: Case, *flags: str) -> list[dict[str, Any]]:
    result = run_cli("validate", str(root), "--format", "json", "--verbose", *flags)
    assert result.exit_code in (0, 1), result.stderr
    diagnostics: list[dict[str, Any]] = result.json()["diagnostics"]
    assert (result.exit_code == 1) == any(d["severity"] == "error" for d in diagnostics)
    return diagnostics


_CONTRACT = {codes.ERROR: "error", codes.WARNING: "warning", codes.INFO: "info",
             codes.WARNING_STRICT_ERROR: "warning"}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}-{c.id}")
def test_error_exactly_when_prefect_deploy_fails(native_pool: RunningServer, case: Case) -> None:
    with tempfile.TemporaryDirectory(prefix="pg-severity-") as tmp:
        root = Path(tmp)
        write_repo(root, case)
        native = deploy_natively(native_pool, root, case)
        found = ours(root, case)
        strict = ours(root, case, "--strict")
    mine = [d for d in found if d["code"] == case.code]
    assert mine, (case.code, found)
    errors = [d for d in found if d["severity"] == "error"]
    severity, outcome = codes.SEVERITY[case.code]
    if case.unrunnable or outcome == codes.UNRUNNABLE or outcome.startswith(codes.STOPS_PLAN):
        # Prefect writes it, but no run of it can succeed, or plan cannot represent it.
        assert not native.failed, native.log
        assert [d["code"] for d in errors] == [case.code], found
    else:
        assert bool(errors) == native.failed, (found, native.log)
        if native.failed:
            assert case.code in {d["code"] for d in errors}, (found, native.log)
    if severity in _CONTRACT:
        assert {d["severity"] for d in mine} == {_CONTRACT[severity]}, mine
    if case.code in codes.STRICT_ERROR_CODES:
        assert {d["severity"] for d in strict if d["code"] == case.code} == {"error"}, strict


# Steps `prefect deploy` does not run, or can import: no S016, and the native deploy succeeds.
STEPS_THAT_DEPLOY: dict[str, str] = {
    "pull-step-only-stored": f"pull:\n  - {MISSING_STEP}: {{}}\n" + deployment(),
    "build-replaced-by-the-deployments": f"build:\n  - {MISSING_STEP}: {{}}\n"
    + deployment("    build: null\n"),
    "step-module-beside-prefect-yaml": "build:\n  - sev_local_steps.make: {}\n" + deployment(),
}


@pytest.mark.parametrize("prefect_yaml", STEPS_THAT_DEPLOY.values(), ids=list(STEPS_THAT_DEPLOY))
def test_steps_prefect_deploy_does_not_fail_on_are_not_errors(
    native_pool: RunningServer, prefect_yaml: str
) -> None:
    case = Case("S016", "steps-that-deploy", prefect_yaml, {"sev_local_steps.py": LOCAL_STEPS})
    with tempfile.TemporaryDirectory(prefix="pg-severity-") as tmp:
        root = Path(tmp)
        write_repo(root, case)
        native = deploy_natively(native_pool, root, case)
        found = ours(root, case)
    assert not native.failed, native.log
    assert [d for d in found if d["severity"] == "error" or d["code"] == "S016"] == []
