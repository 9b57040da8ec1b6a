# ruff: noqa  (stand-in for user flow code)
from prefect import flow
from pydantic import BaseModel
import settings
from settings import FLOW_NAME

LOCAL = 5
TIMEOUT = LOCAL


@flow(name=FLOW_NAME)
def f(
    limit: int = settings.DEFAULT_LIMIT,
    regions: list[str] = settings.REGIONS,
    t: int = TIMEOUT,
    c: "Later" = None,
):
    pass


@flow
def g(c: Later = None):
    pass


class Later(BaseModel):
    a: int = 1
