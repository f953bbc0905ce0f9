"""Writing outputs safely: refuse early, write to a temporary sibling, rename into place.

Shared by every command (bundles, builds, sweeps, search results, caches). Outputs
follow the umask like any file the user creates (``tempfile`` makes its files 0600 and
its folders 0700: the mode is set before the rename), a write that fails (disk full, a
folder that vanished) is one `UserError` line, and a failed or refused write removes
its temporary and the parent folders it created.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from common.cli import UserError

# Errors that mean "the disk cannot take this output", wherever they are raised.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def current_umask() -> int:
    """The process's umask (``Umask:`` of /proc/self/status, else set and restored)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(directory: bool) -> int:
    """The mode ``open``/``mkdir`` would give a new file or folder under the umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def check_output(path, force: bool, *, directory: bool = True) -> Path:
    """Refuse, before any long work, an output that exists (unless ``force``), is a device
    or other special file, or cannot be created: a probe file is made (and removed) in
    the path's nearest existing ancestor, which catches read-only and virtual file
    systems (``/proc``) that permission bits do not show, for root too.

    Outputs are then written to a temporary sibling and renamed into place, so this
    check plus the rename is what keeps a refused or interrupted run from writing.
    """
    path = Path(path)
    if path.exists():
        if directory and not path.is_dir():
            raise UserError(f"{path} exists and is not a directory")
        if not directory and path.is_dir():
            raise UserError(f"{path} is a directory, expected a file name")
        if not directory and not path.is_file():
            raise UserError(f"{path} is a device or special file, not a regular file")
        if not force:
            raise UserError(f"{path} exists (pass --force to replace it)")
    parent = path.absolute().parent
    while not parent.exists() and not parent.is_symlink():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot write to {path.parent}: Not a directory")
    _probe(parent)
    return path


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder``; a `UserError` naming it if that fails."""
    try:
        fd, name = tempfile.mkstemp(prefix=".qsnas-probe-", dir=folder)
    except OSError as e:
        reason = e.strerror
        if e.errno == errno.ENOENT:  # an existing folder that refuses new names: /proc
            reason = "new files cannot be created there"
        raise UserError(f"cannot write to {folder}: {reason}") from None
    os.close(fd)
    os.unlink(name)


def _make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; the folders it created, deepest first."""
    created = []
    folder = Path(folder).absolute()
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    for f in reversed(created):
        with contextlib.suppress(FileExistsError):
            f.mkdir()
    return created


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) as far as they are empty."""
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            return


def _write_error(path: Path, e: OSError, tmp: Path | None = None) -> UserError | None:
    """The one-line error for ``e`` if it is a failure to write ``path`` (a storage error,
    or one raised on the temporary ``tmp`` or its contents), else None."""
    inside = tmp is not None and e.filename is not None and (
        Path(os.fsdecode(e.filename)).absolute().is_relative_to(tmp.absolute()))
    if e.errno in _STORAGE_ERRNOS or inside or tmp is None:
        return UserError(f"cannot write {path}: {e.strerror or e}")
    return None


def write_bytes_atomic(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and a rename, with the mode
    the umask gives; missing parent folders are created (and removed again on failure)."""
    path = Path(path)
    created = []
    tmp = None
    try:
        created = _make_parents(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), default_mode(False))
            fh.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        _remove_empty(created)
        if isinstance(e, OSError):
            raise _write_error(path, e) from None
        raise


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` like `write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode())


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
    the ``with`` body succeeds, removed when it raises or is interrupted, together with
    the parent folders it created.

    The folder gets the mode the umask gives. A storage error (disk full, read-only) or
    any `OSError` on the temporary's contents (its folder vanished) becomes a one-line
    `UserError` ``cannot write PATH: …``.
    """
    path = Path(path)
    created: list[Path] = []
    tmp = None
    try:
        created = _make_parents(path.absolute().parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.absolute().parent))
        os.chmod(tmp, default_mode(True))
        yield tmp
        replace_dir(tmp, path)
    except BaseException as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        if isinstance(e, OSError) and (error := _write_error(path, e, tmp)) is not None:
            raise error from None
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


NUMBERED = re.compile(r"^(.*?)(\d+)(\.[^/]*)$")  # weights_pe12.mem → (weights_pe, 12, .mem)


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def numbered_series(names: Iterable[str]) -> list[tuple[str, list[str]]]:
    """``(label, members)`` of file names, sorted as a reader counts (pe10 after pe9): a
    run of names numbered one after another before the extension (a file per PE) as one
    label, ``mem/weights_pe{0..23}.mem``; every other name alone."""
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    entries: list[tuple[str, list[str]]] = []
    for name in names:
        match = NUMBERED.match(name)
        if match:
            groups.setdefault((match[1], match[3]), []).append((int(match[2]), name))
        else:
            entries.append((name, [name]))
    for (head, tail), members in groups.items():
        members.sort()
        numbers = [n for n, _ in members]
        if len(members) > 1 and numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            entries.append((f"{head}{{{numbers[0]}..{numbers[-1]}}}{tail}",
                            [name for _, name in members]))
        else:
            entries += [(name, [name]) for _, name in members]
    return sorted(entries, key=lambda e: _natural(e[0]))
