"""Model-level checks that mirror what the Prefect server refuses."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from prefect_gitops.repo.models import VariableSpec, variable_value_problem
from tests.prefect_server import RunningServer

BOUNDARY_VALUES: list[Any] = [
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    {"a": [1, 2**70]},
    [-(2**80)],
    "x" * 4998,
    "x" * 4999,
    "é" * 2498,
    "é" * 2499,
    1e308,
]


@pytest.mark.parametrize(
    "value", [2**64, -(2**63) - 1, {"a": [1, 2**70]}, float("nan"), "x" * 5000]
)
def test_values_the_server_refuses_are_model_errors(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        VariableSpec(name="v", value=value)
    assert variable_value_problem(value) in str(info.value)


@pytest.mark.parametrize("value", [2**64 - 1, -(2**63), True, None, {"k": [1.5, "s"]}, "x" * 4998])
def test_values_the_server_takes_pass(value: Any) -> None:
    assert VariableSpec(name="v", value=value).value == value


def test_the_cli_locates_a_big_integer(tmp_path: Any) -> None:
    from tests.run_cli import run_cli

    (tmp_path / "prefect.yaml").write_text("deployments: []\n")
    (tmp_path / "prefect-gitops.yaml").write_text(
        "project: p\nvariables:\n  - name: big\n    value: 18446744073709551616\n"
    )
    result = run_cli("validate", str(tmp_path), "--format", "json")
    assert result.exit_code == 1
    found = [d for d in result.json()["diagnostics"] if "64 bits" in d["message"]]
    assert [(d["file"], d["line"]) for d in found] == [("prefect-gitops.yaml", 4)]


@pytest.mark.server
def test_our_verdict_matches_the_server(prefect_server: RunningServer) -> None:
    with httpx.Client(base_url=prefect_server.url + "/", timeout=30) as client:
        for value in BOUNDARY_VALUES:
            name = f"models-{uuid.uuid4().hex[:10]}"
            status = client.post("variables/", json={"name": name, "value": value}).status_code
            assert (status == 201) == (variable_value_problem(value) is None), (value, status)


@pytest.mark.parametrize("target", ["", "  ", "a/b"])
def test_an_environment_cannot_map_a_pool_to_an_unusable_name(target: str) -> None:
    from prefect_gitops.repo.models import EnvironmentSpec

    with pytest.raises(ValidationError) as info:
        EnvironmentSpec(work_pools={"local": target})
    assert info.value.errors()[0]["loc"] == ("work_pools", "local")


def test_the_cli_locates_a_pool_mapped_to_nothing(tmp_path: Any) -> None:
    from tests.run_cli import run_cli

    (tmp_path / "prefect.yaml").write_text("deployments: []\n")
    (tmp_path / "prefect-gitops.yaml").write_text(
        "project: p\nenvironments:\n  dev:\n    work_pools:\n      local: ''\n"
    )
    for extra in ([], ["--env", "dev"]):
        result = run_cli("validate", str(tmp_path), "--format", "json", *extra)
        assert result.exit_code == 1, result.stderr
        found = [d for d in result.json()["diagnostics"] if d["path"].endswith("work_pools.local")]
        assert [(d["file"], d["line"]) for d in found] == [("prefect-gitops.yaml", 5)]


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("PoolFile", "concurrency_limit"),
        ("QueueSpec", "concurrency_limit"),
        ("QueueSpec", "priority"),
        ("ConcurrencyLimitSpec", "limit"),
    ],
)
def test_limits_and_priorities_fit_the_servers_64_bit_columns(model: str, field: str) -> None:
    import prefect_gitops.repo.models as models

    cls = getattr(models, model)
    base: dict[str, Any] = {"name": "n"}
    if model == "PoolFile":
        base["type"] = "process"
    assert getattr(cls(**base, **{field: models.DB_INT_MAX}), field) == models.DB_INT_MAX
    with pytest.raises(ValidationError, match="less than or equal to 9223372036854775807"):
        cls(**base, **{field: models.DB_INT_MAX + 1})


@pytest.mark.server
def test_the_server_fails_on_limits_beyond_64_bits(prefect_server: RunningServer) -> None:
    from prefect_gitops.repo.models import DB_INT_MAX

    # One connection per request: the server drops the connection after its 500.
    for limit, ok in ((DB_INT_MAX, True), (DB_INT_MAX + 1, False)):
        name = f"models-{uuid.uuid4().hex[:10]}"
        pool = {"name": name, "type": "process", "concurrency_limit": limit}
        gcl = {"name": name, "limit": limit}
        for path, body in (("work_pools/", pool), ("v2/concurrency_limits/", gcl)):
            answer = httpx.post(f"{prefect_server.url}/{path}", json=body, timeout=30)
            assert answer.is_success is ok, (path, limit, answer.status_code)
