"""The root command group and the exit codes. Commands are registered lazily: running one
imports only its module."""

from __future__ import annotations

import importlib
import os

import click

from ..version import __version__
from .options import color_setting, no_color_option, with_no_color

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_CRASH = 3


# The module that defines each command: running one imports only that module, so that
# `validate` stays light (no httpx, jinja2, deepdiff or runner imports). A command missing
# here still works, `_register()` imports every module; `--help` lists them all that way.
_COMMAND_MODULES = {
    "apply": "apply",
    "force-unlock": "apply",
    "doctor": "doctor",
    "export": "export",
    "plan": "plan",
    "run": "run",
    "runner": "runner",
    "schema": "schema",
    "server": "server",
    "validate": "validate",
}


class _LazyGroup(click.Group):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            module = _COMMAND_MODULES.get(cmd_name)
            if module is None:
                _register()
            else:
                importlib.import_module(f".{module}", __package__)
        return with_no_color(super().get_command(ctx, cmd_name))

    def list_commands(self, ctx: click.Context) -> list[str]:
        _register()
        return super().list_commands(ctx)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prefect-gitops")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Declarative GitOps for Prefect 3: validate, plan and apply prefect.yaml and work pools."""
    # click.echo strips colour codes when stdout is not a terminal unless ctx.color says so.
    setting = color_setting(os.environ)
    if setting is not None and ctx.color is None:
        ctx.color = setting


cli.params.append(no_color_option())


def _register() -> None:
    # Each command lives in its own module; importing it adds it to `cli`. By name, as the
    # commands import this module (a static import would be a circle).
    for module in sorted(set(_COMMAND_MODULES.values())):
        importlib.import_module(f".{module}", __package__)
