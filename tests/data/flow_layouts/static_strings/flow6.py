# ruff: noqa  (stand-in for user flow code)
import not_here_pkg
import typing
from typing import Optional
from prefect import flow


@flow
def f6(
    a: "int",
    b: "typing.Optional[int]" = None,
    c: "Optional[int]" = None,
    d: "list[int]" = [],
    e: int = not_here_pkg.X,
):
    pass
