"""Parity with a real Prefect server: its verdict (201 vs 422) against ours, case by case.

Job variables: pools with the process, docker and kubernetes default templates and one
custom template that exercises the server's schema preprocessing are created over REST;
each case is POSTed as a deployment and the server's status compared with
`check_job_variables(...).rejected`. Templated cases go through Prefect's own deploy-time
templating first (its `resolve_variables` against the server, then its `apply_values`
passes), and our offline resolution must reach the same verdict from the raw template.
Pool defaults: each template is POSTed as a pool and compared with `check_pool_template`.
"""

from __future__ import annotations

import asyncio
import copy
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from prefect_gitops.check.jobvars.problems import ProblemKind, rejected
from prefect_gitops.check.jobvars.verdicts import (
    check_job_variables,
    check_pool_template,
    strict_problems,
)
from prefect_gitops.prefect import templates
from tests.prefect_server import RunningServer

pytestmark = pytest.mark.server

RUN = uuid.uuid4().hex[:8]

CUSTOM_TEMPLATE: dict[str, Any] = {
    "job_configuration": {"command": "{{ must }}", "extra": {"nested": "{{ nested }}"}},
    "variables": {
        "type": "object",
        "required": ["must"],
        "properties": {
            "must": {"type": "string"},
            "opt_int": {"type": "integer"},
            "def_int": {"type": "integer", "default": 3},
            "color": {"type": "string", "enum": ["red", "blue"]},
            "nested": {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "string"}},
                "required": ["x"],
            },
            "items_list": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
            "choice": {
                "anyOf": [
                    {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]},
                    {"type": "integer"},
                ]
            },
            "weird": {"type": "object", "properties": {"required": {"type": "integer"}}},
            "blk": {"$ref": "#/definitions/MyBlock"},
            "when": {"type": "string", "format": "date-time"},
            "ident": {"type": "string", "format": "uuid"},
            "ratio": {"type": "number", "maximum": 1, "exclusiveMinimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        "definitions": {
            "MyBlock": {
                "title": "MyBlock",
                "block_type_slug": "my-block",
                "type": "object",
                "properties": {"token": {"type": "string"}},
                "required": ["token"],
            }
        },
    },
}

UUID_TEXT = "123e4567-e89b-12d3-a456-426614174000"

