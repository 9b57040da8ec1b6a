"""The runner's options, checked where they are made (for the CLI and any other caller)."""

from __future__ import annotations

import pytest

from prefect_gitops.errors import ConfigError
from prefect_gitops.runner.poll import RunnerOptions


@pytest.mark.parametrize("name", ["team/a", "50%", "/"])
def test_a_worker_name_prefect_would_refuse_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="must not contain '/' or '%'"):
        RunnerOptions(pool="p", name=name)


def test_the_default_and_an_ordinary_name_are_accepted() -> None:
    assert RunnerOptions(pool="p").name.startswith("prefect-gitops-runner-")
    assert RunnerOptions(pool="p", name="ci-runner").name == "ci-runner"
