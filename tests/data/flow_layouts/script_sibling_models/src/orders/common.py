# ruff: noqa  (stand-in for user flow code)
from enum import IntEnum


class Level(IntEnum):
    LOW = 1
    HIGH = 2
