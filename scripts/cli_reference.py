"""Write docs/cli.md from the command tree itself, so the reference lists what the CLI has.

    python scripts/cli_reference.py          # rewrite docs/cli.md
    python scripts/cli_reference.py --check  # exit 1 when the committed file is stale

Every command and sub-command, its usage line, its help text and every option, as
``--help`` shows them, and the exit codes, from the constants the CLI exits with.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generated import ROOT, refresh

TARGET = ROOT / "docs" / "cli.md"
COMMAND = "python scripts/cli_reference.py"

PREAMBLE = """\
A path given to any command is a YAML file or a directory of them (read
recursively, in sorted order); see [configuration.md](configuration.md). Every
problem is reported as `file:line:col: /json/pointer: message`, and every error
is one line on stderr.
"""


def exit_codes() -> list[str]:
    """The table of exit codes, from the values the CLI uses."""
    from reconciler.cli import app

    rows = [
        (0, "Success. With `plan --detailed-exitcode`: nothing to do."),
        (
            app.EXIT_ERROR,
            "An error: invalid config, an account that cannot be read, planned"
            " or applied, a stale plan. The message says which.",
        ),
        (
            app.EXIT_CHANGES,
            "`plan --detailed-exitcode` only: the tool would change something"
            " (an API step, or an access request it can send).",
        ),
        (
            app.EXIT_WAITING,
            "`plan --detailed-exitcode` only: nothing the tool can do; only"
            " manual or approval steps wait on people.",
        ),
        (
            app.EXIT_USAGE,
            'Usage error (unknown option, missing argument): never mistaken for "changes present".',
        ),
    ]
    return ["| Code | Meaning |", "|---:|---|", *(f"| {code} | {text} |" for code, text in rows)]


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def help_text(command: click.Command) -> str:
    """The command's help as written, without click's ``\\f`` tail."""
    return inspect.cleandoc((command.help or "").split("\f")[0])


def options_table(command: click.Command, ctx: click.Context) -> list[str]:
    """Arguments, then options, as ``--help`` lists them."""
    rows = []
    for param in command.get_params(ctx):
        if isinstance(param, click.Argument):
            required = "required" if param.required else "optional"
            repeat = ", repeatable" if param.nargs == -1 else ""
            rows.append(f"| `{param.human_readable_name}` | argument, {required}{repeat} |")
        else:
            record = param.get_help_record(ctx)
            if record is not None:
                rows.append(f"| `{cell(record[0])}` | {cell(record[1])} |")
    return ["| Argument or option | Meaning |", "|---|---|", *rows] if rows else []


def command_section(command: click.Command, ctx: click.Context, level: int) -> list[str]:
    """A command's heading, usage, help and options; its sub-commands after it."""
    path = ctx.command_path
    usage = " ".join([path, *command.collect_usage_pieces(ctx)])
    lines = [f"{'#' * level} `{path}`", "", "```", usage, "```", "", help_text(command), ""]
    lines += [*options_table(command, ctx), ""]
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                child = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
                lines += command_section(sub, child, min(level + 1, 4))
    return lines


def render_reference(main: click.Command) -> str:
    """The whole reference page, from the live command tree."""
    # As the CLI makes them (`-h` beside `--help`), whatever ran first in this process.
    ctx = click.Context(main, info_name="reconciler", **main.context_settings)
    lines = [
        "# Command-line reference",
        "",
        f"<!-- Generated from the command tree by `{COMMAND}`; do not edit. -->",
        "",
        PREAMBLE,
        "## Exit codes",
        "",
        *exit_codes(),
        "",
        "## Commands",
        "",
        *command_section(main, ctx, 3),
    ]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    from reconciler.cli import main as cli

    description = (__doc__ or "").splitlines()[0]
    return refresh(description, TARGET, lambda: render_reference(cli), COMMAND, argv)


if __name__ == "__main__":
    sys.exit(main())
