# ruff: noqa  (stand-in for user flow code)
import enum


class Tag(enum.Enum):
    RED = "red"
    BLUE = "blue"
