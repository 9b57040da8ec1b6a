from prefect import flow

RELEASE = "2025.03"


@flow(name="rw-gitver-versioned", version=RELEASE)
def versioned_flow() -> str:
    return RELEASE
