"""Verilator + cocotb end-to-end: bit-exact logits, cycles equal to the model, .mem files.

The CI subset builds two designs (one vgg, one mobilenet, at reduced width) and reuses
the first build for the .mem and CLI tests; the full acceptance matrix is in
test_rtl_matrix.py behind --runslow.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from intnet.bundle import save_bundle
from intnet.synthetic import family_network
from search.design import evaluate
from sim.cycles import network_cycle_model
from sim.rtl import build, run_rtl, simulate

IMAGES = np.random.default_rng(7).integers(0, 256, size=(3, 28, 28, 1)).astype(np.uint8)


@pytest.fixture(scope="module")
def vgg_q1():
    return family_network("vgg", 1, 0.5, seed=11)


def test_vgg_q1_bit_exact(vgg_q1):
    r = run_rtl(vgg_q1, 3, 5, IMAGES)
    assert r["mismatches"] == 0
    assert r["classes"] == r["golden_classes"]
    assert r["cycles"] == [network_cycle_model(vgg_q1, 3, 5)["cycles"]] * len(IMAGES)


def test_mobilenet_q4_bit_exact():
    net = family_network("mobilenet", 4, 0.5, seed=12)
    r = run_rtl(net, 8, 8, IMAGES[:2])
    assert r["mismatches"] == 0
    assert r["cycles"] == [network_cycle_model(net, 8, 8)["cycles"]] * 2


def test_changing_only_a_mem_file_changes_the_result(vgg_q1):
    build_dir, _ = build(vgg_q1, 3, 5)
    binary = build_dir / "qsnas_top"
    before = binary.stat().st_mtime_ns
    base = simulate(vgg_q1, 3, 5, IMAGES[:1])

    def negate_pe0_weights(mem_dir: Path):
        path = mem_dir / "weights_pe0.mem"
        width = len(path.read_text().split()[0])
        flipped = [f"{int(w, 16) ^ ((1 << (4 * width)) - 1):0{width}x}"
                   for w in path.read_text().split()]
        path.write_text("\n".join(flipped) + "\n")

    edited = simulate(vgg_q1, 3, 5, IMAGES[:1], edit_mem=negate_pe0_weights)
    assert edited["logits"] != base["logits"]
    assert binary.stat().st_mtime_ns == before  # same compiled model, only the file changed


def test_rtl_cli(tmp_path, vgg_q1):
    bundle = save_bundle(vgg_q1, tmp_path / "bundle")
    out = tmp_path / "rtl.json"
    repo = Path(__file__).parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), os.environ.get("PYTHONPATH",
                                                                                  "")]))
    # without --json: a line per image and the mismatch count, and no file is written
    p = subprocess.run([sys.executable, "-m", "sim", "rtl", "--bundle", str(bundle), "--pe", "3",
                        "--mult", "5", "--images", "2"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    # progress inside the long steps: the Verilator model, then the run
    assert "Verilator model: " in p.stderr and "RTL simulation: 2 images in " in p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["image", "class", "golden", "class", "cycles", "mismatching",
                                "logits"]
    # the hardware codegen would build (here with weight reuse: the energy model's choice)
    reuse = evaluate(vgg_q1.specs(), vgg_q1.q, 3, 5)["weight_reuse"]
    cycles = f"{network_cycle_model(vgg_q1, 3, 5, weight_reuse=reuse)['cycles']:,}"
    for i in (0, 1):
        image, got, want, cyc, bad = lines[2 + i].split()
        assert (image, cyc, bad) == (str(i), cycles, "0") and got == want
    assert lines[4].startswith("2 images, 0 mismatching logits of 20 ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    p = subprocess.run([sys.executable, "-m", "sim", "rtl", "--bundle", str(bundle), "--pe", "3",
                        "--mult", "5", "--images", "2", "--json", str(out)],
                       capture_output=True, text=True, env=env, cwd=repo)
    assert p.returncode == 0, p.stderr
    result = json.loads(out.read_text())
    assert set(result) == {"images", "logits", "classes", "cycles", "mismatches"}
    assert result["images"] == 2 and result["mismatches"] == 0
    assert p.stdout.splitlines()[-1] == f"logits, classes, cycles and mismatches as JSON → {out}"
    p = subprocess.run([sys.executable, "-m", "sim", "rtl", "--bundle", str(bundle), "--pe", "0",
                        "--mult", "5", "--json", str(out)], capture_output=True, text=True,
                       cwd=repo)
    assert p.returncode == 2
    assert p.stderr.strip() == "sim: error: --pe must be a positive integer, not 0"
    p = subprocess.run([sys.executable, "-m", "sim", "rtl", "--bundle", str(bundle), "--pe", "3",
                        "--mult", "5", "--lane-bits", "9"], capture_output=True, text=True,
                       cwd=repo)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert p.stderr.startswith("sim: error: --lane-bits: lane_bits must be an integer bit width")


def test_rtl_image_table_counts_the_logits_that_differ_per_image():
    from sim.rtl import image_table

    golden = np.array([[5, 1, 0], [0, 2, 9]])
    result = {"images": 2, "logits": [[5, 1, 0], [0, 3, 7]], "classes": [0, 2],
              "golden_classes": [0, 2], "cycles": [1234, 1234], "mismatches": 2}
    lines = image_table(result, golden).splitlines()
    assert lines[2].split() == ["0", "0", "0", "1,234", "0"]
    assert lines[3].split() == ["1", "2", "2", "1,234", "2"]
    assert lines[4] == "2 images, 2 mismatching logits of 6 (golden model: intnet.golden)"


def test_a_truncated_cache_entry_is_rebuilt_and_still_bit_exact(vgg_q1, capfd):
    """Acceptance: truncate the largest files of the entry `sim rtl` uses, run again: the
    entry is rebuilt and every logit still equals the golden model's."""
    from sim.rtl import STAMP, entry_damage

    build_dir, _ = build(vgg_q1, 3, 5)
    files = [p for p in build_dir.iterdir() if p.is_file() and p.name != STAMP]
    for path in sorted(files, key=lambda p: p.stat().st_size)[-3:]:
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 2)
    r = run_rtl(vgg_q1, 3, 5, IMAGES[:2])
    assert "rebuilding the Verilator model" in capfd.readouterr().err
    assert r["mismatches"] == 0 and r["classes"] == r["golden_classes"]
    digest = json.loads((build_dir / STAMP).read_text())["digest"]
    assert entry_damage(build_dir, "qsnas_top", digest) is None


