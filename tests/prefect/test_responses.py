"""Answer shapes, checked once at the API boundary."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from prefect_gitops.prefect.responses import ShapeError, check_shape

DEPLOYMENT = {"id": "d", "name": "n", "flow_id": "f", "schedules": [], "tags": ["a"]}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/deployments/filter", [DEPLOYMENT]),
        ("POST", "deployments/filter/", [DEPLOYMENT]),
        ("POST", "/deployments/filter?x=1", []),
        ("GET", "/deployments/name/flow/dep", DEPLOYMENT),
        ("POST", "/deployments/", {"id": "d"}),
        ("POST", "/flow_runs/count", 0),
        ("GET", "/health", [None]),  # not a shape we read: anything goes
        ("POST", "/work_pools/p/get_scheduled_flow_runs", {"odd": 1}),
        ("PATCH", "/deployments/d", None),
    ],
)
def test_expected_shapes_pass(method: str, path: str, body: Any) -> None:
    check_shape(method, path, body)


@pytest.mark.parametrize(
    ("method", "path", "body", "fragment"),
    [
        ("POST", "/deployments/filter", [None], "0: Input should be a valid dictionary"),
        ("POST", "/deployments/filter", [{**DEPLOYMENT, "tags": "a"}], "0.tags"),
        ("POST", "/deployments/", {"id": ""}, "id: String should have at least 1 character"),
        ("POST", "/flows/", {"id": "f"}, "name: Field required"),
        ("POST", "/flow_runs/count", True, "valid integer"),
        ("GET", "/v2/concurrency_limits/x", {"id": "l", "name": "x", "limit": "2"}, "limit"),
        ("POST", "/work_pools/filter", [{"id": "p", "name": "p", "is_paused": "no"}], "is_paused"),
    ],
)
def test_wrong_shapes_are_one_line(method: str, path: str, body: Any, fragment: str) -> None:
    with pytest.raises(ShapeError) as info:
        check_shape(method, path, body)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


_IMPORT_PROBE = """
import prefect_gitops.prefect.responses as r
models = [m for m in vars(r).values() if isinstance(m, type) and issubclass(m, r.BaseModel)]
before = sum(m.__pydantic_complete__ for m in models), r._adapter.cache_info().currsize
r.check_shape("POST", "flows/filter", [{"id": "a", "name": "f"}])
try:
    r.check_shape("POST", "flows/filter", [{"id": "a"}])
except r.ShapeError:
    refused = True
else:
    refused = False
print(before, r._adapter.cache_info().currsize, refused)
"""


def test_shapes_are_built_on_first_use_not_at_import() -> None:
    """Importing the client costs no schema building; a command builds only what it reads."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(0,", "0)", "1", "True"]
