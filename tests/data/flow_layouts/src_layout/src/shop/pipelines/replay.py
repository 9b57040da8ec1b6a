# ruff: noqa  (stand-in for user flow code)
import shop.models
from prefect import flow

from shop.models import Channel


@flow
def replay(order: shop.models.Order, channel: Channel = Channel.STORE):
    pass