# (pool, job_variables)
LITERAL_CASES: list[tuple[str, dict[str, Any]]] = [
    ("process", {"stream_output": "yes"}),
    ("process", {"stream_output": None}),
    ("process", {"stream_output": False}),
    ("process", {"stream_output": 1}),
    ("process", {"env": {"A": "1"}}),
    ("process", {"env": {"A": 1}}),
    ("process", {"env": {"A": None}}),
    ("process", {"env": "A=1"}),
    ("process", {"env": None}),
    ("process", {"labels": {"a": 1}}),
    ("process", {"labels": None}),
    ("process", {"command": ["python", "x"]}),
    ("process", {"working_dir": 5}),
    ("process", {"unknown_var": 1}),
    ("process", {"name": "x", "command": "echo"}),
    ("process", {"retries": "{{ $RETRIES }}"}),
    ("process", {"stream_output": "{{ $SO }}"}),
    ("process", {"working_dir": "{{ $HOME }}/x"}),
    ("process", {"env.FOO": "bar"}),
    ("docker", {"image": "x"}),
    ("docker", {"image": None}),
    ("docker", {"image": 5}),
    ("docker", {"image_pull_policy": "Sometimes"}),
    ("docker", {"image_pull_policy": "Always"}),
    ("docker", {"image_pull_policy": None}),
    ("docker", {"networks": ["a", "b"]}),
    ("docker", {"networks": "a"}),
    ("docker", {"networks": [1]}),
    ("docker", {"volumes": None}),
    ("docker", {"auto_remove": "true"}),
    ("docker", {"container_create_kwargs": {"x": 1}}),
    ("docker", {"container_create_kwargs": []}),
    ("docker", {"registry_credentials": {"username": "u"}}),
    ("docker", {"registry_credentials": {"$ref": {"block_document_id": UUID_TEXT}}}),
    ("docker", {"registry_credentials": {"reauth": "no"}}),
    ("docker", {"mem_limit": 512}),
    ("kubernetes", {"image_pull_policy": "IfPossible"}),
    ("kubernetes", {"image_pull_policy": None}),
    ("kubernetes", {"backoff_limit": -1}),
    ("kubernetes", {"backoff_limit": None}),
    ("kubernetes", {"finished_job_ttl": "60"}),
    ("kubernetes", {"namespace": None}),
    ("kubernetes", {"cluster_config": {"config": {}, "context_name": "c"}}),
    ("kubernetes", {"cluster_config": {"$ref": UUID_TEXT}}),
    ("kubernetes", {"cluster_config": {"$ref": "not-a-uuid"}}),
    ("kubernetes", {"cluster_config": {"$ref": {"block_document_id": "x"}}}),
    ("kubernetes", {"cluster_config": {"config": "x", "context_name": "c"}}),
    ("kubernetes", {"cluster_config": {}}),
    ("kubernetes", {"pod_watch_timeout_seconds": 1.5}),
    ("kubernetes", {"pod_watch_timeout_seconds": True}),
    ("kubernetes", {"pod_watch_timeout_seconds": 2.0}),
    ("kubernetes", {"cpu_limit": "500m", "memory_limit": "1Gi"}),
    ("kubernetes", {"annotations": {"a": "b"}, "labels": {"c": "d"}}),
    ("custom", {"must": None}),
    ("custom", {"must": "x"}),
    ("custom", {"opt_int": None}),
    ("custom", {"def_int": None}),
    ("custom", {"color": None}),
    ("custom", {"color": "red"}),
    ("custom", {"color": "green"}),
    ("custom", {"nested": {"x": None}}),
    ("custom", {"nested": {"y": None}}),
    ("custom", {"nested": {}}),
    ("custom", {"nested": None}),
    ("custom", {"choice": {}}),
    ("custom", {"choice": {"k": "v"}}),
    ("custom", {"choice": 3}),
    ("custom", {"weird": {"required": "x"}}),
    ("custom", {"blk": {"token": "x"}}),
    ("custom", {"blk": {"$ref": {"block_document_id": "abc"}}}),
    ("custom", {"blk": {}}),
    ("custom", {"blk": None}),
    ("custom", {"items_list": []}),
    ("custom", {"items_list": [1, "2"]}),
    ("custom", {"when": "2024-01-01T00:00:00Z"}),
    ("custom", {"when": "not a date"}),
    ("custom", {"ident": UUID_TEXT}),
    ("custom", {"ident": "nope"}),
    ("custom", {"ratio": 0}),
    ("custom", {"ratio": 0.5}),
    ("custom", {"tags": ["a", "a"]}),
    ("custom", {"code": "ABC"}),
    ("custom", {"code": "abcd"}),
]

# Templated: (pool, job_variables with {var} for this run's variable names)
TEMPLATED_CASES: list[tuple[str, dict[str, Any]]] = [
    ("process", {"stream_output": "{{ prefect.variables.pg_flag_%(run)s }}"}),
    ("process", {"stream_output": "{{ prefect.variables.pg_text_%(run)s }}"}),
    ("process", {"env": {"X": "{{ prefect.variables.pg_num_%(run)s }}"}}),
    ("process", {"env": {"X": "n={{ prefect.variables.pg_num_%(run)s }}"}}),
    ("process", {"stream_output": "{{ $PG_PARITY_BOOL }}"}),
    ("process", {"working_dir": "{{ $PG_PARITY_DIR }}"}),
    ("process", {"stream_output": "{{ some-step.flag }}"}),
    ("process", {"command": "run {{ missing.thing }}", "stream_output": "{{ gone }}"}),
    ("process", {"name": "{{ ctx.flow_run.name }}"}),
    ("kubernetes", {"finished_job_ttl": "{{ PG_PARITY_NUM }}"}),
    ("kubernetes", {"finished_job_ttl": "{{ prefect.variables.pg_num_%(run)s }}"}),
    ("kubernetes", {"image_pull_policy": "{{ prefect.variables.pg_policy_%(run)s }}"}),
    (
        "kubernetes",
        {"env": {"A": "{{ $PG_PARITY_DIR }}", "B": "{{ prefect.variables.pg_obj_%(run)s }}"}},
    ),
    ("docker", {"networks": "{{ prefect.variables.pg_list_%(run)s }}"}),
    ("docker", {"networks": ["{{ $PG_PARITY_DIR }}", "{{ dropped }}"]}),
]

