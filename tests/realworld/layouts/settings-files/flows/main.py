from prefect import flow


@flow(name="rw-settings-aware")
def settings_aware() -> str:
    return "ok"
