from prefect import flow


@flow(name="rw-ghver-flow")
def tagged_flow(x: int = 1) -> int:
    return x
