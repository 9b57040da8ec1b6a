"""A health check that fans out over a list of targets."""

from __future__ import annotations

from prefect import flow, task


@task
def probe(target: str) -> bool:
    """Stand-in for an HTTP or database ping."""
    return bool(target)


@flow(name="platform-health-check", log_prints=True)
def health_check(targets: list[str], fail_fast: bool = False) -> dict[str, bool]:
    """Probe each target and report which ones answer.

    Args:
        targets: Names of the services to probe.
        fail_fast: Raise on the first target that does not answer.
    """
    results: dict[str, bool] = {}
    for target in targets:
        results[target] = probe(target)
        if fail_fast and not results[target]:
            raise RuntimeError(f"{target} is down")
    print(results)
    return results
