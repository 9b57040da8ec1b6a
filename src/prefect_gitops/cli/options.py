"""Click options shared by the commands (`validate`, `plan`, `apply`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def path_argument(func: F) -> F:
    """`[PATH]`: a repository directory (default: the current one) or a single prefect.yaml."""
    return click.argument(
        "path",
        required=False,
        default=".",
        type=click.Path(exists=True, file_okay=True, dir_okay=True, path_type=Path),
    )(func)


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(exists=True, file_okay=True, dir_okay=False, path_type=Path),
        default=None,
        help="Root config file (default: prefect-gitops.yaml in PATH, if present).",
    )(func)


def format_option(*choices: str, default: str = "text") -> Callable[[F], F]:
    def decorate(func: F) -> F:
        return click.option(
            "--format",
            "output_format",
            type=click.Choice(choices),
            default=default,
            show_default=True,
            help="Output format.",
        )(func)

    return decorate


def env_option(func: F) -> F:
    """`--env NAME`: an environment of the root config's `environments:` (environments.py)."""
    return click.option(
        "--env",
        "environment",
        metavar="NAME",
        default=None,
        envvar="PREFECT_GITOPS_ENV",
        help="Environment from the root config's `environments:` (or PREFECT_GITOPS_ENV).",
    )(func)


def verbose_option(func: F) -> F:
    return click.option("--verbose", "-v", is_flag=True, help="Also show info-level messages.")(
        func
    )


def use_color(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR"):
        return False
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
