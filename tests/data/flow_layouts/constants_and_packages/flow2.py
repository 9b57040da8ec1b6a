# ruff: noqa  (stand-in for user flow code)
from pydantic import BaseModel
from prefect import flow
import models


class Config(BaseModel):
    b: str = "x"


@flow
def f2(c1: Config, c2: models.Config):
    pass
