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
    (["train", "--q", "2", "--s", "0", "--out", "o"], "s: a width scale is a number in (0, 16]"),
    (["train", "--q", "2", "--s", "nan", "--out", "o"],
     "s: a width scale is a number in (0, 16], not nan"),
    (["train", "--q", "2", "--s", "1,0.5", "--out", "o"],
     "vgg takes one width scale, or one per stage (3), not 2"),
    (["train", "--q", "2", "--s", "1,0.5,0", "--out", "o"],
     "s: a width scale is a number in (0, 16], not 0.0"),
    (["train", "--q", "2", "--s", "1,x", "--out", "o"],
     "argument --s: a width scale is S or S1,S2,… (one per stage), not '1,x'"),
    (["train", "--q", "2", "--s", "1"], "the following arguments are required: --out"),
    (["train", "--q", "2", "--s", "1", "--arch", "resnet", "--out", "o"],
     "argument --arch: invalid choice: 'resnet'"),
    (["train", "--q", "2", "--s", "1", "--dataset", "imagenet", "--out", "o"],
     "argument --dataset: must be one of mnist5k, digits, cifar10, svhn or a .npz file of "
     "your own, not 'imagenet'"),
    (["train", "--q", "2", "--s", "1", "--epochs", "-1", "--out", "o"],
     "--epochs must be a non-negative integer, not -1"),
    (["train", "--q", "2", "--s", "1", "--val", "-10", "--out", "o"],
     "--val must be a non-negative integer, not -10"),
    (["fly"], "argument COMMAND: invalid choice: 'fly'"),
    (["train", "--s", "1", "--out", "o"], "give the widths one way: --q Q, --bits WIDTHS or"),
    (["train", "--q", "2", "--bits", "2,2,2,2", "--s", "1", "--out", "o"],
     "(not --q and --bits)"),
    (["train", "--bits", "8,4,2", "--s", "1", "--out", "o"],
     "bits needs one width per weighted layer of vgg on mnist5k: 4 (conv1, conv2, conv3, fc)"),
    (["train", "--bits", "8,4,2,9", "--s", "1", "--out", "o"],
     "bits must be integer widths in 1..8, not 9"),
    (["train", "--bits", "eight", "--s", "1", "--out", "o"],
     "--bits must be widths like 8,4,2,4 or 8,2:4,1:4,2 or a file, not 'eight' (no such file)"),
    (["train", "--learn-bits", "--s", "1", "--out", "o"],
     "--learn-bits needs one budget: --target-energy-uj E or --target-weight-kb K"),
    (["train", "--q", "4", "--target-weight-kb", "3", "--s", "1", "--out", "o"],
     "--target-energy-uj, --target-weight-kb, --board and --learn-epochs go with --learn-bits"),
    (["train", "--learn-bits", "--target-weight-kb", "-1", "--s", "1", "--out", "o"],
     "the budget must be a positive number, not -1.0"),
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
    for opt in ("--arch", "--q", "--s", "--dataset", "--data-dir", "--epochs", "--seed", "--val",
                "--out"):
        assert opt in res.stdout


def test_bits_from_a_file_or_a_search_json(tmp_path, capsys):
    import json

    from model.__main__ import parse_bits

    (tmp_path / "list.json").write_text("[8, 4, 2, 4]")
    (tmp_path / "text").write_text("8,4,2,4\n")
    (tmp_path / "search.json").write_text(json.dumps({"chosen": {"bits": [8, 4, 2, 4]}}))
    for name in ("list.json", "text", "search.json"):
        assert parse_bits(str(tmp_path / name)) == (8, 4, 2, 4)
    assert parse_bits("8,4,2,4") == (8, 4, 2, 4)
    assert parse_bits("8,2:4,1:4,2") == (8, (2, 4), (1, 4), 2)
    (tmp_path / "pairs.json").write_text("[8, [2, 4], [1, 4], 2]")
    assert parse_bits(str(tmp_path / "pairs.json")) == (8, (2, 4), (1, 4), 2)
    for text in ("8,2:x,1,2", "8,a"):
        argv = ["train", "--bits", text, "--s", "1", "--out", "o"]
        assert run_cli(main, argv, prog="model") == 2
        assert "--bits must be widths like 8,4,2,4 or 8,2:4,1:4,2" in capsys.readouterr().err
    argv = ["train", "--bits", "8,2:4,1:4,2:3", "--s", "1", "--out", "o"]
    assert run_cli(main, argv, prog="model") == 2
    assert "the last layer (fc) writes int32 logits" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text(json.dumps({"chosen": {"q": 4}}))
    argv = ["train", "--bits", str(tmp_path / "bad.json"), "--s", "1", "--out", "o"]
    assert run_cli(main, argv, prog="model") == 2
    assert "holds no list of widths" in capsys.readouterr().err


