# ruff: noqa  (stand-ins for user flow code: old-style annotations on purpose)
"""Flows with literal-friendly annotations, for parity with prefect's own parameter_schema."""

from __future__ import annotations

import datetime as dt
import typing as t
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Tuple, Union
from uuid import UUID

import prefect
from prefect import flow
from prefect import flow as f


@flow
def plain(x, y=1):
    pass


@flow()
def builtins_flow(a: int, b: str = "hi", c: float = 1.5, d: bool = False, e: bytes = b"x") -> None:
    """Builtins.

    Args:
        a: the a value
        b (str): who to greet,
            over two lines
        c: a float
    """


@flow(name="My ETL_Flow", description="A literal description")
def named_flow(
    items: list[int], mapping: dict[str, float] | None = None, pair: tuple[int, str] = (1, "a")
):
    """Docstring that the description overrides."""


@f(log_prints=True)
def aliased_flow(
    mode: Literal["a", "b"] = "a",
    tags: set[str] = {"x"},  # noqa: B006
    opt: Optional[int] = None,
    either: Union[int, str] = 3,
    anything: Any = None,
    old_list: List[str] = ["a"],  # noqa: B006
    old_dict: Dict[str, Any] = {},  # noqa: B006
    old_tuple: Tuple[int, ...] = (),
) -> None:
    pass


@prefect.flow(flow_run_name="run-{when}-{missing}")
async def async_flow(
    when: dt.datetime,
    day: dt.date,
    ident: UUID,
    where: Path = Path("."),
    delta: t.Optional[dt.timedelta] = None,
):
    """Async.

    Arguments:
        when: the time
        ident: an id
    """


@flow
def with_kwargs(first: int, *args: str, second: "int" = 2, **kwargs: Any):
    """Takes anything.

    Args:
        first: first one

    Returns:
        nothing
    """


@flow
def reserved_names(copy: int = 1, json: str = "x", schema: Optional[str] = None):
    pass


@flow
def positional_only(a: int, /, b: int = 2, *, c: int, d: str = "d"):
    pass


class Pipelines:
    @flow
    def method_flow(self, n: int = 3) -> None:
        pass


def not_a_flow(x: int) -> int:
    return x
