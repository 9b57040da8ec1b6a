try:
    from prefect import flow, task
except ImportError:  # running without Prefect: plain functions
    def flow(fn=None, **_):
        return fn if fn else (lambda f: f)

    task = flow


@task
def step(n: int) -> int:
    return n * 2


@flow(name="rw-cond-guarded-sync", retries=1)
def guarded_sync(n: int = 2) -> int:
    """Sync with retries when Prefect is present."""
    return step(n)
