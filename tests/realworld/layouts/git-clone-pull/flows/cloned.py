from prefect import flow


@flow(name="rw-git-cloned-etl")
def cloned_etl(days: int = 1) -> int:
    return days