def test_image_progress_shows_each_finished_image(tmp_path, capsys):
    """The runner's per-image lines come from the bench's progress file, whole lines only."""
    import time

    from sim.rtl import _ImageProgress

    path = tmp_path / "progress.txt"
    with _ImageProgress(path, 3, "RTL", True, interval=0.05):
        path.write_text("1 5546\n2 55")  # the second line is still being written
        time.sleep(0.3)
        path.write_text("1 5546\n2 5546\n")
        time.sleep(0.3)
    err = capsys.readouterr().err.splitlines()
    assert err == ["      RTL simulation: image 1/3 (5546 cycles)",
                   "      RTL simulation: image 2/3 (5546 cycles)"]
    with _ImageProgress(path, 3, "RTL", False, interval=0.05):  # --quiet: nothing
        time.sleep(0.2)
    assert capsys.readouterr().err == ""


def test_paired_output_channels_bit_exact():
    """vgg s = 0.5 at 2-bit middle layers on 8-bit lanes, P = M = 4: conv2's 8 input
    channels fill 2 of the 4 lanes, so it pairs output channels (more in
    test_rtl_matrix.py behind --runslow)."""
    from tests.sim.test_rtl_matrix import check_paired

    check_paired("vgg", 0.5, (2, 2, 2, 8), 4, 4, ["conv2"], IMAGES[:2])


def test_split_depthwise_bit_exact():
    """mobilenet s = 0.25 at 2-bit middle layers on 8-bit lanes, P = M = 4: dw2 … dw4 read
    4 values a lane (4 sub-lane sums a lane, 4 requantizers per PE; more in
    test_rtl_matrix.py behind --runslow)."""
    from tests.sim.test_rtl_matrix import check_dw_split

    check_dw_split("mobilenet", 0.25, (8, 2, 2, 2, 2, 2, 2, 2, 2, 8), 4, 4,
                   {"dw2": 4, "dw3": 4, "dw4": 4}, IMAGES[:2])


def test_weight_reuse_bit_exact():
    """vgg s = 0.5, q = 2 at P = M = 4 built with weight reuse: conv2 and conv3 read each
    weight word once per pixel pair (more in test_rtl_matrix.py behind --runslow)."""
    from tests.sim.test_rtl_matrix import check_reuse

    check_reuse("vgg", 0.5, 2, 4, 4, IMAGES[:2])
