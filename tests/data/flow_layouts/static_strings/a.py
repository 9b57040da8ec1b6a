# ruff: noqa  (stand-in for user flow code)
import not_here_pkg
from typing import Optional
from pydantic import BaseModel
from prefect import flow


class Early(BaseModel):
    a: int = 1


@flow
def s1(a: "Early" = None, b: "Optional[int]" = None, c: "Optional[Early]" = None, d: "int" = 1):
    pass


@flow
def s2(
    a: "Early" = None,
    b: "Optional[int]" = None,
    c: "Optional[Early]" = None,
    d: "int" = 1,
    e: int = not_here_pkg.X,
):
    pass
