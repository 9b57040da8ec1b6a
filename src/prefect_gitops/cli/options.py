"""Click options shared by the commands, and the colour conventions (`--no-color`,
NO_COLOR, FORCE_COLOR, TERM=dumb)."""

from __future__ import annotations

import functools
import gc
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound="click.Command | None")


# A batch command (validate, plan, apply) builds data that lives until it exits: at 10,000
# deployments millions of containers, which the cyclic collector's full passes scanned again
# and again (a fifth of plan's CPU). Young objects are still collected; full passes ~never.
BATCH_GC_THRESHOLDS = (50_000, 20, 1_000)


def _batch(*, paused: bool) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        @functools.wraps(command)
        def batch(*args: Any, **kwargs: Any) -> Any:
            previous, was_enabled = gc.get_threshold(), gc.isenabled()
            gc.set_threshold(*BATCH_GC_THRESHOLDS)
            if paused:
                gc.disable()
            try:
                return command(*args, **kwargs)
            finally:
                # Enabled again while the batch thresholds hold: under the defaults, the
                # next allocations would start a full pass over everything built.
                if was_enabled:
                    gc.enable()
                gc.set_threshold(*previous)

        return batch  # type: ignore[return-value]

    return decorate


batch_gc = _batch(paused=False)
"""Run the command with `BATCH_GC_THRESHOLDS`, then put the previous ones back (the
runner's long-lived processes and the tests keep the defaults)."""

batch_gc_paused = _batch(paused=True)
"""`batch_gc` with the collector off for the whole command: for `validate`, short and
single-threaded, whose young collections free nothing either (measured: 0.515 s against
0.639 s with the thresholds alone, cold, 1,000 deployments)."""


class Seconds(click.FloatRange):
    """A number of seconds: a `FloatRange` that also refuses `nan` and `inf`, which
    `FloatRange` lets through and which would make a wait never end (or crash)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value} is not a finite number of seconds", param, ctx)
        return seconds


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


# ctx.meta key set by `--no-color`; ctx.meta is shared by a command and its group.
_NO_COLOR = "prefect_gitops.no_color"


def _set_no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_NO_COLOR] = True
        ctx.color = False


def no_color_option() -> click.Option:
    """`--no-color`: added to the group and to every command (cli/__init__.py), so it works
    before or after the command name."""
    return click.Option(
        ["--no-color"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_no_color,
        help="Never colour the output (also NO_COLOR=1 or TERM=dumb; FORCE_COLOR=1 forces it).",
    )


def with_no_color(command: C) -> C:
    """`command` (and its sub-commands) taking `--no-color`, whichever module defines it."""
    if command is None or any(p.name == "no_color" for p in command.params):
        return command
    command.params.append(no_color_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_no_color(sub)
    return command


def color_setting(environ: Mapping[str, str]) -> bool | None:
    """What the environment says about colour, None when it leaves it to the terminal.
    The order is CPython's: NO_COLOR, then FORCE_COLOR, then TERM=dumb."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR", "").lower() not in ("", "0", "false"):
        return True
    if environ.get("TERM") == "dumb":
        return False
    return None


def use_color(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Colour on a terminal unless `--no-color`, NO_COLOR (https://no-color.org) or TERM=dumb
    says otherwise; FORCE_COLOR colours even a pipe (CI logs)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_NO_COLOR):
        return False
    setting = color_setting(os.environ if environ is None else environ)
    if setting is not None:
        return setting
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
