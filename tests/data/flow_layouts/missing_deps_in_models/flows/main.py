# ruff: noqa  (stand-in for user flow code)
from prefect import flow

from .models import Cfg


class Local(Cfg):
    extra: int = 0


@flow
def main(cfg: Cfg, local: Local = None, n: int = 5):
    pass
