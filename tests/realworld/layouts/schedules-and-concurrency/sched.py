from prefect import flow


@flow(name="rw-sched-sync")
def scheduled_sync(full: bool = False) -> bool:
    return full
