"""Shared command-line plumbing: one clear line and a non-zero exit for bad input."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2, no traceback."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (a `UserError`), not usage plus a message."""

    def error(self, message: str):
        raise UserError(message)


def command_parser(prog: str, description: str) -> tuple[OneLineParser, object]:
    """``(parser, subparsers)``: a `OneLineParser` whose first argument is a required
    ``COMMAND``; add each command with ``subparsers.add_parser`` (one-line errors too)."""
    parser = OneLineParser(prog=prog, description=description)
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
        print(f"{prog}: interrupted; no partial output was left", file=sys.stderr)
        return 130


def parse_int_list(text: str, name: str) -> list[int]:
    """``"1,2,4"`` → ``[1, 2, 4]`` with a clear error naming the option."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(
            f"{name} must be a comma-separated list of integers, not {text!r}") from None


def parse_float_list(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{name} must be a comma-separated list of numbers, not {text!r}") from None


def check_q(q: int) -> int:
    if not isinstance(q, int) or not 1 <= q <= 8:
        raise UserError(f"q must be an integer bit width in 1..8, not {q!r}")
    return q


def check_s(s: float) -> float:
    if not (s > 0 and s <= 16):
        raise UserError(f"s must be a width scale in (0, 16], not {s!r}")
    return s


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
