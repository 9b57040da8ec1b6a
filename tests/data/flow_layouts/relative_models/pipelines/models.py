# ruff: noqa  (stand-in for user flow code)
from enum import Enum
from typing import List, Optional

from pydantic import BaseModel, Field


class Region(str, Enum):
    """Where it runs."""

    EU = "eu-west-1"
    US = "us-east-1"


class SourceConfig(BaseModel):
    """Where to read from."""

    bucket: str = Field(..., description="S3 bucket", min_length=3)
    prefix: str = ""
    region: Region = Region.EU
    limit: Optional[int] = Field(None, ge=1, le=10_000)
    tables: List[str] = Field(default_factory=list, examples=[["users"]])

    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"
