# ruff: noqa  (stand-in for user flow code)
from enum import Enum

from pydantic import BaseModel


class Channel(str, Enum):
    WEB = "web"
    STORE = "store"


class Order(BaseModel):
    """An order to replay."""

    id: int
    channel: Channel = Channel.WEB
