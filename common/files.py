"""Writing outputs safely: refuse early, write to a temporary sibling, rename into place.

Shared by every command (bundles, builds, sweeps, search results, caches).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common.cli import UserError


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


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to fill; renamed onto ``path`` (replacing it) when
    the ``with`` body succeeds, removed when it raises or is interrupted."""
    path = Path(path)
    path.absolute().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.absolute().parent))
    try:
        yield tmp
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(src: Path, dst: Path) -> None:
    """Move directory ``src`` to ``dst``, replacing ``dst`` if it exists."""
    if dst.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old.", dir=dst.parent))
        os.replace(dst, old / "x")
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)
