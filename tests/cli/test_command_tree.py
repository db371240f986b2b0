"""The `smsrelay` command tree (every group, command, argument and option, with its defaults
and help) is a contract with operators and their scripts. The snapshot was taken from the CLI
before it became a package; a change to it must be deliberate: regenerate it with
`uv run python -m tests.cli.test_command_tree > tests/cli/command_tree.json` and say why."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("command_tree.json")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def _type(p: Any) -> str:
    # typer 0.29 keeps the annotation and builds the click type at parse time.
    descriptor = getattr(p, "type_descriptor", None)
    if descriptor is not None:
        annotation = descriptor.annotation
        return getattr(annotation, "__name__", None) if isinstance(annotation, type) else repr(annotation)
    return p.type.name


def _param(p: Any) -> dict[str, Any]:
    return {
        "kind": "argument" if p.param_type_name == "argument" else "option",
        "name": p.name, "opts": list(p.opts), "secondary_opts": list(p.secondary_opts), "type": _type(p),
        "min": getattr(p, "min", None), "max": getattr(p, "max", None),
        "required": p.required, "default": _jsonable(p.default), "multiple": p.multiple, "nargs": p.nargs,
        "help": getattr(p, "help", None), "hidden": getattr(p, "hidden", False), "envvar": p.envvar,
        "metavar": p.metavar, "is_flag": getattr(p, "is_flag", None), "count": getattr(p, "count", None),
        "show_default": getattr(p, "show_default", None), "is_eager": p.is_eager, "expose_value": p.expose_value,
    }


def _command(cmd: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "name": cmd.name, "help": cmd.help, "short_help": cmd.short_help, "epilog": cmd.epilog,
        "hidden": cmd.hidden, "deprecated": cmd.deprecated, "no_args_is_help": cmd.no_args_is_help,
        "add_help_option": cmd.add_help_option, "context_settings": _jsonable(cmd.context_settings),
        "params": [_param(p) for p in cmd.params],
    }
    commands = getattr(cmd, "commands", None)
    if commands is not None:
        node["invoke_without_command"] = cmd.invoke_without_command
        # In listing order: `smsrelay --help` shows them so.
        node["commands"] = [_command(commands[name]) for name in cmd.list_commands(None)]
    return node


def command_tree() -> dict[str, Any]:
    import typer

    from smsrelay.cli import app

    return _command(typer.main.get_command(app))


def test_command_tree_matches_the_snapshot():
    assert command_tree() == json.loads(SNAPSHOT.read_text())


def test_the_entry_points_reach_the_same_app():
    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = scripts["smsrelay"].partition(":")
    entry = getattr(__import__(module, fromlist=[attr]), attr)
    from smsrelay.cli import main

    assert entry is main


if __name__ == "__main__":
    json.dump(command_tree(), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
