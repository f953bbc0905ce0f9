"""``codegen build --dataset FILE.npz``: a user's own data set (8×8 images, five classes)
trained, built and run in the RTL on the file's test images, bit-exact."""

import json
import os
import subprocess
import sys
from pathlib import Path

from intnet import golden
from intnet.bundle import load_bundle
from model.data import load_npz
from tests.model.own_data import CLASSES, write_own_npz

ROOT = Path(__file__).resolve().parents[2]


def test_a_users_data_set_builds_bit_exact(tmp_path):
    own = write_own_npz(tmp_path / "five.npz")
    env = dict(os.environ, PYTHONPATH=str(ROOT), QSNAS_CACHE=str(tmp_path / "runs"))
    done = subprocess.run(
        [sys.executable, "-m", "codegen", "build", "--quiet", "--q", "2", "--s", "0.5",
         "--dataset", str(own), "--epochs", "1", "--pe", "2", "--mult", "4", "--images", "4",
         "--no-synth"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "build" / "vgg-five-q2-s0.5"  # named after the file's stem
    r = json.loads((out / "report.json").read_text())
    assert r["dataset"] == str(own)
    assert r["hw_matches_golden"] == {"images": 4, "mismatches": 0}
    net = load_bundle(out / "bundle")
    assert net.num_classes == CLASSES and len(r["cycles"]["layers"]) >= 4
    data = load_npz(own)
    assert r["accuracy"]["quant_sw"] == golden.accuracy(net, data.test_x, data.test_y)
    assert r["accuracy"]["quant_sw_images"] == len(data.test_x) == 100
    # the RTL ran on the file's first test images, scored with the file's labels
    assert r["accuracy"]["hw_sim_images"] == 4
    assert r["accuracy"]["hw_sim"] == golden.accuracy(net, data.test_x[:4], data.test_y[:4])


def test_a_bundle_build_refuses_a_given_file_that_is_not_there(tmp_path, capsys):
    # the manifest's own data set may be absent here (random images then); one the user
    # names is checked
    from codegen.__main__ import main
    from common.cli import run_cli
    from intnet.bundle import save_bundle
    from intnet.synthetic import family_network

    save_bundle(family_network("vgg", 2, 0.25, (8, 8, 1), seed=1), tmp_path / "b")
    argv = ["build", "--bundle", str(tmp_path / "b"), "--dataset", str(tmp_path / "no.npz"),
            "--out", str(tmp_path / "out")]
    assert run_cli(main, argv, prog="codegen") == 2
    assert f"data set file '{tmp_path / 'no.npz'}' does not exist" in capsys.readouterr().err
