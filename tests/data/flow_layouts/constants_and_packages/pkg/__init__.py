# ruff: noqa  (stand-in for user flow code)
