"""Help pages as people read them: docstrings to plain help text, and plain metavars.

The commands' docstrings are written for the API docs (Markdown fences, RST double
backticks, Google sections). `help_text` turns one into what ``--help`` prints: the
prose with the markup removed, and the ``Example:`` block as indented command lines
that the help formatter does not rewrap. `HelpGroup`, the class of the root command,
applies it to every command of the tree once it is built, and gives every option a
metavar named after its type (``--label TEXT``, ``--limit INTEGER``,
``--conflict [skip|error|new|replace]``) and every argument its bare name
in capitals (``REF``, ``USER``; not ``REF <str>`` or ``user``). Plain click formatting
keeps ``--help`` free of a rich import.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typer import TyperException
from typer.core import TyperArgument, TyperGroup, TyperOption

_FENCE = re.compile(r"^\s*```")
_SECTION = re.compile(r"^(Args|Arguments|Returns|Raises|Yields|Example|Examples|Note|Notes):\s*$")
_BACKTICKS = re.compile(r"``?([^`]+)``?")
#: click's marker: the paragraph that follows is printed as written, not rewrapped.
NO_REWRAP = "\b"


def plain(text: str) -> str:
    """Text without inline markup: ``code`` and `code` lose their backticks.

    Example:
        ```python
        plain("run ``gc`` after `rm`")  # "run gc after rm"
        ```
    """
    return _BACKTICKS.sub(r"\1", text)


def _sections(lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(section name, its lines): "" for the prose before the first Google-style section."""
    name, body = "", list[str]()
    for line in lines:
        match = _SECTION.match(line)
        if match:
            yield name, body
            name, body = match.group(1), []
        else:
            body.append(line)
    yield name, body


def help_text(doc: str | None) -> str:
    """The ``--help`` text of a docstring: its prose, then its examples as they are typed.

    Args/Returns/Raises sections are left out; fences and inline backticks are removed.

    Example:
        ```python
        print(help_text(inspect.getdoc(push)))  # prose, then "Examples:" and indented command lines
        ```
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    parts: list[str] = []
    for name, body in _sections(lines):
        if name == "":
            prose = "\n".join(body).strip()
            if prose:
                parts.append(plain(prose))
        elif name in ("Example", "Examples"):
            examples = [line.strip() for line in body
                        if line.strip() and line.strip() != NO_REWRAP and not _FENCE.match(line)]
            if examples:
                parts.append("Examples:\n\n" + NO_REWRAP + "\n" + "\n".join(f"  {line}" for line in examples))
    return "\n\n".join(parts)


class PlainArgument(TyperArgument):
    """An argument shown by its name alone: ``REF`` in the usage line and in the list.

    Example:
        ```python
        param.__class__ = PlainArgument
        ```
    """

    def display_type_rich(self, ctx: Any) -> str | None:
        """No ``<str>`` after the name (the name says what it is)."""
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


def option_metavar(option: TyperOption) -> str:
    """The metavar of an option that takes a value, from its type: TEXT, INTEGER, FLOAT, PATH, [a|b].

    Example:
        ```python
        option_metavar(label_option)  # "TEXT"
        ```
    """
    desc = option.type_descriptor
    if desc.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices or ()) + "]"
    if desc.is_path:
        return "PATH"
    annotation = desc.annotation
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    base = args[0] if args else annotation
    return {int: "INTEGER", float: "FLOAT", Path: "PATH"}.get(base, "TEXT")


def tidy_command(command: Any) -> None:
    """Plain help text and metavars for one command, and for the commands under it.

    Example:
        ```python
        tidy_command(typer.main.get_command(app))
        ```
    """
    if command.help:
        command.help = help_text(command.help)
    for param in command.params:
        if isinstance(param, TyperArgument) and not isinstance(param, PlainArgument):
            param.__class__ = PlainArgument
            param.metavar = param.metavar or (param.name or "value").upper()
        elif isinstance(param, TyperOption) and param.metavar is None and not (param.is_flag or param.count):
            param.metavar = option_metavar(param)
    for sub in getattr(command, "commands", {}).values():
        tidy_command(sub)


class HelpGroup(TyperGroup):
    """The root command: tidies the help of the whole command tree once typer has built it.

    It also gives click's own usage errors (an unknown option, a value of the wrong type,
    a missing argument: exit 2) the ``--json`` error document the commands print.

    Example:
        ```python
        app = typer.Typer(cls=HelpGroup)
        ```
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        tidy_command(self)

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a usage error found while parsing it prints the ``--json`` document first."""
        try:
            return super().invoke(ctx)
        except TyperException as exc:
            from prefect_artifacts._cli.state import CliFailure, CliState

            code = getattr(exc, "exit_code", 2)
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            if isinstance(ctx.obj, CliState) and ctx.obj.json:  # click prints its own message on stderr
                CliFailure(message, code, type(exc).__name__).report(json_output=True, stderr=False)
            raise

