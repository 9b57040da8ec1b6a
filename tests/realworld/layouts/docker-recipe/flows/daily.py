from prefect import flow


@flow(name="rw-docker-recipe-daily")
def daily_recipe(limit: int = 10) -> int:
    return limit
