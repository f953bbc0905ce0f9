"""common.files: outputs follow the umask, stay atomic, and fail in one line.

The command-level cells (every command × device path, disk full, new parent folders)
are in tests/test_cli_matrix.py; these pin the helpers themselves.
"""

import contextlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from common.cli import UserError
from common.files import (
    atomic_directory,
    check_output,
    current_umask,
    write_bytes_atomic,
    write_text_atomic,
)


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755),
                                                     (0o077, 0o600, 0o700),
                                                     (0o002, 0o664, 0o775)])
def test_outputs_follow_the_umask(tmp_path, mask, file_mode, dir_mode):
    with umask(mask):
        assert current_umask() == mask
        write_text_atomic(tmp_path / "new" / "rows.csv", "q,s\n")
        with atomic_directory(tmp_path / "bundle") as tmp:
            (tmp / "manifest.json").write_text("{}\n")
    assert mode(tmp_path / "new" / "rows.csv") == file_mode
    assert mode(tmp_path / "new") == dir_mode
    assert mode(tmp_path / "bundle") == dir_mode
    assert mode(tmp_path / "bundle" / "manifest.json") == file_mode


def test_a_failed_directory_leaves_no_parent_folders(tmp_path):
    with pytest.raises(ValueError), atomic_directory(tmp_path / "new" / "deeper" / "b"):
        raise ValueError("refused inside the body")
    assert os.listdir(tmp_path) == []


def test_a_failed_directory_keeps_parents_that_were_there(tmp_path):
    (tmp_path / "old").mkdir()
    with pytest.raises(KeyboardInterrupt), atomic_directory(tmp_path / "old" / "new" / "b"):
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["old"] and os.listdir(tmp_path / "old") == []


def test_a_folder_that_vanishes_during_the_work_is_one_line(tmp_path):
    out = tmp_path / "runs" / "bundle"
    with pytest.raises(UserError, match=r"^cannot write .*bundle: No such file or directory$"):
        with atomic_directory(out) as tmp:
            shutil.rmtree(tmp_path / "runs")
            (tmp / "arrays.npz").write_bytes(b"x")
    assert os.listdir(tmp_path) == []


def test_errors_of_other_files_are_not_taken_for_write_errors(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_directory(tmp_path / "b"):
        (tmp_path / "missing-input.txt").read_text()


def test_a_full_disk_is_one_line_and_leaves_no_temporary(tmp_path):
    # /dev/full answers every write with ENOSPC; a symlink to it stands in for a full disk
    # behind the temporary file's name.
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    import tempfile

    real = tempfile.mkstemp

    def full_mkstemp(prefix="", dir=None):
        fd, name = real(prefix=prefix, dir=dir)
        os.close(fd)
        os.unlink(name)
        os.symlink("/dev/full", name)
        return os.open(name, os.O_WRONLY), name

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "mkstemp", full_mkstemp)
        with pytest.raises(UserError, match="No space left on device"):
            write_bytes_atomic(tmp_path / "rows.csv", b"q,s\n" * 1000)
    assert os.listdir(tmp_path) == []


def test_check_output_refuses_what_cannot_be_created(tmp_path):
    if Path("/proc/self").is_dir():
        with pytest.raises(UserError, match=r"^cannot write to /proc: new files cannot be "):
            check_output("/proc/x.csv", False, directory=False)
    with pytest.raises(UserError, match="is a device or special file"):
        check_output("/dev/null", True, directory=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="Not a directory"):
        check_output(tmp_path / "file" / "out", False)
    assert check_output(tmp_path / "a" / "b" / "c.csv", False, directory=False)
    assert os.listdir(tmp_path) == ["file"], "the check creates nothing"
