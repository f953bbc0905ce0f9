"""Shared command-line plumbing: one clear line and a non-zero exit for bad input."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2, no traceback."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (a `UserError`), not usage plus a message."""

    def error(self, message: str):
        raise UserError(message)


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None,
            prog: str = "qsnas") -> int:
    """Run ``main(argv)``; turn `UserError`, bundle errors and Ctrl-C into one-line exits.

    Set ``QSNAS_DEBUG=1`` to get the traceback instead.
    """
    from model.bundle import BundleError

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


def check_positive(value: int, name: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise UserError(f"{name} must be a positive integer, not {value!r}")
    return value


def check_output(path, force: bool, *, directory: bool = True) -> Path:
    """Refuse, before any long work, an output that exists (unless ``force``) or cannot be
    written: the path's nearest existing ancestor must be a writable directory.

    Outputs are then written to a temporary sibling and renamed into place, so this
    check plus the rename is what keeps a refused or interrupted run from writing.
    """
    path = Path(path)
    if path.exists():
        if directory and not path.is_dir():
            raise UserError(f"{path} exists and is not a directory")
        if not directory and path.is_dir():
            raise UserError(f"{path} is a directory, expected a file name")
        if not force:
            raise UserError(f"{path} exists (pass --force to replace it)")
    parent = path.absolute().parent
    while not parent.exists() and not parent.is_symlink():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot write to {path.parent}: Not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {path.parent}: Permission denied")
    return path


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling and a rename."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def temporary_environ(**values: str) -> Iterator[None]:
    """Set environment variables for the ``with`` body, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
