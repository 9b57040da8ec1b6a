# ruff: noqa  (stand-in for user flow code)
DEFAULT_LIMIT = 100
REGIONS = ["eu", "us"]
FLOW_NAME = "from-settings"
