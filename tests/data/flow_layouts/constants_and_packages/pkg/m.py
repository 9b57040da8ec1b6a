# ruff: noqa  (stand-in for user flow code)
from ..models import Item
from pydantic import BaseModel


class M(BaseModel):
    item: Item
