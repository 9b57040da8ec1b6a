from __future__ import annotations

from pathlib import Path

import pytest

from prefect_gitops.runner.config import (
    DEFAULT_PROCESS_TEMPLATE,
    JobConfigError,
    JobConfiguration,
    merge_job_variables,
    render_job_configuration,
    variable_names,
)


def test_defaults_only_gives_prefects_process_defaults() -> None:
    assert render_job_configuration(DEFAULT_PROCESS_TEMPLATE, {}) == JobConfiguration(
        command=None, env={}, labels={}, name=None, stream_output=True, working_dir=None
    )


def test_run_variables_win_over_deployment_and_env_is_merged() -> None:
    merged = merge_job_variables(
        {"env": {"A": "dep", "B": "dep"}, "stream_output": False, "name": "dep"},
        {"env": {"B": "run", "C": "run"}, "name": "run"},
    )
    assert merged == {
        "env": {"A": "dep", "B": "run", "C": "run"},
        "stream_output": False,
        "name": "run",
    }


def test_merge_does_not_mutate_its_inputs() -> None:
    deployment = {"env": {"A": "1"}}
    run = {"env": {"B": "2"}}
    merge_job_variables(deployment, run)
    assert deployment == {"env": {"A": "1"}} and run == {"env": {"B": "2"}}


def test_env_layers_match_prefects_observed_result() -> None:
    # prefect-internals.md 5.4: the observed result of Prefect 3.9.1 for these inputs.
    template = {
        "job_configuration": {
            "env": {"FROM_JOB_CONFIG": "jc", "SHARED": "jc"},
            "command": "{{ command }}",
        },
        "variables": {
            "properties": {
                "env": {"type": "object", "default": {"POOL_DEFAULT": "1", "SHARED": "pool"}},
                "command": {"default": None},
            }
        },
    }
    config = render_job_configuration(
        template, {"env": {"SHARED": "dep", "DEP": "d"}, "env.DOTTED": "dot"}
    )
    assert config.env == {
        "DEP": "d",
        "DOTTED": "dot",
        "FROM_JOB_CONFIG": "jc",
        "POOL_DEFAULT": "1",
        "SHARED": "dep",
    }


def test_whole_placeholder_keeps_type_and_inline_interpolates() -> None:
    template = {
        "job_configuration": {
            "stream_output": "{{ stream_output }}",
            "name": "job-{{ team }}-{{ size }}",
            "working_dir": "{{ working_dir }}",
        },
        "variables": {"properties": {"stream_output": {"type": "boolean", "default": True}}},
    }
    config = render_job_configuration(
        template, {"stream_output": False, "team": "data", "size": 3, "working_dir": "/tmp/x"}
    )
    assert config.stream_output is False
    assert config.name == "job-data-3"
    assert config.working_dir == Path("/tmp/x")


def test_unset_values_are_removed_so_defaults_apply() -> None:
    template = {
        "job_configuration": {"command": "{{ command }}", "stream_output": "{{ missing }}"},
        "variables": {"properties": {}},
    }
    config = render_job_configuration(template, {})
    assert config.command is None and config.stream_output is True


def test_env_placeholder_reads_the_given_environment() -> None:
    template = {"job_configuration": {"env": {"HOME_COPY": "{{ $MY_HOME }}"}}, "variables": {}}
    config = render_job_configuration(template, {}, environ={"MY_HOME": "/home/me"})
    assert config.env == {"HOME_COPY": "/home/me"}


def test_env_values_none_are_dropped_and_scalars_become_strings() -> None:
    config = render_job_configuration(
        DEFAULT_PROCESS_TEMPLATE, {"env": {"A": None, "B": 1, "C": True}}
    )
    assert config.env == {"B": "1", "C": "true"}


def test_prefect_variables_are_resolved_from_the_given_values() -> None:
    template = {
        "job_configuration": {"command": "{{ prefect.variables.cmd }}", "name": "{{ name }}"},
        "variables": {"properties": {}},
    }
    assert variable_names(template) == {"cmd"}
    config = render_job_configuration(template, {"name": "n"}, prefect_variables={"cmd": "echo hi"})
    assert config.command == "echo hi" and config.name == "n"


def test_block_references_are_refused_without_a_block_source() -> None:
    template = {"job_configuration": {"command": "{{ prefect.blocks.secret.x }}"}, "variables": {}}
    with pytest.raises(JobConfigError, match="block"):
        render_job_configuration(template, {})


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"stream_output": "maybe"}, "stream_output"),
        ({"env": "X=1"}, "env"),
        ({"command": ["echo"]}, "command"),
    ],
)
def test_invalid_values_give_a_job_config_error(variables: dict[str, object], message: str) -> None:
    with pytest.raises(JobConfigError, match=message):
        render_job_configuration(DEFAULT_PROCESS_TEMPLATE, variables)
