"""``python -m codegen build`` refuses bad input with one line and exit status 2."""

import os
import subprocess
import sys

import pytest


def run(args, cwd):
    env = dict(os.environ)
    env.pop("QSNAS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "codegen", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


BAD = {
    "q zero": (["--q", "0", "--s", "1"], "q must be an integer bit width in 1..8, not 0"),
    "q nine": (["--q", "9", "--s", "1"], "q must be an integer bit width in 1..8, not 9"),
    "q negative": (["--q", "-1", "--s", "1"], "q must be an integer bit width in 1..8, not -1"),
    "q text": (["--q", "x", "--s", "1"], "argument --q: invalid int value: 'x'"),
    "s zero": (["--q", "2", "--s", "0"], "s: a width scale is a number in (0, 16], not 0.0"),
    "s negative": (["--q", "2", "--s", "-1"], "s: a width scale is a number in (0, 16], not -1.0"),
    "s absurd": (["--q", "2", "--s", "1000"],
                 "s: a width scale is a number in (0, 16], not 1000.0"),
    "s stages": (["--q", "2", "--s", "1,1,1,1", "--arch", "vgg"],
                 "vgg takes one width scale, or one per stage (3), not 4"),
    "pe zero": (["--q", "2", "--s", "1", "--pe", "0"], "--pe must be a positive integer, not 0"),
    "mult negative": (["--q", "2", "--s", "1", "--mult", "-3"],
                      "--mult must be a positive integer, not -3"),
    "images zero": (["--q", "2", "--s", "1", "--images", "0"],
                    "--images must be a positive integer, not 0"),
    "unknown arch": (["--q", "2", "--s", "1", "--arch", "resnet"],
                     "argument --arch: invalid choice: 'resnet'"),
    "unknown dataset": (["--q", "2", "--s", "1", "--dataset", "imagenet"],
                        ("argument --dataset: must be one of mnist5k, digits, cifar10, "
                         "svhn or a .npz file of your own, not 'imagenet'")),
    "unknown board": (["--q", "2", "--s", "1", "--board", "de0"],
                      "board must be one of arty_a7_35, arty_a7_100"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line(tmp_path, case):
    args, message = BAD[case]
    done = run(["build", *args, "--out", str(tmp_path / "out")], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("codegen: error: ")
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_existing_output_is_refused_without_force(tmp_path):
    (tmp_path / "out").mkdir()
    done = run(["build", "--q", "2", "--s", "1", "--out", str(tmp_path / "out")], tmp_path)
    assert done.returncode == 2
    assert "exists (pass --force to replace it)" in done.stderr


def test_unwritable_output_is_refused(tmp_path):
    # A path below a regular file cannot be created, even by root.
    (tmp_path / "file").write_text("")
    done = run(["build", "--q", "2", "--s", "1", "--out", str(tmp_path / "file" / "out")],
               tmp_path)
    assert done.returncode == 2, done.stderr
    assert "cannot write" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_help_lists_every_option(tmp_path):
    done = run(["build", "--help"], tmp_path)
    assert done.returncode == 0
    for option in ("--q", "--s", "--arch", "--dataset", "--data-dir", "--board", "--pe",
                   "--mult", "--images", "--out", "--force"):
        assert option in done.stdout


@pytest.mark.parametrize("clock_mhz", [None, 50.0])
def test_the_array_is_chosen_for_the_clock_it_will_run_at(tmp_path, clock_mhz):
    """The design step prices (P, M) at --clock-mhz, else at the board's design clock
    (the ULX3S: the PLL clock ECP5 designs close at, not its 25 MHz oscillator)."""
    from boards import get_board
    from codegen.build import BuildConfig, BuildState, step_design
    from intnet.arch import network_specs, with_widths
    from search.design import best_design

    cfg = BuildConfig(q=2, s=1.5, board="ulx3s_85f", clock_mhz=clock_mhz)
    state = BuildState(root=tmp_path)
    step_design(state, cfg)
    clock = clock_mhz or get_board("ulx3s_85f").design_clock_mhz
    assert state.estimate["clock_mhz"] == clock
    specs = with_widths(network_specs("vgg", 1.5, (28, 28, 1), 10), 2)
    row = best_design(specs, 2, "ulx3s_85f", clock_mhz=clock)
    assert (state.pe, state.mult) == (row["pe"], row["mult"])
