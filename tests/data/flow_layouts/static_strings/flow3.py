# ruff: noqa  (stand-in for user flow code)
import not_here_pkg
import sys
from prefect import flow
from pydantic import BaseModel
from enum import Enum

if sys.platform:

    class InIf(BaseModel):
        a: int = 1


class Lvl(int, Enum):
    A = 1
    B = 2


NAME = "static-const"


@flow(name=NAME)
def f3(x: InIf, l: Lvl = Lvl.B, y: "Lvl" = 1):
    pass
