"""Shared command-line plumbing: one clear line and a non-zero exit for bad input."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2, no traceback."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (a `UserError`), not usage plus a message, and
    which takes options only by their whole name (``--mul 8`` is not ``--mult 8``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UserError(message)

    def format_help(self) -> str:
        # Descriptions come from docstrings: no reST literal markup on the terminal.
        return super().format_help().replace("``", "")


class CommandParser(OneLineParser):
    """A `OneLineParser` whose first argument is a ``COMMAND``: options given without one
    are refused with the command line that was probably meant."""

    def parse_known_args(self, args=None, namespace=None):
        import sys

        argv = list(sys.argv[1:] if args is None else args)
        if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
            names = list(self._subparsers._group_actions[0].choices)
            shown = names[0] if len(names) == 1 else "COMMAND"
            which = "" if len(names) == 1 else f" (one of {', '.join(names)})"
            raise UserError(f"the command is missing{which}: {self.prog} {shown} "
                            f"{' '.join(argv)}")
        return super().parse_known_args(args, namespace)


def command_parser(prog: str, description: str) -> tuple[OneLineParser, object]:
    """``(parser, subparsers)``: a `CommandParser` whose first argument is a required
    ``COMMAND``; add each command with ``subparsers.add_parser`` (one-line errors too)."""
    parser = CommandParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=OneLineParser)
    return parser, sub


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None,
            prog: str = "qsnas") -> int:
    """Run ``main(argv)``; turn `UserError`, bundle errors and Ctrl-C into one-line exits.

    Set ``QSNAS_DEBUG=1`` to get the traceback instead.
    """
    from intnet.bundle import BundleError

    try:
        return int(main(argv) or 0)
    except (UserError, BundleError) as e:
        if os.environ.get("QSNAS_DEBUG"):
            raise
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _quiet_unfinished_hardware()
        print(f"{prog}: interrupted; no partial output was left", file=sys.stderr)
        return 130


def _quiet_unfinished_hardware() -> None:
    """An interrupted elaboration leaves Amaranth objects that were never used, and
    Amaranth warns about each when it is collected, after the one-line message: those
    warnings say nothing after an interrupt."""
    if "amaranth" in sys.modules:
        import warnings

        from amaranth._unused import UnusedMustUse

        warnings.simplefilter("ignore", UnusedMustUse)


def parse_int_list(text: str, name: str) -> list[int]:
    """``"1,2,4"`` → ``[1, 2, 4]`` with a clear error naming the option (an empty item,
    as in ``"2,,"``, is an error too)."""
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise UserError(
            f"{name} must be a comma-separated list of integers, not {text!r}") from None


def parse_float_list(text: str, name: str) -> list[float]:
    """``"0.5,1"`` → ``[0.5, 1.0]``, like `parse_int_list`."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"{name} must be a comma-separated list of numbers, not {text!r}") from None


def check_q(q: int) -> int:
    if not isinstance(q, int) or not 1 <= q <= 8:
        raise UserError(f"q must be an integer bit width in 1..8, not {q!r}")
    return q


def check_s(s, arch: str | None = None):
    """``s`` (a number, or one per stage: `intnet.arch.stage_scales`) if every scale is one
    `intnet.arch.normal_scale` takes and, given ``arch``, a per-stage ``s`` names each of
    its stages; else a `UserError` (``s: a width scale is a number in (0, 16], not 0.0``)."""
    from intnet.arch import normal_scale, stage_scales

    try:
        normal_scale(s) if arch is None else stage_scales(arch, s)
    except ValueError as e:
        raise UserError(f"s: {e}") from None
    return s


def scale_arg(text: str):
    """argparse type of ``--s``: ``0.5`` → 0.5, or one scale per stage ``0.625,0.5,0.75`` →
    a tuple (`check_s` checks the range and the stage count)."""
    try:
        values = tuple(float(item) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a width scale is S or S1,S2,… (one per stage), "
                                         f"not {text!r}") from None
    return values[0] if len(values) == 1 else values


def check_choice(value, choices, name: str):
    """``value`` if it is one of ``choices``, else a `UserError` that lists them:
    ``"arch must be one of vgg, mobilenet, not 'resnet'"``."""
    if value not in choices:
        raise UserError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def check_positive(value: int, name: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise UserError(f"{name} must be a positive integer, not {value!r}")
    return value
