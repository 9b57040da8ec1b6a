# ruff: noqa: UP006, UP007, UP045  (typing.List/Optional/Union on purpose: other reprs, same schema)
"""The memoised parameter schema equals prefect's and pydantic's, key order included."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import json
import os
import pathlib
import shutil
import subprocess
import sys
import typing
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
import pytest
import typing_extensions
from prefect.utilities.callables import generate_parameter_schema as prefect_schema

from prefect_gitops.check.flows import analysis as flows
from prefect_gitops.check.flows import schema as flowschema
from prefect_gitops.check.flows.facts import EntrypointProblem

P = inspect.Parameter
EMPTY = P.empty

ANNOTATIONS: list[Any] = [
    EMPTY, int, str, float, bool, bytes, list, dict, tuple, set, object, Any,
    list[int], dict[str, float], tuple[int, str], tuple[int, ...], set[str], frozenset[int],
    typing.Optional[int], typing.Union[int, str], int | None, str | int | None,
    typing.Literal["a", "b"], typing.Literal[1, True], typing.Literal[1.5, None],
    datetime.datetime, datetime.date, datetime.time, datetime.timedelta, uuid.UUID,
    pathlib.Path, decimal.Decimal, Sequence[int], Mapping[str, int], typing.List[str],
    typing.Dict[str, Any], typing.Iterable[int], list[dict[str, list[int]]],
    typing.Optional[list[datetime.date]],
]  # fmt: skip

DEFAULTS: list[Any] = [
    EMPTY, None, 1, True, 1.0, "x", b"y", [1, "a"], {"a": 1}, (1, "a"), {3},
    pathlib.Path("."), datetime.timedelta(hours=1), decimal.Decimal("1.50"),
    datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.timezone.utc), uuid.UUID(int=5),
]  # fmt: skip


def _signatures() -> list[inspect.Signature]:
    out = [inspect.Signature([])]
    for index, annotation in enumerate(ANNOTATIONS):
        for default in (EMPTY, DEFAULTS[index % len(DEFAULTS)], None):
            out.append(inspect.Signature([P("x", P.POSITIONAL_OR_KEYWORD, default=default,
                                             annotation=annotation)]))  # fmt: skip
    # everything at once, so that order, `required` and positions are exercised together
    params = [
        P(f"p{i}", P.KEYWORD_ONLY, annotation=a, default=DEFAULTS[i % len(DEFAULTS)])
        for i, a in enumerate(ANNOTATIONS)
    ]
    out.append(inspect.Signature([P("first", P.POSITIONAL_OR_KEYWORD, annotation=int), *params]))
    out.append(
        inspect.Signature(
            [
                P("self", P.POSITIONAL_OR_KEYWORD),
                P("json", P.POSITIONAL_OR_KEYWORD, annotation=str),
                P("schema", P.POSITIONAL_OR_KEYWORD, default=1),
                P("json__", P.POSITIONAL_OR_KEYWORD, annotation=int, default=2),
                P("args", P.VAR_POSITIONAL, annotation=str),
                P("kwargs", P.VAR_KEYWORD, annotation=Any),
            ]
        )
    )
    return out


SIGNATURES = _signatures()
DOCS = {"x": "the x", "p3": "third", "json": "shadowing"}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("signature", SIGNATURES, ids=str)
def test_memoised_schema_is_prefects_byte_for_byte(signature: inspect.Signature) -> None:
    slow = flowschema.pydantic_parameter_schema(signature, DOCS)
    for _ in range(2):  # the second call is served from the cache
        fast = flowschema.generate_parameter_schema(signature, DOCS)
        assert json.dumps(fast, default=repr) == json.dumps(slow, default=repr)
    expected = prefect_schema(signature, DOCS).model_dump(exclude_unset=True)
    assert fast == expected


FIELD_DEFAULTS: list[Any] = [
    pydantic.Field(1),
    pydantic.Field(1, description="own words"),
    pydantic.Field(description="required, described"),
    pydantic.Field(default_factory=list),
    pydantic.Field("a", json_schema_extra={"unit": "s", "position": 9}),
    pydantic.Field(2, ge=0, title="ignored title"),
    pydantic.Field(None, json_schema_extra=lambda schema: None),
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("default", FIELD_DEFAULTS, ids=repr)
@pytest.mark.parametrize("kind", [P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY])
def test_field_default_schema_is_prefects(default: Any, kind: Any) -> None:
    signature = inspect.Signature(
        [P("x", kind, annotation=int | str | None, default=default), P("y", P.KEYWORD_ONLY)]
    )
    expected = prefect_schema(signature, DOCS).model_dump(exclude_unset=True)
    assert flowschema.pydantic_parameter_schema(signature, DOCS) == expected
    for _ in range(2):  # the second call is served from the cache
        assert flowschema.generate_parameter_schema(signature, DOCS) == expected
    required = [p.name for p in signature.parameters.values() if flowschema.is_required(p)]
    assert required == expected.get("required", [])


def test_callers_get_their_own_copy() -> None:
    signature = inspect.Signature([P("x", P.POSITIONAL_OR_KEYWORD, annotation=list[int])])
    first = flowschema.generate_parameter_schema(signature, {})
    first["properties"]["x"]["items"]["type"] = "mutated"
    first["required"].append("y")
    second = flowschema.generate_parameter_schema(signature, {})
    assert second == flowschema.pydantic_parameter_schema(signature, {})


# -- types defined in the repository --------------------------------------------------------
# The same schema generation, fed the user's own classes (pydantic models, dataclasses,
# TypedDicts, enums): what the static reader rebuilds them into must go through it unchanged.


class _Region(str, enum.Enum):
    """Where it runs."""

    EU = "eu"
    US = "us"


class _Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class _Inner(pydantic.BaseModel):
    n: int = pydantic.Field(3, ge=0, description="count")


class _Config(pydantic.BaseModel):
    """Run settings."""

    region: _Region = _Region.EU
    inner: _Inner = pydantic.Field(default_factory=_Inner)
    tags: list[str] = []


@dataclasses.dataclass
class _Window:
    start: str
    days: int = 7


class _Opts(typing_extensions.TypedDict, total=False):
    dry: bool


USER_ANNOTATIONS: list[Any] = [
    _Region, _Level, _Inner, _Config, _Window, _Opts, typing.Optional[_Config],
    list[_Region], dict[str, _Window], _Config | None, typing.Union[_Inner, _Window],
]  # fmt: skip
USER_DEFAULTS: list[Any] = [EMPTY, None, _Region.US, _Level.HIGH, _Inner(n=5), _Config()]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("annotation", USER_ANNOTATIONS, ids=repr)
@pytest.mark.parametrize("default", USER_DEFAULTS, ids=repr)
def test_user_types_schema_is_prefects(annotation: Any, default: Any) -> None:
    signature = inspect.Signature(
        [
            P("cfg", P.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default),
            P("region", P.KEYWORD_ONLY, annotation=_Region, default=_Region.EU),
        ]
    )
    expected = prefect_schema(signature, DOCS).model_dump(exclude_unset=True)
    assert flowschema.generate_parameter_schema(signature, DOCS) == expected
    assert "definitions" in expected


# -- whole repositories: our static reading against Prefect's own loading ----------------------
# Each layout is a small repository modelled on public Prefect 3 projects. For each
# entrypoint, the real `prefect.flows.load_flow_from_entrypoint` runs in a subprocess started
# in the repository (as `prefect deploy` does), importing the flow or falling back to its
# static loading; we must agree on failure, name, description, parameter schema and on
# whether the static fallback was used (Prefect's flow then has no version).

LAYOUTS = Path(__file__).parents[2] / "data" / "flow_layouts"

# One fork per entrypoint: a module one load imports stays in sys.modules and would make
# the next entrypoint's import succeed (as it can within one `prefect deploy --all`).
_PREFECT_SIDE = """
import json, os, sys, warnings
warnings.simplefilter("ignore")
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