def test_a_mixed_run_prints_its_layer_widths(tmp_path, monkeypatch):
    monkeypatch.setenv("QSNAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bundle"
    done = subprocess.run([sys.executable, "-m", "model", "train", "--bits", "8,2,3,4", "--s",
                           "0.5", "--dataset", "digits", "--epochs", "1", "--float-epochs",
                           "1", "--quiet", "--out", str(out)],
                          capture_output=True, text=True, check=True)
    assert "vgg bits=8,2,3,4 s=0.5" in done.stdout
    assert "layer widths         conv1 8, conv2 2, conv3 3, fc 4" in done.stdout
    net = load_bundle(out)
    assert [lay.w_bits for lay in net.layers if lay.w_bits] == [8, 2, 3, 4] and net.q == 8


def test_a_run_with_narrower_weights_than_activations(tmp_path, monkeypatch):
    monkeypatch.setenv("QSNAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bundle"
    done = subprocess.run([sys.executable, "-m", "model", "train", "--bits", "4,2:5,1:3,2",
                           "--s", "0.5", "--dataset", "digits", "--epochs", "1",
                           "--float-epochs", "1", "--quiet", "--out", str(out)],
                          capture_output=True, text=True, check=True)
    assert "vgg bits=4,2:5,1:3,2 s=0.5" in done.stdout
    assert "layer widths         conv1 4, conv2 2:5, conv3 1:3, fc 2" in done.stdout
    net = load_bundle(out)
    assert [(lay.w_bits, lay.in_bits, lay.out_bits) for lay in net.layers if lay.w_bits] == [
        (4, 8, 4), (2, 4, 5), (1, 5, 3), (2, 3, 32)]
    assert net.q == 5  # the widest width: the lanes must hold the 5-bit activations


def test_learn_bits_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("QSNAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bundle"
    done = subprocess.run([sys.executable, "-m", "model", "train", "--learn-bits",
                           "--target-energy-uj", "0.33", "--learn-epochs", "1", "--s", "0.25",
                           "--dataset", "digits", "--epochs", "1", "--float-epochs", "1",
                           "--quiet", "--out", str(out)],
                          capture_output=True, text=True, check=True)
    learned = [line for line in done.stdout.splitlines()
               if line.startswith("learned widths")]
    assert len(learned) == 1 and "meets the budget 0.33 µJ" in learned[0]
    assert load_bundle(out).q <= 8


def test_a_run_with_a_validation_split_prints_its_accuracy(tmp_path, monkeypatch):
    monkeypatch.setenv("QSNAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bundle"
    cmd = [sys.executable, "-m", "model", "train", "--q", "2", "--s", "0.25", "--dataset",
           "digits", "--epochs", "1", "--float-epochs", "1", "--quiet", "--val", "397",
           "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("validation accuracy"))
    net = load_bundle(out)
    assert f"{100 * net.meta['metrics']['val_acc']:6.2f}%" in line
    assert "the last 397 training images, held out" in line
    assert net.meta["config"]["val"] == 397 and net.meta["metrics"]["val_images"] == 397
    too_many = subprocess.run(cmd[:-4] + ["--val", "1397", "--out", str(tmp_path / "b2")],
                              capture_output=True, text=True)
    assert too_many.returncode == 2
    assert too_many.stderr.startswith("model: error: val must be an integer in [0, 1397)")
    assert too_many.stderr.count("\n") == 1