VARIABLES: dict[str, Any] = {
    "pg_flag": True,
    "pg_text": "yes",
    "pg_num": 5,
    "pg_policy": "Sometimes",
    "pg_obj": {"a": 1},
    "pg_list": ["n1", "n2"],
}
ENVIRON = {"PG_PARITY_BOOL": "true", "PG_PARITY_DIR": "/tmp/x", "PG_PARITY_NUM": "60"}

POOL_TEMPLATES: list[dict[str, Any]] = [
    CUSTOM_TEMPLATE,
    {},
    {"job_configuration": {"a": "b"}, "variables": {"type": "object"}},
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"properties": {"x": {"type": "integer", "default": "x"}}},
    },
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"properties": {"x": {"type": "string", "default": None}}},
    },
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"properties": {"x": {"anyOf": [{"type": "string"}], "default": None}}},
    },
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"properties": {"x": {"type": "string", "enum": ["a"], "default": "b"}}},
    },
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"properties": {"x": {"type": "string", "enum": ["a"], "default": "a"}}},
    },
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"properties": {"x": {"type": "array", "items": [{"type": "string"}]}}},
    },
    {"job_configuration": {"a": "{{ x }}"}, "variables": {"properties": {"x": {"type": "strin"}}}},
    {"job_configuration": {"a": "{{ y }}"}, "variables": {"properties": {"x": {"type": "string"}}}},
    {
        "job_configuration": {"a": "{{ $HOME }}"},
        "variables": {"properties": {"x": {"type": "string"}}},
    },
    {
        "job_configuration": {"a": "{{ prefect.variables.v }}"},
        "variables": {"properties": {"x": {"type": "string"}}},
    },
    {
        "job_configuration": {"a": {"{{ nope }}": 1}},
        "variables": {"properties": {"x": {"type": "string"}}},
    },
    {"job_configuration": {"a": "{{ é }}"}, "variables": {"properties": {"x": {"type": "string"}}}},
    {"variables": {"properties": {"x": {"type": "string"}}}},
    {"job_configuration": {"a": "{{ x }}"}, "variables": {}},
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {
            "properties": {
                "x": {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}},
                    "default": {"n": "no"},
                }
            }
        },
    },
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"required": ["x"], "properties": {"x": {"type": "string"}}},
    },
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"properties": {"x": {"$ref": "#/definitions/Nope", "default": 1}}},
    },
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"properties": {"x": {"type": "integer", "minimum": 5, "default": 4}}},
    },
    {
        "job_configuration": {"a": "{{ x }}"},
        "variables": {"properties": {"x": {"type": "string", "format": "uuid", "default": "nope"}}},
    },
]


@pytest.fixture(scope="module")
def api(prefect_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=prefect_server.url, timeout=30) as client:
        yield client


def _templates() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pool_type in ("process", "docker", "kubernetes"):
        template = templates.default_template(pool_type)
        assert template is not None, pool_type
        out[pool_type] = template
    out["custom"] = copy.deepcopy(CUSTOM_TEMPLATE)
    return out


@pytest.fixture(scope="module")
def pools(api: httpx.Client) -> dict[str, tuple[str, dict[str, Any]]]:
    created: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, template in _templates().items():
        name = f"parity-{key}-{RUN}"
        pool_type = key if key != "custom" else "process"
        resp = api.post(
            "/work_pools/", json={"name": name, "type": pool_type, "base_job_template": template}
        )
        assert resp.status_code == 201, resp.text
        created[key] = (name, template)
    return created


@pytest.fixture(scope="module")
def flow_id(api: httpx.Client) -> str:
    resp = api.post("/flows/", json={"name": f"parity-flow-{RUN}"})
    assert resp.status_code in (200, 201), resp.text
    return str(resp.json()["id"])


