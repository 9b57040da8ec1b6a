# ruff: noqa  (stand-in for user flow code)
from prefect import flow
from models import Basket, Big, PD
import models

NAME = "named-by-const"


class Config:  # unused, shadowed by models.Config in the signature
    pass


@flow(name=NAME)
def f1(b: Basket, big: Big = None, pd: PD = None, c: models.Config = models.Config(a=3)):
    pass
