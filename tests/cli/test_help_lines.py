"""Every command and option explains itself in `--help`, and says its default where it has one."""

from __future__ import annotations

import argparse

from mlharness.cli import build_parser


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return actions[0]


def help_problems(parser: argparse.ArgumentParser) -> list[str]:
    """Commands without a help line, arguments without help, defaults the help does not state."""
    problems = [
        f"mlharness {'/'.join(a.option_strings)}: no help"
        for a in parser._actions
        if not a.help and not isinstance(a, argparse._SubParsersAction)
    ]
    commands = _subparsers(parser)
    helped = {choice.dest for choice in commands._choices_actions if choice.help}
    for name, command in commands.choices.items():
        if name not in helped:
            problems.append(f"{name}: no help line")
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                problems.append(f"{where}: no help")
                continue
            states_default = action.default not in (None, False, [], argparse.SUPPRESS) and not action.required
            if states_default and "default" not in action.help:
                problems.append(f"{where}: default {action.default!r} not in its help")
    return problems


def test_every_command_and_option_has_help_with_its_default() -> None:
    assert help_problems(build_parser()) == []


def test_a_missing_help_line_or_unstated_default_is_reported() -> None:
    parser = build_parser()
    command = _subparsers(parser).add_parser("extra")
    command.add_argument("--depth", type=int, default=3, help="how deep to go")
    command.add_argument("--quiet", action="store_true")
    assert help_problems(parser) == [
        "extra: no help line",
        "extra --depth: default 3 not in its help",
        "extra --quiet: no help",
    ]
