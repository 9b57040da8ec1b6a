# ruff: noqa  (stand-in for user flow code)
from prefect import flow, task
from pydantic import BaseModel, Field


class Model(BaseModel):
    a: int
    b: float
    c: str


class A(BaseModel):
    x: int = 0


class B(BaseModel):
    """Holds an A."""

    a: A = Field(default_factory=A)


@task
def printer(obj):
    print(f"Received a {type(obj)} with value {obj}")


@flow(name="My Example Flow", description="An example flow for a tutorial.")
def model_validator(model: Model):
    printer(model)


@flow(log_prints=True)
def nested(x: int, y: int = 1, z: str = "hello", a: A = A(), b: B = B(a=A(x=2))) -> int:
    """Nested models.

    Args:
        b: a B
    """
    return x


if __name__ == "__main__":
    model_validator({"a": 42, "b": 0, "c": "55"})
