# ruff: noqa: UP006, UP007, UP045  (typing.List/Optional/Union on purpose: other reprs, same schema)
"""The memoised parameter schema equals prefect's and pydantic's, key order included."""

from __future__ import annotations

import datetime
import decimal
import inspect
import json
import pathlib
import typing
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from prefect.utilities.callables import generate_parameter_schema as prefect_schema

from prefect_gitops import flows

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
    slow = flows._pydantic_parameter_schema(signature, DOCS)
    for _ in range(2):  # the second call is served from the cache
        fast = flows.generate_parameter_schema(signature, DOCS)
        assert json.dumps(fast, default=repr) == json.dumps(slow, default=repr)
    expected = prefect_schema(signature, DOCS).model_dump(exclude_unset=True)
    assert fast == expected


def test_callers_get_their_own_copy() -> None:
    signature = inspect.Signature([P("x", P.POSITIONAL_OR_KEYWORD, annotation=list[int])])
    first = flows.generate_parameter_schema(signature, {})
    first["properties"]["x"]["items"]["type"] = "mutated"
    first["required"].append("y")
    second = flows.generate_parameter_schema(signature, {})
    assert second == flows._pydantic_parameter_schema(signature, {})
