# ruff: noqa  (stand-in for user flow code)
import boto3_not_installed_here
from pydantic import BaseModel


class Cfg(BaseModel):
    bucket: str