def load(entrypoint):
    try:
        flow = load_flow_from_entrypoint(entrypoint)
        schema = parameter_schema(flow).model_dump(exclude_unset=True)
    except Exception as exc:
        return {"fails": type(exc).__name__}
    return {"name": flow.name, "description": flow.description, "schema": schema,
            "static": flow.version is None}

out = {}
for entrypoint in sys.argv[1:]:
    read, write = os.pipe()
    if os.fork() == 0:
        os.close(read)
        with os.fdopen(write, "w") as pipe:
            pipe.write(json.dumps(load(entrypoint)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        out[entrypoint] = json.loads(pipe.read())
    os.wait()
print(json.dumps(out))
"""


def _prefect_loads(repo: Path, entrypoints: list[str], tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "prefect_side.py"  # outside the repository, as the prefect CLI is
    script.write_text(_PREFECT_SIDE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, str(script), *entrypoints],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _ours(repo: Path, entrypoint: str) -> dict[str, Any]:
    info = flows.analyze_entrypoint(entrypoint, repo, repo)
    if isinstance(info, EntrypointProblem):
        return {"fails": info.kind, "message": info.message}
    if info.load_problem is not None:
        return {"fails": info.load_problem.kind, "message": info.load_problem.message}
    assert info.schema_complete, info.unreadable
    return {"name": info.name, "description": info.description,
            "schema": info.parameter_schema, "static": info.static_reason is not None}  # fmt: skip


# Saved as latin-1 when the layout is copied (ruff, like most tools, reads only UTF-8).
LATIN1: dict[str, dict[str, str]] = {
    "latin1": {
        "legacy.py": '''# -*- coding: latin-1 -*-
"""Flows from an old code base, still saved as latin-1."""
from prefect import flow


@flow(name="café")
def cafe(ville: str = "Besançon", prix: float = 2.5):
    """Un café, s'il vous plaît.

    Args:
        ville: où
    """
''',
    },
    "prefect_fails": {
        "latin1_missing.py": """# -*- coding: latin-1 -*-
import dask_not_installed_here
from prefect import flow


@flow
def lat(ville: str = "Besançon"):
    pass
""",
    },
}

REPOSITORIES: dict[str, list[str]] = {
    # pydantic models in the flow file, instances and factories as defaults
    "models_in_flow_file": ["flows.py:model_validator", "flows.py:nested"],
    # `from .models import ...` next to the flow, enums inside models, Field(...) metadata
    "relative_models": ["pipelines/etl.py:etl", "pipelines/etl.py:by_region"],
    # a package imported absolutely, as a script and as a module entrypoint
    "package_models": ["mypkg/flows/report.py:report", "mypkg.flows.report.report"],
    # dataclasses, typing_extensions.TypedDict, IntEnum, Annotated
    "dataclasses_and_typeddicts": ["run.py:run_flow", "run.py:annotated"],
    # `try: from prefect import flow`, a flow inside the try, a flow inside a top-level `if`
    "guarded_imports": ["flow.py:guarded", "flow.py:loyalty_flow", "flow.py:in_if"],
    # a PEP 263 latin-1 file, imported by Prefect
    "latin1": ["legacy.py:cafe"],
    # imports not installed: Prefect's static fallback drops what it cannot evaluate
    "missing_deps": ["etl.py:load", "etl.py:aload", "etl.py:Pipeline.run", "guarded.py:g"],
    # the flow's models module imports what is not installed
    "missing_deps_in_models": ["flows/main.py:main"],
    # a src/ layout, not installed: importing fails (`shop` is not on sys.path), Prefect's
    # static fallback finds it (it adds the script's parent folder to sys.path)
    "src_layout": ["src/shop/orders.py:orders", "src/shop/pipelines/replay.py:replay"],
    # a script importing its folder's modules (`from models import ...`, `import lib.deep`,
    # `from . import models`), which import further; defaults that are lists, tuples, dicts
    # and sets of enum members and model instances; `Literal` of enum members; the same
    # under the static fallback
    "script_sibling_models": [
        "src/orders/export.py:export_orders",
        "src/orders/export.py:export_window",
        "src/orders/export.py:containers",
        "src/orders/export.py:through_modules",
        "src/orders/export.py:literal_members",
        "src/orders/export_static.py:static_window",
    ],
    # `name=` a module constant, sibling modules imported absolutely and as a module, two
    # classes named Config, a relative import beyond the top-level package
    "constants_and_packages": [
        "flow1.py:f1",
        "flow2.py:f2",
        "pkg/flow4.py:f4",
        "pkg.flow4.f4",
    ],
    # defaults and names from module constants (here and in a settings module); a class
    # used before its definition fails the import, and Prefect loads the file statically
    "constants_and_order": ["f.py:f", "f.py:g"],
    # static loading: string annotations left to pydantic, classes under `if`, constants
    "static_strings": ["flow3.py:f3", "flow5.py:f5", "flow6.py:f6", "a.py:s1", "a.py:s2"],
    # what `prefect deploy` fails on here: a module entrypoint it cannot import (no static
    # fallback), a latin-1 file it cannot import (its fallback reads UTF-8), typing.TypedDict
    # before Python 3.12, spaces around an entrypoint
    "prefect_fails": [
        "pkg.needs_deps.by_module",
        "latin1_missing.py:lat",
        "old_typeddict.py:rows",
        " old_typeddict.py:rows",
        "old_typeddict.py:rows ",
    ],
}


@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("layout", sorted(REPOSITORIES))
def test_repository_types_match_prefect(layout: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    if (LAYOUTS / layout).is_dir():
        shutil.copytree(LAYOUTS / layout, repo)
    for name, text in LATIN1.get(layout, {}).items():
        repo.mkdir(exist_ok=True)
        (repo / name).write_bytes(text.encode("latin-1"))
    user_modules = {p.stem for p in repo.rglob("*.py")} | {p.name for p in repo.rglob("*/")}
    ours = {ep: _ours(repo, ep) for ep in REPOSITORIES[layout]}
    assert not user_modules & {m.split(".")[0] for m in sys.modules}, "user code was imported"
    theirs = _prefect_loads(repo, REPOSITORIES[layout], tmp_path)
    for entrypoint in REPOSITORIES[layout]:
        if "fails" in theirs[entrypoint]:
            assert "fails" in ours[entrypoint], (entrypoint, theirs[entrypoint])
        else:
            assert ours[entrypoint] == theirs[entrypoint], entrypoint
