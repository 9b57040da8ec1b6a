# ruff: noqa  (stand-in for user flow code)
from typing import TypedDict

from prefect import flow


class Row(TypedDict):
    id: int


@flow
def rows(row: Row):
    pass
