# ruff: noqa  (stand-in for user flow code)
from typing import Literal, Optional

from pydantic import BaseModel

from models import ExportFormat, Window

from .more import Tag


class Deep(BaseModel):
    formats: list[ExportFormat] = [ExportFormat.CSV]
    window: Optional[Window] = None
    tags: tuple[Tag, ...] = (Tag.RED,)
    mode: Literal["a", "b"] = "a"
