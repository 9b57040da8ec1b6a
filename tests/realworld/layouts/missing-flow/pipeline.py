from prefect import flow


@flow(name="rw-missing-new")
def new_flow_name() -> None:
    pass
