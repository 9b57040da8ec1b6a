# ruff: noqa  (stand-in for user flow code)
from enum import Enum

import pandas_not_installed_here as pd
from prefect import flow
from pydantic import BaseModel
from warehouse_sdk_not_installed import Credentials


class Mode(Enum):
    FULL = "full"
    DELTA = "delta"


class Target(BaseModel):
    table: str
    schema_name: str = "public"


class NeedsPandas(BaseModel):
    frame: pd.DataFrame


@flow
def load(
    target: Target,
    creds: Credentials,
    mode: Mode = Mode.DELTA,
    frame: NeedsPandas = None,
    *,
    batch: int,
    retries: int = 3,
    sep: str = pd.NA,
):
    """Load into the warehouse."""


@flow
async def aload(target: Target, *, batch: int):
    pass


class Pipeline:
    @flow
    def run(self, target: Target, n: int = 2):
        pass
