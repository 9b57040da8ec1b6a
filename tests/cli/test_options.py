from __future__ import annotations

import gc
import io
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from prefect_gitops.cli import cli
from prefect_gitops.cli.options import BATCH_GC_THRESHOLDS, batch_gc, batch_gc_paused, use_color
from tests.cli.test_validate import with_prefect_yaml
from tests.run_cli import run_cli


class _Tty:
    def isatty(self) -> bool:
        return True


def test_colour_follows_no_color_force_color_and_term_dumb() -> None:
    tty = _Tty()
    assert use_color(tty, {}) is True  # type: ignore[arg-type]
    assert use_color(tty, {"TERM": "dumb"}) is False  # type: ignore[arg-type]
    assert use_color(tty, {"NO_COLOR": "1", "FORCE_COLOR": "1"}) is False  # type: ignore[arg-type]
    assert use_color(io.StringIO(), {"FORCE_COLOR": "1", "TERM": "dumb"}) is True
    assert use_color(io.StringIO(), {"FORCE_COLOR": "0"}) is False
    assert use_color(io.StringIO(), {}) is False


def test_force_color_colours_a_pipe_and_no_color_wins_before_or_after_the_command(
    tmp_path: Path,
) -> None:
    repo = with_prefect_yaml(tmp_path, "    tags: 5\n")
    forced = {"FORCE_COLOR": "1", "NO_COLOR": None, "TERM": "xterm"}
    assert "\x1b[" in run_cli("validate", str(repo), env=forced).stdout
    for args in (["validate", str(repo), "--no-color"], ["--no-color", "validate", str(repo)]):
        result = run_cli(*args, env=forced)
        assert result.exit_code == 1
        assert "\x1b[" not in result.stdout and "error[S002]" in result.stdout
    assert "\x1b[" not in run_cli("validate", str(repo), env={**forced, "FORCE_COLOR": None}).stdout


def test_every_command_takes_no_color() -> None:
    names = cli.list_commands(click.Context(cli))
    for name in names:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        commands = [command, *getattr(command, "commands", {}).values()]
        for each in commands:
            assert any(p.name == "no_color" for p in each.params), f"{name} {each.name}"
    assert "--no-color" in run_cli("plan", "--help").stdout


def _all_commands() -> list[click.Command]:
    found: list[click.Command] = []
    for name in cli.list_commands(click.Context(cli)):
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        found += [command, *getattr(command, "commands", {}).values()]
    return found


def test_every_option_of_every_command_has_help_text() -> None:
    missing = [
        f"{command.name} {param.opts[0]}"
        for command in _all_commands()
        for param in command.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert missing == []


def test_validate_help_names_every_exit_code() -> None:
    text = " ".join(run_cli("validate", "--help").stdout.split())
    for code in ("0 no errors", "1 errors", "2 a usage error", "3 an internal crash"):
        assert code in text


def test_no_color_survives_the_runners_lean_re_exec(tmp_path: Path) -> None:
    # `runner start` replaces the process with a leaner CLI (cli/runner.py): it must know the
    # option too.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path), PREFECT_CLIENT_MAX_RETRIES="0")
    command = ["runner", "start", "--pool", "x", "--no-color", "--run-once"]
    done = subprocess.run(
        [sys.executable, "-m", "prefect_gitops", *command, "--api-url", "http://127.0.0.1:9/api"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "No such option" not in done.stderr
    assert done.returncode == 1 and "127.0.0.1:9" in done.stderr


def test_seconds_refuse_nan_and_infinity_but_keep_the_range() -> None:
    from prefect_gitops.cli.options import Seconds

    seconds = Seconds(min=1)
    assert seconds.convert("2.5", None, None) == 2.5
    for text in ("nan", "inf", "1e999"):
        with pytest.raises(click.BadParameter, match="not a finite number of seconds"):
            seconds.convert(text, None, None)
    for text in ("0.5", "-inf"):  # below the range, as before
        with pytest.raises(click.BadParameter, match="not in the range"):
            seconds.convert(text, None, None)


@pytest.mark.parametrize(
    "args",
    [
        ("runner", "start", "--pool", "p", "--query-seconds", "nan"),
        ("runner", "start", "--pool", "p", "--kill-grace-seconds", "inf"),
        ("runner", "start", "--pool", "p", "--fork-server-idle-seconds", "nan"),
        ("apply", "--lock-timeout", "inf"),
        ("run", "hello/hello", "--watch", "--timeout", "nan"),
    ],
)
def test_every_seconds_option_refuses_a_wait_that_never_ends(args: tuple[str, ...]) -> None:
    result = run_cli(*args, "--api-url", "http://127.0.0.1:9/api")
    assert result.exit_code == 2, result.stderr
    assert "is not a finite number of seconds" in result.stderr
    assert "127.0.0.1:9" not in result.stderr  # refused before any request


@pytest.mark.parametrize(
    ("name", "paused"), [("validate", True), ("plan", False), ("apply", False)]
)
def test_batch_commands_run_with_rare_full_collections(name: str, paused: bool) -> None:
    """The cyclic collector's full passes rescanned a large plan's data again and again:
    the batch commands run with `BATCH_GC_THRESHOLDS` (validate with the collector off), and
    put the previous thresholds and state back."""
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.callback is not None
    seen: list[tuple[tuple[int, ...], bool]] = []
    before = gc.get_threshold()
    wrapper = batch_gc_paused if paused else batch_gc
    wrapped = wrapper(lambda: seen.append((gc.get_threshold(), gc.isenabled())))
    wrapped()
    assert seen == [(BATCH_GC_THRESHOLDS, not paused)]
    assert gc.get_threshold() == before and gc.isenabled()
    assert command.callback.__code__ is wrapped.__code__  # the same wrapper


def test_the_collector_is_enabled_again_before_the_thresholds_return() -> None:
    """Enabled under the default thresholds, the next allocations would start a full pass
    over everything the command built; so `enable` comes while the batch ones hold."""
    order: list[tuple[str, tuple[int, ...]]] = []
    real_enable, real_set = gc.enable, gc.set_threshold

    def enable() -> None:
        order.append(("enable", gc.get_threshold()))
        real_enable()

    def set_threshold(*values: int) -> None:
        order.append(("set", values))
        real_set(*values)

    before = gc.get_threshold()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gc, "enable", enable)
        patch.setattr(gc, "set_threshold", set_threshold)
        batch_gc_paused(lambda: None)()
    assert order == [("set", BATCH_GC_THRESHOLDS), ("enable", BATCH_GC_THRESHOLDS), ("set", before)]