def _post(api: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST, retrying a few times on 503 (SQLite busy under a loaded machine)."""
    for _ in range(5):
        resp = api.post(path, json=body)
        if resp.status_code != 503:
            return resp
        time.sleep(1.0)
    return resp


def _post_deployment(
    api: httpx.Client, flow_id: str, pool: str, job_variables: Any, index: int
) -> int:
    body = {
        "name": f"parity-{RUN}-{index}",
        "flow_id": flow_id,
        "work_pool_name": pool,
        "job_variables": job_variables,
    }
    resp = _post(api, "/deployments/", body)
    assert resp.status_code in (200, 201, 422), (resp.status_code, resp.text)
    return resp.status_code


def test_job_variables_verdicts_match_the_server(
    api: httpx.Client, pools: dict[str, tuple[str, dict[str, Any]]], flow_id: str
) -> None:
    mismatches = []
    verdicts = []
    strict_extras = []
    for index, (key, job_variables) in enumerate(LITERAL_CASES):
        pool_name, template = pools[key]
        status = _post_deployment(api, flow_id, pool_name, job_variables, index)
        report = check_job_variables(job_variables, template, resolve=False)
        server_rejects = status == 422
        verdicts.append(server_rejects)
        if report.rejected != server_rejects:
            mismatches.append((key, job_variables, status, report.problems))
        if not server_rejects:
            extras = strict_problems(job_variables, template)
            strict_extras.extend((key, job_variables, p.kind.value) for p in extras)
    assert not mismatches, "\n".join(map(repr, mismatches))
    assert len(LITERAL_CASES) >= 40
    # The table exercises both verdicts, and strict mode finds what the server lets through.
    assert sum(verdicts) >= 15 and verdicts.count(False) >= 15
    assert ("process", {"unknown_var": 1}, "unknown-key") in strict_extras
    kinds = Counter(kind for _, _, kind in strict_extras)
    print(f"\nstrict-only findings on server-accepted cases: {dict(sorted(kinds.items()))}")


async def _prefect_deploy_templating(job_variables: Any, url: str) -> Any:
    """What `prefect deploy` does to a deployment's config before sending it (no steps)."""
    from prefect.client.orchestration import PrefectClient
    from prefect.utilities.templating import (
        apply_values,
        resolve_block_document_references,
        resolve_variables,
    )

    config: dict[str, Any] = {"work_pool": {"job_variables": job_variables}}
    async with PrefectClient(url) as client:
        config = await resolve_block_document_references(config, client=client)  # type: ignore[assignment]
        config = await resolve_variables(config, client=client)
    config = apply_values(config, os.environ, remove_notset=False)
    config = apply_values(config, {}, warn_on_notset=True, skip_prefixes=["ctx."])
    return config["work_pool"].get("job_variables", {})


def test_templated_job_variables_match_prefect_deploy_and_the_server(
    api: httpx.Client,
    pools: dict[str, tuple[str, dict[str, Any]]],
    flow_id: str,
    prefect_server: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in ENVIRON.items():
        monkeypatch.setenv(key, value)
    declared = {f"{name}_{RUN}": value for name, value in VARIABLES.items()}
    for name, value in declared.items():
        resp = api.post("/variables/", json={"name": name, "value": value})
        assert resp.status_code == 201, resp.text
    mismatches = []
    verdicts = []
    for index, (key, raw) in enumerate(TEMPLATED_CASES):
        job_variables = _fill(raw)
        pool_name, template = pools[key]
        sent = asyncio.run(
            _prefect_deploy_templating(copy.deepcopy(job_variables), prefect_server.url)
        )
        status = _post_deployment(api, flow_id, pool_name, sent, 1000 + index)
        report = check_job_variables(
            job_variables, template, environ=ENVIRON, variables=declared, has_steps=False
        )
        assert not [p for p in report.problems if p.kind is ProblemKind.OFFLINE], raw
        assert report.sent == sent, (raw, report.sent, sent)
        verdicts.append(status == 422)
        if report.rejected != (status == 422):
            mismatches.append((key, raw, sent, status, report.problems))
    assert not mismatches, "\n".join(map(repr, mismatches))
    assert any(verdicts) and not all(verdicts)


def _fill(value: Any) -> Any:
    if isinstance(value, str):
        return value % {"run": RUN} if "%(run)s" in value else value
    if isinstance(value, dict):
        return {k: _fill(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v) for v in value]
    return value


def test_pool_default_verdicts_match_the_server(api: httpx.Client) -> None:
    mismatches = []
    verdicts = []
    for index, template in enumerate(POOL_TEMPLATES):
        body = {
            "name": f"parity-pool-{RUN}-{index}",
            "type": "process",
            "base_job_template": template,
        }
        resp = _post(api, "/work_pools/", body)
        assert resp.status_code in (201, 422), (resp.status_code, resp.text)
        ours = rejected(check_pool_template(template))
        verdicts.append(resp.status_code == 422)
        if ours != (resp.status_code == 422):
            mismatches.append(
                (template, resp.status_code, resp.text[:300], check_pool_template(template))
            )
    assert not mismatches, "\n".join(map(repr, mismatches))
    assert sum(verdicts) >= 8 and verdicts.count(False) >= 5
