# ruff: noqa  (stand-in for user flow code)
from prefect import flow

from shop.models import Order


@flow
def orders(order: Order, limit: int = 10):
    pass
