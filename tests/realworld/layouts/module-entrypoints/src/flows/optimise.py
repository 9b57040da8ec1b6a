from prefect import flow


@flow(name="rw-module-optimise")
def optimise_portfolio(risk: float = 0.2) -> float:
    """Solve the allocation problem."""
    return risk
