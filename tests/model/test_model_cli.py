"""``python -m model train``: bad input is one line and exit 2; a run prints its accuracies."""

import subprocess
import sys

import pytest

from common.cli import run_cli
from intnet.bundle import load_bundle
from model.__main__ import main

BASE = ["train", "--arch", "vgg", "--q", "4", "--s", "1", "--out"]


@pytest.mark.parametrize("argv,message", [
    (["train", "--q", "9", "--s", "1", "--out", "o"],
     "q must be an integer bit width in 1..8, not 9"),
    (["train", "--q", "0", "--s", "1", "--out", "o"], "q must be an integer bit width in 1..8"),
    (["train", "--q", "x", "--s", "1", "--out", "o"], "argument --q: invalid int value: 'x'"),
    (["train", "--q", "2", "--s", "0", "--out", "o"], "s must be a width scale in (0, 16]"),
    (["train", "--q", "2", "--s", "nan", "--out", "o"], "s must be a width scale"),
    (["train", "--q", "2", "--s", "1"], "the following arguments are required: --out"),
    (["train", "--q", "2", "--s", "1", "--arch", "resnet", "--out", "o"],
     "argument --arch: invalid choice: 'resnet'"),
    (["train", "--q", "2", "--s", "1", "--dataset", "imagenet", "--out", "o"],
     "argument --dataset: invalid choice: 'imagenet'"),
    (["train", "--q", "2", "--s", "1", "--epochs", "-1", "--out", "o"],
     "--epochs must be a non-negative integer, not -1"),
    (["fly"], "argument COMMAND: invalid choice: 'fly'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert run_cli(main, argv, prog="model") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("model: error: "), err
    assert message in err


def test_missing_data_dir_is_one_line(tmp_path, capsys):
    argv = ["train", "--q", "2", "--s", "1", "--dataset", "cifar10", "--data-dir",
            str(tmp_path / "none"), "--out", str(tmp_path / "o")]
    assert run_cli(main, argv, prog="model") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data_batch_1" in err and "test_batch" in err


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert run_cli(main, BASE + [str(tmp_path / "f"), "--force"], prog="model") == 2
    assert "is not a directory" in capsys.readouterr().err


def test_a_run_writes_the_bundle_and_prints_three_accuracies(tmp_path, monkeypatch):
    monkeypatch.setenv("QSNAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bundle"
    cmd = [sys.executable, "-m", "model", "train", "--arch", "vgg", "--q", "2", "--s", "0.5",
           "--dataset", "digits", "--epochs", "1", "--float-epochs", "1", "--quiet",
           "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    for line in ("float accuracy", "fake-quant accuracy", "integer accuracy",
                 "class agreement"):
        assert line in first.stdout
    assert load_bundle(out).q == 2
    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 2
    assert refused.stderr == f"model: error: {out} exists (pass --force to replace it)\n"
    again = subprocess.run(cmd + ["--force"], capture_output=True, text=True, check=True)
    assert "cached run" in again.stdout
    assert again.stdout.splitlines()[1:] == first.stdout.splitlines()[1:]


def test_bad_input_from_the_shell_has_no_traceback():
    res = subprocess.run([sys.executable, "-m", "model", "train", "--q", "12", "--s", "1",
                          "--out", "o"], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr == "model: error: q must be an integer bit width in 1..8, not 12\n"


def test_help_lists_the_options():
    res = subprocess.run([sys.executable, "-m", "model", "train", "--help"],
                         capture_output=True, text=True, check=True)
    for opt in ("--arch", "--q", "--s", "--dataset", "--data-dir", "--epochs", "--seed",
                "--out"):
        assert opt in res.stdout
