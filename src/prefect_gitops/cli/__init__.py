"""The command line: option parsing, the one error boundary, exit codes.

Exit codes: 0 success, 1 a problem in the input or on the server (the message says what),
2 a usage error, 3 an internal crash (always a bug). Set PREFECT_GITOPS_TRACEBACK=1 to
see the traceback of a crash.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence

import click

from ..errors import ReconcilerError
from ..render.escaping import visible
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
                importlib.import_module(f".{module}", __name__)
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
    # Each command lives in its own module; importing it adds it to `cli`.
    # -- command modules (one import per line) --
    from . import apply  # noqa: F401, I001  (one line per module, for easy merging)
    from . import doctor  # noqa: F401
    from . import export  # noqa: F401
    from . import plan  # noqa: F401
    from . import run  # noqa: F401
    from . import runner  # noqa: F401
    from . import schema  # noqa: F401
    from . import server  # noqa: F401
    from . import validate  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        result = cli.main(args=args, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except ReconcilerError as exc:
        click.echo(f"Error: {visible(exc.message)}", err=True)
        if exc.hint:
            click.echo(f"  hint: {visible(exc.hint)}", err=True)
        if _json_requested(args):  # stdout stays one JSON document, even on an error
            from ..render.diagnostics import render_error_json

            click.echo(render_error_json(exc.message, exc.hint))
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:  # the one boundary: anything else is our bug
        if os.environ.get("PREFECT_GITOPS_TRACEBACK"):
            traceback.print_exc()
        click.echo(
            f"prefect-gitops crashed: {type(exc).__name__}: {exc}\n"
            "This is a bug in prefect-gitops, not in your files. Re-run with "
            "PREFECT_GITOPS_TRACEBACK=1 to see the traceback, and please report it.",
            err=True,
        )
        return EXIT_CRASH
    if isinstance(result, int):
        return result
    return EXIT_OK


def _json_requested(args: Sequence[str]) -> bool:
    for index, arg in enumerate(args):
        if arg == "--":
            return False
        if arg == "--format=json" or (
            arg == "--format" and args[index + 1 : index + 2] == ["json"]
        ):
            return True
    return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
