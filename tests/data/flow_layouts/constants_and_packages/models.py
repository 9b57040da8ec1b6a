# ruff: noqa  (stand-in for user flow code)
from __future__ import annotations
from typing import Optional, Literal
from pydantic import BaseModel, Field
import pydantic.dataclasses


class Item(BaseModel):
    sku: str = Field(..., alias="SKU", title="Stock unit")
    qty: int = 1


class Basket(BaseModel):
    items: list[Item] = []
    parent: Optional[Item] = None
    kind: Literal["a", "b"] = "a"


class Big(Basket):
    extra: int = 0


@pydantic.dataclasses.dataclass
class PD:
    x: int = 2


class Config(BaseModel):
    a: int = 1
